"""The run context: everything a node may use, passed explicitly (no global settings).

A :class:`RunContext` belongs to one problem's run. It carries the LLM backend,
the budget ledger, the trace, and optional services (answer checker, code
executor, formal prover, skill store). Nodes call :meth:`RunContext.generate` rather than the
backend, so every call is budgeted and traced in one place.

A run may use more than one model: ``models`` maps a role (``"verifier"``,
``"prm"``, ...) to an LLM backend or a reward model. ``ctx.model(role)`` is a
handle whose calls are budgeted and traced under that role; a role nobody
configured falls back to the generator (``backend``), so a pipeline written for
a separate verifier still runs with one model.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM, SamplingParams

    ctx = RunContext(backend=ScriptedLM(["The answer is 4."]), problem_id="p1",
                     models={"verifier": ScriptedLM(["Correct."], model_id="judge")})
    gens = asyncio.run(ctx.generate(["2+2?"], SamplingParams(n=2)))
    verdict = asyncio.run(ctx.model("verifier").generate(["Is 4 right?"], SamplingParams()))
    assert ctx.ledger.total.samples == 3 and ctx.ledger.per_model["verifier"].samples == 1
    assert ctx.model("critic").model_id == "scripted"   # not configured: the generator
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .backends.base import BackendError, Generation, LLMBackend, Prompt, SamplingParams, prompt_key
from .budget import Budget, BudgetLedger
from .trace import Trace

if TYPE_CHECKING:  # the store pulls numpy; nodes that use it import it themselves
    from ..skills_library.store import SkillStore

__all__ = ["GENERATOR", "ModelHandle", "RunContext"]

GENERATOR = "generator"  # the role of ``RunContext.backend``


@dataclass(frozen=True)
class ModelHandle:
    """A named model bound to a run: calls go through the context's budget and trace."""

    ctx: "RunContext"
    role: str
    backend: Any  # an LLMBackend, or a reward model (lemmaflow.agents.scorers)

    @property
    def model_id(self) -> str:
        return getattr(self.backend, "model_id", type(self.backend).__name__)

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        return await self.ctx.generate(prompts, params, model=self.role)


@dataclass
class RunContext:
    backend: LLMBackend
    problem_id: str = "problem"
    ledger: BudgetLedger = field(default_factory=BudgetLedger)
    trace: Trace | None = None
    node_path: str = ""
    checker: Any | None = None  # lemmaflow.tools.answers.AnswerChecker
    executor: Any | None = None  # lemmaflow.sandboxes executor, for code-running nodes
    prover: Any | None = None  # lemmaflow.tools.provers Prover (Coq), for proving nodes
    store: "SkillStore | None" = None  # persistent skill library (lemmaflow.skills_library.open_store)
    models: Mapping[str, Any] = field(default_factory=dict)  # role -> LLMBackend or reward model
    run_id: str | None = None  # the batch run this problem belongs to (skill-library reuse events)

    def __post_init__(self) -> None:
        if self.trace is None:
            self.trace = Trace(problem_id=self.problem_id)
        if self.prover is not None and getattr(self.prover, "confined", True) is False:
            # The user opted out of prover confinement (confine=False / --unconfined-prover): say so
            # in every trace that prover served, once.
            if not any(e.data.get("event") == "prover_unconfined" for e in self.trace.of_kind("info")):
                self.trace.add("info", None, event="prover_unconfined",
                               warning="the prover ran unconfined: proof texts ran with the user's full rights")

    @classmethod
    def for_problem(cls, backend: LLMBackend, problem_id: str, budget: Budget | None = None, **services) -> "RunContext":
        return cls(backend=backend, problem_id=problem_id, ledger=BudgetLedger(budget), **services)

    def child(self, name: str) -> "RunContext":
        """The same run, attributed to a sub-node (``parent/child`` in ledger and trace)."""
        return replace(self, node_path=f"{self.node_path}/{name}" if self.node_path else name)

    def model(self, role: str = GENERATOR) -> ModelHandle:
        """The model playing ``role``; the generator when no model was configured for it."""
        if role == GENERATOR or role not in self.models:
            return ModelHandle(self, role, self.backend)
        return ModelHandle(self, role, self.models[role])

    def record_usage(
        self, *, model: str, prompt_tokens: int = 0, completion_tokens: int = 0, samples: int = 0,
        calls: int = 1, **trace_data: Any,
    ) -> None:
        """Record a non-generation model call (a reward model scoring steps) in ledger and trace."""
        node = self.node_path or "root"
        self.ledger.record(node, prompt_tokens, completion_tokens, samples, calls, model=model)
        self.trace.add("model_call", node, model=model, prompt_tokens=prompt_tokens,
                       completion_tokens=completion_tokens, **trace_data)

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

    def require_prover(self):
        if self.prover is None:
            raise RuntimeError(
                f"node {self.node_path or '?'} checks formal proofs and needs a prover: "
                "pass prover=lemmaflow.tools.provers.coq.CoqProver() to the RunContext"
            )
        return self.prover

    def require_store(self) -> "SkillStore":
        if self.store is None:
            raise RuntimeError(
                f"node {self.node_path or '?'} uses the skill library and needs a store: "
                "pass store=lemmaflow.skills_library.open_store('lib.db') to the RunContext"
            )
        return self.store

    async def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams, model: str = GENERATOR
    ) -> list[Generation]:
        """Budget-check, call the backend playing ``model``, record usage and trace the call."""
        node = self.node_path or "root"
        backend = self.model(model).backend
        if not callable(getattr(backend, "generate", None)):
            raise BackendError(
                f"model {model!r} ({type(backend).__name__}) cannot generate text: it is not an LLM backend"
            )
        samples = len(prompts) * params.n
        self.ledger.check(node, samples=samples, max_completion_tokens=samples * params.max_tokens)
        start = time.monotonic()
        try:
            gens = await backend.generate(list(prompts), params)
        except BackendError as e:
            self.trace.add("llm_error", node, error=str(e), n_prompts=len(prompts), model=model)
            raise
        if len(gens) != len(prompts):
            raise BackendError(f"backend returned {len(gens)} generations for {len(prompts)} prompts")
        prompt_tokens = sum(g.prompt_tokens for g in gens)
        completion_tokens = sum(g.completion_tokens for g in gens)
        self.ledger.record(node, prompt_tokens, completion_tokens, samples, model=model)
        data: dict[str, Any] = dict(
            model=model,
            model_id=getattr(backend, "model_id", "?"),
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
