"""Vote: run an answer-producing node k times and take the majority over equivalent answers.

Self-consistency over any chain type: ``Vote(inner=ToRA(temperature=0.7), k=8)``
is SC over tool-integrated chains, ``Vote(inner=ProgramOfThought(...))`` is
PoT-SC. All k samples run concurrently, so their LLM calls batch together. If
the budget stops some samples, the vote uses those that finished and says so.

With a ``scorer`` spec the vote is weighted by each sample's chain score
(its ``chain`` output split into steps; :mod:`lemmaflow.agents.nodes.weighting`).

In a spec, ``inner`` is ``{type: ..., config: {...}}`` of a built-in node type.

Example (scripted model)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ChainOfThought, Vote
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.tools.answers import AnswerChecker

    lm = ScriptedLM(["\\\\boxed{2}", "\\\\boxed{3}", "\\\\boxed{2.0}"])
    with AnswerChecker() as checker:
        out = asyncio.run(Vote(inner=ChainOfThought(temperature=0.7), k=3)(
            RunContext(backend=lm, checker=checker), question="?"))
    assert out.answer == "2" and out.samples_used == 3
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from ...tools.answers import majority_vote
from ..budget import BudgetExceeded
from ..node import Node, NodeConfig
from .self_consistency import VotedAnswer, record_vote
from .weighting import chain_weights, make_scorer
from ..registry import default_registry

__all__ = ["Vote"]


class InnerSpec(BaseModel):
    type: str
    config: dict[str, Any] = Field(default_factory=dict)


class Vote(Node):
    kind = "vote"

    class Config(NodeConfig):
        k: int = Field(8, ge=1, le=1024)
        inner: InnerSpec
        # A scorer spec (agents.scorers.build_scorer): weight each vote by its chain score.
        scorer: dict[str, Any] | None = None

    class Inputs(BaseModel):
        question: str

    class Outputs(VotedAnswer):
        samples: list[dict[str, Any]]
        weights: list[float] | None = None

    def __init__(self, config=None, *, inner: Node | None = None, **overrides):
        if inner is not None:
            overrides["inner"] = InnerSpec(type=inner.kind, config=inner.config.model_dump(mode="json"))
        super().__init__(config, **overrides)
        if inner is None:
            cls = default_registry().get(self.config.inner.type)
            inner = cls(self.config.inner.config)
        if "answer" not in inner.Outputs.model_fields:
            raise ValueError(f"Vote needs an inner node with an `answer` output; {inner.kind} has none")
        self.inner = inner
        self.scorer = make_scorer(self.config.scorer)
        if self.scorer is not None and "chain" not in inner.Outputs.model_fields:
            raise ValueError(f"a weighted Vote needs an inner node with a `chain` output; {inner.kind} has none")
        self.needs_executor = getattr(inner, "needs_executor", False)
        self.needs_store = getattr(inner, "needs_store", False)

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        checker = ctx.require_checker()

        async def one(i: int):
            try:
                return await self.inner(ctx.child(f"s{i}"), inputs)
            except BudgetExceeded as e:
                return e

        results = await asyncio.gather(*(one(i) for i in range(self.config.k)))
        done = [r for r in results if not isinstance(r, BudgetExceeded)]
        if not done:
            raise results[0]
        answers = [r.answer for r in done]
        weights = None
        budget_limited = len(done) < self.config.k
        if self.scorer is not None:
            try:
                weights = await chain_weights(self.scorer, ctx, inputs.question, [r.chain for r in done], answers)
            except BudgetExceeded as e:
                ctx.trace.add("budget_stop", ctx.node_path, error=str(e), fallback="unweighted vote")
                budget_limited = True
        vote = await asyncio.to_thread(majority_vote, answers, checker, weights)
        votes = record_vote(ctx, vote)
        return self.Outputs(
            answer=vote.winner, confidence=vote.confidence, votes=votes, extracted=answers,
            samples=[r.model_dump(mode="json") for r in done], samples_used=len(done),
            budget_limited=budget_limited, weights=weights,
        )
