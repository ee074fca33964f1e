"""Scripted scorers and reward models, for users' tests of scoring logic (never a result).

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.scorers import ScriptedScorer, StepScoreRequest

    scorer = ScriptedScorer(lambda question, steps: [1.0 if "7" in s else 0.0 for s in steps])
    ctx = RunContext(backend=ScriptedLM(["x"]))
    [s] = asyncio.run(scorer.score(ctx, [StepScoreRequest(question="?", steps=("3+4=7",))]))
    assert s.value == 1.0
"""

from __future__ import annotations

import asyncio
from typing import Callable, Sequence

from .base import Aggregate, RewardOutput, Scorer, ScorerConfig, StepScoreRequest, StepScores, aggregate_scores

__all__ = ["ScriptedRewardModel", "ScriptedScorer"]

StepFn = Callable[[str, Sequence[str]], Sequence[float]]


class ScriptedRewardModel:
    """A reward model answering ``fn(question, steps) -> one score per step``.

    Reports one prompt token per whitespace word so budget logic is exercised.
    """

    def __init__(self, fn: StepFn, model_id: str = "scripted-prm", latency_s: float = 0.0):
        self.model_id = model_id
        self._fn = fn
        self._latency_s = latency_s
        self.calls: list[list[StepScoreRequest]] = []

    async def score_steps(self, requests: Sequence[StepScoreRequest]) -> list[RewardOutput]:
        self.calls.append(list(requests))
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        return [
            RewardOutput(steps=[float(x) for x in self._fn(r.question, r.steps)],
                         prompt_tokens=len(r.question.split()) + sum(len(s.split()) for s in r.steps))
            for r in requests
        ]

    async def aclose(self) -> None:
        return None


class ScriptedScorer(Scorer):
    """A scorer computing ``fn(question, steps)`` locally; records no model usage."""

    kind = "scripted"

    def __init__(self, fn: StepFn, aggregate: Aggregate = "last"):
        super().__init__(ScorerConfig(type=self.kind, aggregate=aggregate))
        self._fn = fn

    async def score(self, ctx, requests: Sequence[StepScoreRequest]) -> list[StepScores]:
        out = []
        for r in requests:
            steps = [float(x) for x in self._fn(r.question, r.steps)]
            out.append(StepScores(steps=steps, value=aggregate_scores(steps, self.config.aggregate)))
        return out
