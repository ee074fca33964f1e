"""The run context: everything a node may use, passed explicitly (no global settings).

A :class:`RunContext` belongs to one problem's run. It carries the LLM backend,
the budget ledger, the trace, and optional services (answer checker, code
executor, skill store). Nodes call :meth:`RunContext.generate` rather than the
backend, so every call is budgeted and traced in one place.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM, SamplingParams

    ctx = RunContext(backend=ScriptedLM(["The answer is 4."]), problem_id="p1")
    gens = asyncio.run(ctx.generate(["2+2?"], SamplingParams(n=2)))
    assert ctx.ledger.total.samples == 2
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from .backends.base import BackendError, Generation, LLMBackend, Prompt, SamplingParams, prompt_key
from .budget import Budget, BudgetLedger
from .trace import Trace

__all__ = ["RunContext"]


@dataclass
class RunContext:
    backend: LLMBackend
    problem_id: str = "problem"
    ledger: BudgetLedger = field(default_factory=BudgetLedger)
    trace: Trace | None = None
    node_path: str = ""
    checker: Any | None = None  # lemmaflow.tools.answers.AnswerChecker
    executor: Any | None = None  # lemmaflow.sandboxes executor, for code-running nodes
    store: Any | None = None  # persistent skill library, for library-growing nodes

    def __post_init__(self) -> None:
        if self.trace is None:
            self.trace = Trace(problem_id=self.problem_id)

    @classmethod
    def for_problem(cls, backend: LLMBackend, problem_id: str, budget: Budget | None = None, **services) -> "RunContext":
        return cls(backend=backend, problem_id=problem_id, ledger=BudgetLedger(budget), **services)

    def child(self, name: str) -> "RunContext":
        """The same run, attributed to a sub-node (``parent/child`` in ledger and trace)."""
        return replace(self, node_path=f"{self.node_path}/{name}" if self.node_path else name)

    def require_checker(self):
        if self.checker is None:
            raise RuntimeError(
                f"node {self.node_path or '?'} needs an answer checker: "
                "pass checker=AnswerChecker() to the RunContext"
            )
        return self.checker

    def require_executor(self):
        if self.executor is None:
            raise RuntimeError(
                f"node {self.node_path or '?'} runs code and needs an executor: "
                "pass executor=make_executor(...) to the RunContext"
            )
        return self.executor

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        """Budget-check, call the backend, record usage and trace the call."""
        node = self.node_path or "root"
        samples = len(prompts) * params.n
        self.ledger.check(node, samples=samples, max_completion_tokens=samples * params.max_tokens)
        start = time.monotonic()
        try:
            gens = await self.backend.generate(list(prompts), params)
        except BackendError as e:
            self.trace.add("llm_error", node, error=str(e), n_prompts=len(prompts))
            raise
        if len(gens) != len(prompts):
            raise BackendError(f"backend returned {len(gens)} generations for {len(prompts)} prompts")
        prompt_tokens = sum(g.prompt_tokens for g in gens)
        completion_tokens = sum(g.completion_tokens for g in gens)
        self.ledger.record(node, prompt_tokens, completion_tokens, samples)
        data: dict[str, Any] = dict(
            params=params.model_dump(),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=round(time.monotonic() - start, 4),
        )
        if self.trace.record_text:
            data["prompts"] = [prompt_key(p) for p in prompts]
            data["outputs"] = [[c.text for c in g.completions] for g in gens]
        self.trace.add("llm_call", node, **data)
        return gens
