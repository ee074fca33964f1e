"""Batch solving: many problems through one pipeline and one backend, resumable.

Problems stream through a bounded window: the input iterable is read lazily
and at most ``concurrency`` problems are in flight at once, so their LLM
requests share the engine's batch while memory stays flat however long the
input is (a 100k-problem generator costs what a 1k list does; see
``benchmarks/batch_memory.py``). Each result is appended to the output JSONL as soon
as its problem finishes — one write, flushed and fsynced — so Ctrl-C or
``kill -9`` loses at most the problems in flight. Rerunning with the same
output file skips every problem already finished, keyed by a content hash of
problem text, pipeline spec and model (the resume index holds 8 bytes per key,
not the records). Failed items are recorded with their
error and retried on the next run; one item failing never stops the batch.
With ``coalesce_s`` the generate calls that concurrent problems make within that
window go to the backend as one call (:class:`CoalescingBackend`), e.g. one call
per tree-search round for the whole batch.

Example::

    import asyncio
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.agents.spec import load_pipeline
    from lemmaflow.tools.answers import AnswerChecker
    from lemmaflow.tools.datasets import load_gsm8k

    runner = BatchRunner(load_pipeline("examples/pipelines/sc.yaml"), backend, AnswerChecker(),
                         out_path="runs/gsm8k.jsonl")
    summary = asyncio.run(runner.run(load_gsm8k(limit=32)))
    print(summary.accuracy)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

from pydantic import BaseModel

from ..tools.datasets import Problem, grade
from ..tools.keyset import KeySet
from .backends.base import LLMBackend
from .backends.coalesce import CoalescingBackend
from .budget import Budget
from .context import RunContext
from .graph import Pipeline
from .trace import append_jsonl

__all__ = [
    "BatchRunner", "BatchSummary", "KeySet", "ProblemResult", "finished_keys", "load_results", "load_results_iter",
    "model_label", "problem_key",
]

FINISHED = ("ok", "budget_exhausted")
_END = object()


def problem_key(problem: Problem, pipeline_spec: dict, model_id: str) -> str:
    """Content hash of what determines a result: the problem, the pipeline, the model."""
    blob = json.dumps(
        {"q": problem.question, "gold": problem.gold, "pipeline": pipeline_spec, "model": model_id},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def model_label(model_id: str, models: dict[str, Any] | None = None) -> str:
    """The model part of a result key: the generator's id, plus every named model's (they change results too).

    ``models`` maps a role to a backend (its ``model_id``) or to a plain model id string.
    """
    if not models:
        return model_id
    ids = {r: m if isinstance(m, str) else getattr(m, "model_id", "?") for r, m in models.items()}
    return model_id + "|" + ",".join(f"{r}={i}" for r, i in sorted(ids.items()))


class ProblemResult(BaseModel):
    key: str
    id: str
    source: str = ""
    question: str
    gold: str | None
    answer: str | None = None
    correct: bool | None = None
    confidence: float | None = None
    status: Literal["ok", "budget_exhausted", "error"]
    error: str | None = None
    failed_node: str | None = None
    model: str
    pipeline: str
    usage: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    finished_at: float = 0.0


class BatchSummary(BaseModel):
    total: int = 0
    skipped: int = 0  # already finished in an earlier run
    done: int = 0
    failed: int = 0
    graded: int = 0
    correct: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    bad_lines: list[tuple[int, str]] = []

    def record(self, res: "ProblemResult") -> None:
        """Count one finished problem (done, failed, graded, tokens)."""
        self.done += 1
        total = res.usage.get("total", {}) if isinstance(res.usage, dict) else {}
        self.prompt_tokens += int(total.get("prompt_tokens", 0) or 0)
        self.completion_tokens += int(total.get("completion_tokens", 0) or 0)
        if res.status == "error":
            self.failed += 1
        if res.correct is not None:
            self.graded += 1
            self.correct += int(res.correct)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.graded if self.graded else None

    @property
    def completion_tok_per_s(self) -> float:
        return self.completion_tokens / self.wall_s if self.wall_s else 0.0


def load_results_iter(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(key, row) for every result line in file order, read lazily; a torn line (kill -9) is skipped."""
    p = Path(path)
    if not p.exists():
        return
    with open(p, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "key" in row:
                yield row["key"], row


def load_results(path: str | Path) -> dict[str, dict]:
    """Results by key; the last line per key wins. A torn last line (kill -9) is ignored."""
    return dict(load_results_iter(path))


def finished_keys(path: str | Path) -> "KeySet":
    """The resume index: keys with a finished result (ok or out of budget); errors are retried.

    Read line by line into a :class:`KeySet` (8 bytes per key). Ends a line torn by a kill first, so
    the next append starts a fresh line. (A finished key is never run again, so no later row of it
    can be an error: "has a finished row" is "its latest row is finished".)
    """
    _repair_tail(Path(path))
    return KeySet(k for k, row in load_results_iter(path) if row.get("status") in FINISHED)


def _repair_tail(path: Path) -> None:
    """If a kill tore the last line, end it so the next append starts a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")


class BatchRunner:
    def __init__(
        self,
        pipeline: Pipeline,
        backend: LLMBackend,
        checker,
        *,
        out_path: str | Path,
        budget: Budget | None = None,
        concurrency: int = 256,
        trace_path: str | Path | None = None,
        executor=None,
        store=None,
        prover=None,
        models: dict[str, Any] | None = None,
        on_result: Callable[[ProblemResult, BatchSummary], None] | None = None,
        run_id: str | None = None,
        coalesce_s: float | None = None,
    ):
        self.pipeline = pipeline
        self.backend = backend
        # Concurrent problems' generate calls merged into one backend call (tree search rounds).
        self.gen_backend = CoalescingBackend(backend, coalesce_s) if coalesce_s is not None else backend
        self.checker = checker
        self.out_path = Path(out_path)
        self.budget = budget
        self.concurrency = concurrency
        self.trace_path = Path(trace_path) if trace_path else None
        self.executor = executor
        self.store = store
        self.prover = prover  # a started Prover shared by every problem (proving nodes), or None
        self.models = dict(models or {})  # role -> backend/reward model, shared by all problems
        self.on_result = on_result
        # One id per run, so a skill store can tell which solved problems of this run used it.
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.spec = pipeline.to_spec()
        self.summary = BatchSummary()

    def key(self, problem: Problem) -> str:
        return problem_key(problem, self.spec, model_label(self.backend.model_id, self.models))

    async def run(self, problems: Iterable[Problem]) -> BatchSummary:
        """Solve ``problems`` (any iterable, read lazily), at most ``concurrency`` at once.

        ``summary.total`` is ``len(problems)`` for a sized input, else the count read so far.
        """
        s = self.summary
        sized = hasattr(problems, "__len__")
        s.total = len(problems) if sized else 0  # type: ignore[arg-type]
        finished = finished_keys(self.out_path)
        seen = KeySet()  # keys started in this run: duplicate problems in the input run once
        source = iter(problems)
        in_flight: set[asyncio.Task] = set()
        done: asyncio.Queue[asyncio.Task] = asyncio.Queue()
        start = time.monotonic()

        def refill() -> None:
            # Read just enough input to fill the window; finished and duplicate problems cost no slot.
            nonlocal source
            while source is not None and len(in_flight) < self.concurrency:
                p = next(source, _END)
                if p is _END:
                    source = None
                    return
                if not sized:
                    s.total += 1
                k = self.key(p)
                if k in finished:
                    s.skipped += 1
                elif k not in seen:
                    seen.add(k)
                    t = asyncio.ensure_future(self._solve(k, p))
                    t.add_done_callback(done.put_nowait)
                    in_flight.add(t)

        try:
            refill()
            while in_flight:
                t = await done.get()
                in_flight.discard(t)
                res = t.result()
                append_jsonl(self.out_path, [res.model_dump(mode="json")])
                s.wall_s = time.monotonic() - start
                if self.on_result:
                    self.on_result(res, s)
                refill()
        finally:
            for t in in_flight:  # Ctrl-C: stop in-flight problems; finished ones are on disk
                t.cancel()
            s.wall_s = time.monotonic() - start
        return s

    async def _solve(self, key: str, problem: Problem) -> ProblemResult:
        res, trace = await self.solve_one(key, problem, with_trace=self.trace_path is not None)
        self.summary.record(res)
        if trace is not None:
            append_jsonl(self.trace_path, trace, fsync=False)
        return res

    async def solve_one(self, key: str, problem: Problem, *, with_trace: bool = False
                        ) -> tuple[ProblemResult, list[dict] | None]:
        """Solve one problem: its result (an error result if it failed) and, if asked, its trace events.

        Records solved/unsolved in the store; writes neither the results file nor the summary
        (the caller does: :meth:`run`, or a distributed driver such as ``RayBatchRunner``).
        """
        ctx = RunContext.for_problem(
            self.gen_backend, problem.id, self.budget, checker=self.checker, executor=self.executor, store=self.store,
            prover=self.prover, models=self.models, run_id=self.run_id,
        )
        base = dict(
            key=key, id=problem.id, source=problem.source, question=problem.question, gold=problem.gold,
            model=self.backend.model_id, pipeline=self.pipeline.name,
        )
        try:
            result = await self.pipeline.run({"question": problem.question}, ctx)
            answer = result.outputs.get("answer")
            correct = None
            if problem.gold is not None and result.status == "ok":
                correct = await asyncio.to_thread(grade, answer, problem.gold, self.checker)
            res = ProblemResult(
                **base, answer=answer, correct=correct, confidence=result.outputs.get("confidence"),
                status=result.status, error=result.error, failed_node=result.failed_node,
                usage=ctx.ledger.snapshot(), outputs=result.outputs, finished_at=time.time(),
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:  # never let one item kill the batch
            res = ProblemResult(**base, status="error", error=f"{type(e).__name__}: {e}",
                                usage=ctx.ledger.snapshot(), finished_at=time.time())
        if self.store is not None and res.correct is not None:
            try:  # reuse accounting: was this problem solved (whether or not it used the library)?
                await asyncio.to_thread(self.store.record_problem, self.run_id, problem.id, solved=res.correct)
            except Exception as e:  # a store hiccup never fails the problem
                ctx.trace.add("info", "batch", store_error=f"{type(e).__name__}: {e}")
        return res, (ctx.trace.to_dicts() if with_trace else None)
