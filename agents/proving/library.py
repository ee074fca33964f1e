"""The lemma library side of LEGO-Prover: retrieve verified lemmas, add verified helpers and requests.

LEGO-Prover (Wang et al., arXiv 2310.00656) grows a library of verified lemmas
while it proves: retrieved lemmas are shown to the prover, helpers it proves
are added, helper statements it could not prove become *requests* the evolver
works on later. Entries live in a :class:`~lemmaflow.skills_library.SkillStore`
(``kind="lemma"``, ``language="coq"``); the header of the problem a lemma was
proved under (imports, scopes) is kept in ``metadata["header"]`` so the lemma
can be replayed as proved context elsewhere (:func:`lemma_context`).

Example::

    from lemmaflow.skills_library import open_store
    from lemmaflow.skills_library.embedding import HashingEmbedder
    from lemmaflow.agents.proving.library import add_verified, retrieve_lemmas

    store = open_store("runs/lib.db", embedder=HashingEmbedder())
    add_verified(store, name="add0", statement="Lemma add0 (n : nat) : n + 0 = n.",
                 source="Lemma add0 (n : nat) : n + 0 = n.\\nProof. lia. Qed.", header="Require Import Arith.",
                 evidence="proved", problem_id="p1")
    print([e.name for e in retrieve_lemmas(store, "Theorem t (n : nat) : n + 0 + 0 = n.", "Require Import Arith.")])
"""

from __future__ import annotations

from typing import Sequence

from ...skills_library.models import Entry, Provenance
from ...skills_library.normalize import normalize_source
from ...skills_library.store import SkillStore, StoreError
from ...tools.provers.coq_text import CoqSyntaxError, parse_statement
from .coq_blocks import context_text, import_sentences

__all__ = ["add_request", "add_verified", "lemma_context", "portable", "retrieve_lemmas", "same_lemma",
           "with_dependencies"]


def _shape(statement: str) -> str:
    """A statement without its keyword and name: ``binders : type``, normalized."""
    try:
        st = parse_statement(statement)
        text = f"{st.binders} : {st.type}"
    except (ValueError, CoqSyntaxError):
        text = statement
    return normalize_source("coq", text)


def same_lemma(new: Entry, old: Entry) -> bool:
    """Near-duplicate confirmation: same statement up to the lemma's name and layout, same header."""
    return (new.kind, new.language) == (old.kind, old.language) and _shape(new.statement) == _shape(old.statement) \
        and new.metadata.get("header", "") == old.metadata.get("header", "")


def portable(entry: Entry, header: str) -> bool:
    """Can ``entry`` be used as context under ``header``? (same header, or its own header only imports)."""
    own = entry.metadata.get("header", "")
    return own == header or import_sentences(own) is not None


def lemma_context(entry: Entry) -> str:
    """The entry as proved context for a check (see :func:`~.coq_blocks.context_text`)."""
    return context_text(entry.source, entry.metadata.get("header", ""), f"e{entry.id}")


def with_dependencies(store: SkillStore, entries: Sequence[Entry]) -> list[Entry]:
    """``entries`` and the library lemmas they were proved with (``metadata["deps"]``), dependencies first."""
    out: list[Entry] = []
    seen: set[int] = set()

    def visit(e: Entry, depth: int) -> None:
        if e.id in seen or depth > 50:
            return
        seen.add(e.id)
        for dep_id in e.metadata.get("deps", []):
            dep = store.get(int(dep_id))
            if dep is not None and dep.status == "verified":
                visit(dep, depth + 1)
        out.append(e)

    for e in entries:
        visit(e, 0)
    return out


def retrieve_lemmas(store: SkillStore, query: str, header: str, k: int = 4, *, run_id: str | None = None,
                    problem_id: str | None = None, exclude_names: Sequence[str] = ()) -> list[Entry]:
    """Up to ``k`` verified Coq lemmas for ``query``, usable under ``header``, distinct names.

    The search records ``retrieved`` events when ``run_id``/``problem_id`` are given.
    """
    if k <= 0:
        return []
    hits = store.search(query, k=max(3 * k, k), kind="lemma", language="coq", status="verified",
                        run_id=run_id, problem_id=problem_id)
    out: list[Entry] = []
    names = set(exclude_names)
    for h in hits:
        e = h.entry
        if e.name in names or not portable(e, header):
            continue
        names.add(e.name)
        out.append(e)
        if len(out) == k:
            break
    return out


def _add(store: SkillStore, entry: Entry) -> int | None:
    res = store.add(entry, confirm=same_lemma)
    if res.outcome == "needs_confirmation":  # cannot happen with confirm=...; be safe
        res = store.add(entry, force=True)
    return res.id


def add_verified(store: SkillStore, *, name: str, statement: str, source: str, header: str, evidence: str,
                 problem_id: str | None = None, run_id: str | None = None, model: str | None = None,
                 metadata: dict | None = None) -> int | None:
    """Add a lemma Coq verified (status ``verified``); a pending request for the same statement is closed.

    Returns the entry id (an existing one when the lemma is already there).
    """
    meta = {"header": header, **(metadata or {})}
    entry = Entry(kind="lemma", name=name, language="coq", source=source.strip(), statement=statement.strip(),
                  status="verified", evidence=evidence[:4000], metadata=meta,
                  provenance=Provenance(problem_id=problem_id, run_id=run_id, model=model))
    for req in store.find_by_name(name, kind="lemma"):
        if req.status == "requested" and same_lemma(entry, req):
            try:  # the request is answered: it becomes the verified lemma
                store.update(req.id, status="verified", source=entry.source, evidence=entry.evidence,
                             metadata={**req.metadata, **meta, "was_request": True})
                return req.id
            except StoreError:  # the proved text is in the library already
                break
    return _add(store, entry)


def add_request(store: SkillStore, *, name: str, statement: str, header: str, reason: str,
                problem_id: str | None = None, run_id: str | None = None, model: str | None = None) -> int | None:
    """A helper statement the prover needed but Coq did not verify: a ``requested`` entry for the evolver."""
    entry = Entry(kind="lemma", name=name, language="coq", source=statement.strip(), statement=statement.strip(),
                  status="requested", evidence=reason[:4000], metadata={"header": header},
                  provenance=Provenance(problem_id=problem_id, run_id=run_id, model=model))
    return store.add(entry, force=True).id
