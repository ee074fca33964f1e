"""The scorer over a served reward model (PRM): ``{type: reward_model, model: prm}``.

The reward model is a named model of the run (``RunContext.models[model]``):
the in-process vLLM pooling runner, an HTTP pooling endpoint, or a scripted
fake. Its prompt tokens are recorded under that role in the budget ledger.

Example: see :mod:`lemmaflow.agents.scorers.base`.
"""

from __future__ import annotations

import time
from typing import Sequence

from .base import RewardModel, Scorer, ScorerConfig, ScorerError, StepScoreRequest, StepScores, aggregate_scores

__all__ = ["RewardModelScorer"]


class RewardModelScorer(Scorer):
    kind = "reward_model"

    class Config(ScorerConfig):
        model: str = "prm"  # the role in RunContext.models

    async def score(self, ctx, requests: Sequence[StepScoreRequest]) -> list[StepScores]:
        if not requests:
            return []
        role = self.config.model
        rm = ctx.models.get(role)
        if rm is None or not isinstance(rm, RewardModel):
            raise ScorerError(
                f"scorer 'reward_model' needs a reward model named {role!r} in the run "
                f"(RunContext(models={{{role!r}: ...}}) or --model-for {role}=...); "
                f"got {type(rm).__name__ if rm is not None else 'nothing'}"
            )
        ctx.ledger.check(ctx.node_path or "root", samples=0, max_completion_tokens=0)
        start = time.monotonic()
        outs = await rm.score_steps(list(requests))
        if len(outs) != len(requests):
            raise ScorerError(f"reward model {rm.model_id!r} returned {len(outs)} outputs for {len(requests)} requests")
        ctx.record_usage(model=role, model_id=rm.model_id, prompt_tokens=sum(o.prompt_tokens for o in outs),
                         n_requests=len(requests), latency_s=round(time.monotonic() - start, 4))
        result = []
        for req, out in zip(requests, outs):
            if len(out.steps) != len(req.steps):
                raise ScorerError(
                    f"reward model {rm.model_id!r} gave {len(out.steps)} step scores for {len(req.steps)} steps"
                )
            result.append(StepScores(steps=list(out.steps), value=aggregate_scores(out.steps, self.config.aggregate)))
        return result
