"""The tool-making job: solved problems of a run → tested tools in the skill library (CRAFT, arXiv 2309.17428).

Input is either a results file of ``lemmaflow solve`` (rows with ``key`` and ``status``; only rows
graded correct are used, with the answer the run found and, as the worked solution, the program or
chain that produced it) or a problems file with gold answers (GSM8K, MATH, ``{id, question,
answer}``; a GSM8K/MATH worked solution is passed along). Each problem goes through
:class:`~lemmaflow.agents.nodes.ToolMaker` concurrently; one problem's failure is a row with
``outcome="error"``, never the end of the batch.

Example (``lemmaflow library make-tools`` does the same from the command line)::

    import asyncio
    from lemmaflow.agents.backends import make_embedded_backend
    from lemmaflow.agents.make_tools import load_solved, make_tools
    from lemmaflow.agents.nodes import ToolMaker
    from lemmaflow.sandboxes import make_executor
    from lemmaflow.skills_library import open_store

    solved = load_solved("runs/pot.jsonl")
    with make_executor("forkserver") as ex, open_store("runs/lib.db") as store:
        rows = asyncio.run(make_tools(solved.problems, ToolMaker(), make_embedded_backend(), ex, store))
    print([(r.id, r.outcome, r.name) for r in rows])
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Literal, NamedTuple

from pydantic import BaseModel

from .budget import Budget
from .context import RunContext
from .nodes.tool_maker import ToolMaker

__all__ = ["MakeToolsRow", "SolvedLoad", "SolvedProblem", "load_solved", "make_tools", "summarize"]


class SolvedProblem(BaseModel):
    id: str
    question: str
    answer: str | None = None
    solution: str | None = None


class SolvedLoad(NamedTuple):
    problems: list[SolvedProblem]
    errors: list[tuple[int, str]]  # (line number, why)
    skipped: int  # rows that were not solved (results file) or had no gold answer (problems file)
    kind: Literal["results", "problems"]


class MakeToolsRow(BaseModel):
    id: str
    outcome: Literal["added", "duplicate", "near_duplicate", "malformed", "tests_failed", "error"]
    entry_id: int | None = None
    name: str | None = None
    signature: str | None = None
    attempts: int = 0
    error: str | None = None


def _solution_of(outputs: dict[str, Any], answer: str | None) -> str | None:
    """The text that produced a run's answer: its program or chain (a voted sample agreeing with it)."""
    for key in ("program", "chain"):
        if isinstance(outputs.get(key), str) and outputs[key].strip():
            return outputs[key]
    samples = outputs.get("samples")
    if isinstance(samples, list):
        for s in samples:
            if isinstance(s, dict) and s.get("answer") == answer:
                sol = _solution_of(s, answer)
                if sol:
                    return sol
    chains = outputs.get("chains")
    if isinstance(chains, list) and chains and isinstance(chains[0], str):
        return chains[0]
    return None


def load_solved(path: str | Path) -> SolvedLoad:
    """Solved problems from a ``lemmaflow solve`` results file or a problems file with gold answers."""
    from ..tools.datasets import load_problems_jsonl

    rows, errors = [], []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append((i, f"not JSON: {e.msg}"))
                continue
            rows.append((i, row))
    if not any(isinstance(r, dict) and "key" in r and "status" in r for _, r in rows):
        loaded = load_problems_jsonl(path)
        probs = [SolvedProblem(id=p.id, question=p.question, answer=p.gold,
                               solution=p.meta.get("solution") if isinstance(p.meta.get("solution"), str) else None)
                 for p in loaded.problems if p.gold is not None]
        return SolvedLoad(probs, loaded.errors, len(loaded.problems) - len(probs), "problems")
    latest: dict[str, tuple[int, dict]] = {}
    for i, row in rows:  # the last line per key wins, as in a resumed run
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or "id" not in row:
            errors.append((i, "not a results row (needs id, question)"))
            continue
        latest[str(row.get("key", row["id"]))] = (i, row)
    probs, skipped, seen = [], 0, set()
    for _, row in sorted(latest.values(), key=lambda x: x[0]):
        if row.get("correct") is not True or str(row["id"]) in seen:
            skipped += 1
            continue
        seen.add(str(row["id"]))
        answer = row.get("answer")
        outputs = row.get("outputs") if isinstance(row.get("outputs"), dict) else {}
        probs.append(SolvedProblem(id=str(row["id"]), question=row["question"], answer=answer,
                                   solution=_solution_of(outputs, answer)))
    return SolvedLoad(probs, errors, skipped, "results")


async def make_tools(
    problems: list[SolvedProblem], node: ToolMaker, backend, executor, store, *, run_id: str | None = None,
    concurrency: int = 16, budget: Budget | None = None, on_row: Callable[[MakeToolsRow], None] | None = None,
    trace=None,
) -> list[MakeToolsRow]:
    """Run ``node`` on every problem (``concurrency`` at a time); rows in input order."""
    run_id = run_id or "make-tools-" + uuid.uuid4().hex[:8]
    sem = asyncio.Semaphore(concurrency)

    async def one(p: SolvedProblem) -> MakeToolsRow:
        async with sem:
            ctx = RunContext.for_problem(backend, p.id, budget, executor=executor, store=store, run_id=run_id)
            try:
                out = await node(ctx, question=p.question, answer=p.answer, solution=p.solution)
                row = MakeToolsRow(id=p.id, outcome=out.outcome, entry_id=out.entry_id, name=out.name,
                                   signature=out.signature, attempts=len(out.attempts), error=out.error)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # one problem never ends the batch
                row = MakeToolsRow(id=p.id, outcome="error", error=f"{type(e).__name__}: {e}")
            if trace is not None:
                trace.extend(ctx.trace.to_dicts())
            if on_row is not None:
                on_row(row)
            return row

    return list(await asyncio.gather(*(one(p) for p in problems)))


def summarize(rows: list[MakeToolsRow]) -> dict[str, int]:
    """Problems per outcome (``added``, ``duplicate``, ``near_duplicate``, ``malformed``, ``tests_failed``, ``error``)."""
    return dict(Counter(r.outcome for r in rows))
