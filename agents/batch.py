"""Batch solving: many problems through one pipeline and one backend, resumable.

All problems run concurrently (up to ``concurrency``), so their LLM requests
share the engine's batch. Each result is appended to the output JSONL as soon
as its problem finishes — one write, flushed and fsynced — so Ctrl-C or
``kill -9`` loses at most the problems in flight. Rerunning with the same
output file skips every problem already finished, keyed by a content hash of
problem text, pipeline spec and model. Failed items are recorded with their
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
from typing import Any, Callable, Iterable, Literal

from pydantic import BaseModel

from ..tools.datasets import Problem, grade
from .backends.base import LLMBackend
from .backends.coalesce import CoalescingBackend
from .budget import Budget
from .context import RunContext
from .graph import Pipeline
from .trace import append_jsonl

__all__ = ["BatchRunner", "BatchSummary", "ProblemResult", "load_results", "problem_key"]

FINISHED = ("ok", "budget_exhausted")


def problem_key(problem: Problem, pipeline_spec: dict, model_id: str) -> str:
    """Content hash of what determines a result: the problem, the pipeline, the model."""
    blob = json.dumps(
        {"q": problem.question, "gold": problem.gold, "pipeline": pipeline_spec, "model": model_id},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


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

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.graded if self.graded else None

    @property
    def completion_tok_per_s(self) -> float:
        return self.completion_tokens / self.wall_s if self.wall_s else 0.0


def load_results(path: str | Path) -> dict[str, dict]:
    """Results by key; the last line per key wins. A torn last line (kill -9) is ignored."""
    out: dict[str, dict] = {}
    p = Path(path)
    if not p.exists():
        return out
    with open(p, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "key" in row:
                out[row["key"]] = row
    return out


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
        model = self.backend.model_id
        if self.models:  # other models change results too
            model += "|" + ",".join(f"{r}={getattr(m, 'model_id', '?')}" for r, m in sorted(self.models.items()))
        return problem_key(problem, self.spec, model)

    async def run(self, problems: Iterable[Problem]) -> BatchSummary:
        problems = list(problems)
        s = self.summary
        s.total = len(problems)
        _repair_tail(self.out_path)
        finished = {k for k, r in load_results(self.out_path).items() if r.get("status") in FINISHED}
        todo, seen = [], set()
        for p in problems:
            k = self.key(p)
            if k in finished:
                s.skipped += 1
            elif k not in seen:  # duplicate problems in the input run once
                seen.add(k)
                todo.append((k, p))
        sem = asyncio.Semaphore(self.concurrency)
        start = time.monotonic()

        async def one(k: str, p: Problem) -> ProblemResult:
            async with sem:
                return await self._solve(k, p)

        tasks = [asyncio.ensure_future(one(k, p)) for k, p in todo]
        try:
            for fut in asyncio.as_completed(tasks):
                res = await fut
                append_jsonl(self.out_path, [res.model_dump(mode="json")])
                s.wall_s = time.monotonic() - start
                if self.on_result:
                    self.on_result(res, s)
        finally:
            for t in tasks:  # Ctrl-C: stop in-flight problems; finished ones are on disk
                t.cancel()
            s.wall_s = time.monotonic() - start
        return s

    async def _solve(self, key: str, problem: Problem) -> ProblemResult:
        s = self.summary
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
        s.done += 1
        s.prompt_tokens += ctx.ledger.total.prompt_tokens
        s.completion_tokens += ctx.ledger.total.completion_tokens
        if res.status == "error":
            s.failed += 1
        if res.correct is not None:
            s.graded += 1
            s.correct += int(res.correct)
        if self.store is not None and res.correct is not None:
            try:  # reuse accounting: was this problem solved (whether or not it used the library)?
                await asyncio.to_thread(self.store.record_problem, self.run_id, problem.id, solved=res.correct)
            except Exception as e:  # a store hiccup never fails the problem
                ctx.trace.add("info", "batch", store_error=f"{type(e).__name__}: {e}")
        if self.trace_path is not None:
            append_jsonl(self.trace_path, ctx.trace.to_dicts(), fsync=False)
        return res
