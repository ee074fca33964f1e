"""Entry types of the skill library: lemmas and tools, what happened on ``add``, search hits, stats.

An :class:`Entry` is one reusable piece of knowledge: a proved (or requested)
lemma in Coq/Lean 4, or a Python tool function with its tests. Its
``content_hash`` is computed by the store from the normalized source (see
:mod:`lemmaflow.skills_library.normalize`), so two entries that differ only in
whitespace or comments are the same entry.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AddOutcome", "AddResult", "Entry", "EntryKind", "EntryStatus", "Event", "EventKind", "Language",
    "LibraryStats", "NearMatch", "Provenance", "SearchHit",
]

EntryKind = Literal["lemma", "tool"]
Language = Literal["coq", "lean4", "python"]
# requested: a lemma statement a prover needed but could not prove (a goal for later runs).
# demoted: was verified, then failed at use time too often.
EntryStatus = Literal["pending", "verified", "failed", "demoted", "requested"]
# retrieved: returned by a search; shown: put into a model prompt; used: part of a solution/proof
# that succeeded; failed_use: crashed/failed at use time; problem_solved / problem_failed: one
# problem's outcome (entry_id None), so stats can say which solved problems used the library.
EventKind = Literal["retrieved", "shown", "used", "failed_use", "problem_solved", "problem_failed"]
AddOutcome = Literal["added", "duplicate", "near_duplicate", "needs_confirmation"]


class Provenance(BaseModel):
    """Where an entry came from."""

    model_config = ConfigDict(extra="forbid")

    problem_id: str | None = None
    run_id: str | None = None
    model: str | None = None
    created_at: float = Field(default_factory=time.time)


class Entry(BaseModel):
    """A lemma or a tool. ``id``, ``content_hash`` and timestamps are set by the store."""

    model_config = ConfigDict(extra="forbid")

    kind: EntryKind
    name: str
    language: Language
    source: str = ""  # the full text: a Coq/Lean lemma with its proof, or a Python function
    statement: str = ""  # the lemma statement, or the tool's signature
    docstring: str = ""
    tests: list[str] = Field(default_factory=list)  # tool tests (python code, each runs on its own)
    status: EntryStatus = "pending"
    evidence: str = ""  # e.g. the checker's output, or the sandbox test log
    failure_count: int = 0
    provenance: Provenance = Field(default_factory=Provenance)
    metadata: dict = Field(default_factory=dict)
    id: int | None = None
    content_hash: str = ""
    updated_at: float | None = None

    def embedding_text(self) -> str:
        """What the embedder sees: name, statement/signature and docstring (the proof is noise)."""
        parts = [self.name, self.statement, self.docstring]
        if not self.statement:
            parts.append(self.source[:1000])
        return "\n".join(p for p in parts if p)


class NearMatch(BaseModel):
    """An existing entry whose embedding is close to a new one's."""

    id: int
    name: str
    similarity: float


class AddResult(BaseModel):
    """What ``store.add`` did.

    - ``added``: a new entry with id ``id``.
    - ``duplicate``: the same normalized content exists already as ``id``; nothing written.
    - ``near_duplicate``: the caller's ``confirm`` check said the new entry equals existing ``id``.
    - ``needs_confirmation``: near matches (``candidates``) exist and no ``confirm`` was given;
      nothing written. Call ``add`` again with ``confirm=...`` or ``force=True``.
    """

    outcome: AddOutcome
    id: int | None = None
    content_hash: str
    candidates: list[NearMatch] = Field(default_factory=list)

    @property
    def written(self) -> bool:
        return self.outcome == "added"


class SearchHit(BaseModel):
    """One search result: fused score and the ranks that produced it (1-based; None = not in that list)."""

    entry: Entry
    score: float
    keyword_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = None


class Event(BaseModel):
    id: int | None = None
    event: EventKind
    entry_id: int | None = None
    run_id: str | None = None
    problem_id: str | None = None
    created_at: float = Field(default_factory=time.time)
    data: dict = Field(default_factory=dict)


class LibraryStats(BaseModel):
    """``lemmaflow library stats``: size, growth, reuse, and how often solved problems used the library."""

    total: int
    by_kind: dict[str, int]
    by_status: dict[str, int]
    by_language: dict[str, int]
    growth: list[tuple[str, int]]  # (day, entries added that day)
    events: dict[str, int]  # event kind -> count
    top_used: list[tuple[int, str, int]]  # (entry id, name, times used in a success)
    problems_recorded: int
    problems_solved: int
    solved_using_library: int  # solved problems with at least one "used" event

    @property
    def solved_share_using_library(self) -> float | None:
        return self.solved_using_library / self.problems_solved if self.problems_solved else None
