"""Run traces: node events, LLM calls (prompts and outputs), votes — saved as JSONL.

Example::

    from lemmaflow.agents.trace import Trace

    trace = Trace(problem_id="gsm8k-0")
    trace.add("vote", node="sc", winner="18", confidence=0.75)
    trace.save_jsonl("/tmp/trace.jsonl")   # one JSON object per event, appended
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel

__all__ = ["EventKind", "Trace", "TraceEvent", "append_jsonl"]

EventKind = Literal[
    "node_start", "node_end", "node_error", "llm_call", "llm_error", "model_call", "vote", "budget_stop",
    "tool_call", "info",
    # Search trees (lemmaflow.agents.search) and verifiers: one ``search_node`` per
    # tree node (id, parent, text, score, visits, tokens), one ``search_result``
    # naming the top-scored path, one ``score`` per scored candidate. ``search_answer``: what
    # the node that ran the search reported (its aggregate may vote over leaves, so the reported
    # solution need not be the top-scored leaf): ``chosen`` path, ``answer``, ``aggregate``, ``leaves``.
    "search_node", "search_result", "search_answer", "score",
    # Plans and decompositions (ReWOO, Decompose): one ``plan`` event with ``graph`` and
    # ``steps`` ({id, text, detail, deps, answer}); a later event for the same node replaces it.
    "plan",
]


class TraceEvent(BaseModel):
    problem_id: str | None
    t: float  # seconds since the trace started
    kind: EventKind
    node: str | None = None
    data: dict[str, Any] = {}


def append_jsonl(path: str | Path, rows: Iterable[dict], fsync: bool = True) -> None:
    """Append rows durably: one write, flushed and fsynced, so a kill loses at most this write."""
    payload = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    if not payload:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(payload)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


class Trace:
    """Events of one problem's run, in order."""

    def __init__(self, problem_id: str | None = None, record_text: bool = True, clock=time.monotonic):
        self.problem_id = problem_id
        self.record_text = record_text  # prompts/outputs can be large; allow turning them off
        self.events: list[TraceEvent] = []
        self._clock = clock
        self._t0 = clock()

    def add(self, kind: EventKind, node: str | None = None, **data: Any) -> TraceEvent:
        ev = TraceEvent(problem_id=self.problem_id, t=round(self._clock() - self._t0, 6), kind=kind, node=node, data=data)
        self.events.append(ev)
        return ev

    def of_kind(self, kind: EventKind) -> list[TraceEvent]:
        return [e for e in self.events if e.kind == kind]

    def to_dicts(self) -> list[dict]:
        return [e.model_dump() for e in self.events]

    def save_jsonl(self, path: str | Path) -> None:
        append_jsonl(path, self.to_dicts())
