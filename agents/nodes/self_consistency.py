"""Self-consistency: sample many chains, vote over mathematically equivalent answers.

Answers are extracted from each chain (abstaining on ambiguous ones), grouped
into equivalence classes by the context's :class:`AnswerChecker`
(math-verify + sympy), and the largest class wins; ties go to the class seen
first in sample order. ``confidence`` is the winner's share of the
non-abstaining votes.

With ``adaptive=True`` the node samples in rounds of ``batch_size`` and stops as
soon as the leader can no longer be overtaken by the samples left, saving
compute on easy problems. With a ``scorer`` spec (``{type: step_verifier}``,
``{type: reward_model, model: prm}``, ...) the vote is weighted: each chain's
weight is its chain score (:mod:`lemmaflow.agents.nodes.weighting`). If the budget cannot pay for all ``n`` samples the
node draws what it can afford and says so (``budget_limited``); if it cannot
afford a single one it raises :class:`BudgetExceeded`.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import SelfConsistency
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.tools.answers import AnswerChecker

    lm = ScriptedLM(["\\\\boxed{1/2}", "\\\\boxed{0.5}", "\\\\boxed{3}"])
    with AnswerChecker() as checker:
        out = asyncio.run(SelfConsistency(n=3)(RunContext(backend=lm, checker=checker), question="?"))
    assert out.answer == "1/2" and abs(out.confidence - 2 / 3) < 1e-9
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from ...tools.answers import can_be_overtaken, extract_answer, majority_vote
from ..budget import BudgetExceeded
from ..node import Node
from .prompts import PromptedSampling
from .weighting import chain_weights, make_scorer

__all__ = ["SelfConsistency", "VoteSummary", "VotedAnswer", "record_vote"]


class VoteSummary(BaseModel):
    answer: str
    votes: float
    samples: list[int]


class VotedAnswer(BaseModel):
    """Outputs every voting node shares."""

    answer: str | None
    confidence: float
    votes: list[VoteSummary]
    extracted: list[str | None]
    samples_used: int
    budget_limited: bool = False


def record_vote(ctx, result) -> list[VoteSummary]:
    """Vote classes as node output, and a ``vote`` trace event."""
    votes = [VoteSummary(answer=k.representative, votes=k.weight, samples=k.members) for k in result.classes]
    ctx.trace.add(
        "vote", ctx.node_path, winner=result.winner, confidence=result.confidence,
        classes=[v.model_dump() for v in votes], abstained=result.n_abstained,
    )
    return votes


class SelfConsistency(Node):
    kind = "self_consistency"

    class Config(PromptedSampling):
        n: int = Field(8, ge=1, le=1024)
        adaptive: bool = False
        batch_size: int = Field(4, ge=1, description="samples per round when adaptive")
        # A chain cut off by max_tokens has not reached its answer: its last
        # number is noise. Keep explicit answers (boxed, "the answer is").
        abstain_on_truncated: bool = True
        # A scorer spec (agents.scorers.build_scorer): weight each vote by its chain score.
        scorer: dict[str, Any] | None = None

    class Inputs(BaseModel):
        question: str

    class Outputs(VotedAnswer):
        chains: list[str]
        stopped_early: bool = False
        weights: list[float] | None = None  # per chain, when voting was weighted by a scorer

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.scorer = make_scorer(self.config.scorer)

    def _answer_of(self, comp) -> str | None:
        ext = extract_answer(comp.text)
        if self.config.abstain_on_truncated and comp.finish_reason == "length" and ext.method == "final_number":
            return None
        return ext.answer

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        checker = ctx.require_checker()
        prompt = c.render(inputs.question)
        chains: list[str] = []
        extracted: list[str | None] = []
        weights: list[float] | None = [] if self.scorer else None
        result = None
        budget_limited = stopped_early = False
        step = c.batch_size if c.adaptive else c.n
        while len(chains) < c.n:
            want = min(step, c.n - len(chains))
            affordable = ctx.ledger.affordable_samples(c.max_tokens)
            if affordable is not None and affordable < want:
                budget_limited = True
                want = affordable
            if want == 0:
                if not chains:  # nothing to vote on: let the pipeline report it
                    raise BudgetExceeded(ctx.node_path, "samples", 0, 0, 1)
                break
            gen = (await ctx.generate([prompt], c.sampling(want)))[0]
            first_new = len(chains)
            for comp in gen.completions:
                chains.append(comp.text)
                extracted.append(self._answer_of(comp))
            if weights is not None:
                try:
                    weights += await chain_weights(self.scorer, ctx, inputs.question, chains[first_new:],
                                                   extracted[first_new:])
                except BudgetExceeded as e:
                    # Scores for only some chains would bias the vote: fall back to counting.
                    ctx.trace.add("budget_stop", ctx.node_path, error=str(e), fallback="unweighted vote")
                    weights, budget_limited = None, True
            if c.adaptive and len(chains) < c.n:
                # Voting calls the checker's worker process: keep the loop free.
                result = await asyncio.to_thread(majority_vote, extracted, checker, weights)
                if result.winner is not None and not can_be_overtaken(result, c.n - len(chains)):
                    stopped_early = True
                    break
            result = None
        if result is None:
            result = await asyncio.to_thread(majority_vote, extracted, checker, weights)
        votes = record_vote(ctx, result)
        return self.Outputs(
            answer=result.winner,
            confidence=result.confidence,
            votes=votes,
            chains=chains,
            extracted=extracted,
            samples_used=len(chains),
            stopped_early=stopped_early,
            budget_limited=budget_limited,
            weights=weights,
        )
