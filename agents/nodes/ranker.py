"""Ranker: order a source's candidates with any scorer and keep the top k (Archon, arXiv 2409.15254).

The ranker holds its candidate source (see :mod:`lemmaflow.agents.nodes.candidates`),
scores every candidate and passes the best ``top_k`` on (highest score first;
ties keep source order). Its answer is the top candidate's answer.

- ``scorer: null`` (default) ranks by agreement: a candidate's score is the share
  of candidates whose answer is equivalent to its own (the context's
  :class:`AnswerChecker` decides equivalence); no model call.
- ``scorer: {type: ...}`` is any scorer spec of :mod:`lemmaflow.agents.scorers`
  (``{type: step_verifier}``, ``{type: judge}``, ``{type: reward_model, model: prm}``):
  each chain is split into steps and scored in one batched call; its chain value
  is the score. A candidate without an answer scores 0.

Example (agreement ranking, scripted model)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import Ranker
    from lemmaflow.tools.answers import AnswerChecker

    lm = ScriptedLM(["\\\\boxed{7}", "\\\\boxed{9}", "\\\\boxed{7}"])
    node = Ranker(source={"type": "chain_of_thought", "config": {"temperature": 0.7}}, n=3, top_k=2)
    with AnswerChecker() as checker:
        out = asyncio.run(node(RunContext(backend=lm, checker=checker), question="3+4?"))
    assert [c.answer for c in out.candidates] == ["7", "7"] and out.scores[1] < out.scores[0]
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ...tools.answers import majority_vote
from ..budget import BudgetExceeded
from .candidates import CandidateLayer, CandidateOutputs
from .weighting import chain_weights, make_scorer

__all__ = ["Ranker"]


class Ranker(CandidateLayer):
    kind = "ranker"

    class Config(CandidateLayer.Config):
        top_k: int = Field(1, ge=1, le=1024)
        # A scorer spec (agents.scorers.build_scorer); None ranks by answer agreement.
        scorer: dict[str, Any] | None = None

    class Outputs(CandidateOutputs):
        scores: list[float]  # every received candidate's score, in source order

    def __init__(self, config=None, **kw):
        super().__init__(config, **kw)
        self.scorer = make_scorer(self.config.scorer)

    async def _agreement(self, ctx, answers: list[str | None]) -> list[float]:
        checker = ctx.require_checker()
        vote = await asyncio.to_thread(majority_vote, answers, checker)
        voted = sum(1 for a in answers if a is not None) or 1
        scores = [0.0] * len(answers)
        for cls in vote.classes:
            for i in cls.members:
                scores[i] = cls.weight / voted
        return scores

    async def run(self, inputs, ctx) -> Outputs:
        cands, budget_limited = await self.gather(ctx, inputs.question)
        answers = [c.answer for c in cands]
        scores = None
        if self.scorer is not None:
            try:
                scores = await chain_weights(self.scorer, ctx, inputs.question, [c.chain for c in cands], answers)
            except BudgetExceeded as e:  # rank what we can rather than fail: fall back to agreement
                ctx.trace.add("budget_stop", ctx.node_path, error=str(e), fallback="agreement ranking")
                budget_limited = True
        if scores is None:
            scores = await self._agreement(ctx, answers)
        for c, s in zip(cands, scores):
            c.score = s
        order = sorted(range(len(cands)), key=lambda i: (-scores[i], i))
        kept = [cands[i] for i in order[: self.config.top_k]]
        ctx.trace.add("info", ctx.node_path, event="rank", order=order, scores=scores, kept=order[: self.config.top_k],
                      scorer=self.scorer.kind if self.scorer else "agreement")
        return self.Outputs(answer=kept[0].answer, chain=kept[0].chain, candidates=kept, scores=scores,
                            samples_used=len(cands), budget_limited=budget_limited)
