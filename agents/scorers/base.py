"""Scorers: step-level scores for (question, steps) pairs, from any source.

One interface serves verification, weighted voting and tree search:

- a :class:`Scorer` turns :class:`StepScoreRequest` s into :class:`StepScores`
  (one score in [0, 1] per step), recording what it spends in the run's ledger;
- a :class:`RewardModel` is a *served* scoring model (a process reward model
  such as Qwen2.5-Math-PRM run by vLLM's pooling runner in-process, or behind an
  OpenAI-compatible server's pooling endpoint, or a scripted fake). It is a
  named model of the run (``RunContext.models["prm"]``), like a verifier LLM,
  so one engine serves every problem of a batch;
- :class:`RewardModelScorer` is the scorer over a reward model; the
  LLM-as-judge and step-verifier scorers ask an LLM backend instead.

Scorers are built from config dicts (``{type: reward_model, model: prm}``) by
:func:`build_scorer` with an explicit :class:`ScorerRegistry`, so node configs
in YAML specs can name them.

Example (scripted reward model)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.scorers import StepScoreRequest, ScriptedRewardModel, build_scorer

    prm = ScriptedRewardModel(lambda q, steps: [0.9 if "4" in s else 0.1 for s in steps])
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": prm})
    scorer = build_scorer({"type": "reward_model", "model": "prm", "aggregate": "min"})
    [s] = asyncio.run(scorer.score(ctx, [StepScoreRequest(question="2+2?", steps=["2+2=4", "so 4"])]))
    assert s.steps == [0.9, 0.9] and s.value == 0.9
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal, Protocol, Sequence, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Aggregate",
    "RewardModel",
    "RewardOutput",
    "Scorer",
    "ScorerConfig",
    "ScorerError",
    "StepScoreRequest",
    "StepScores",
    "aggregate_scores",
]

Aggregate = Literal["last", "min", "mean", "prod"]


class ScorerError(RuntimeError):
    """A scorer could not score (bad config, dead server, malformed reply). The item fails."""


class StepScoreRequest(BaseModel):
    """A (question, steps) pair: a partial or complete solution split into steps."""

    model_config = ConfigDict(frozen=True)
    question: str
    steps: tuple[str, ...]


class StepScores(BaseModel):
    """One score in [0, 1] per step (None where a step could not be judged) and the chain's value."""

    steps: list[float | None]
    value: float  # the aggregate the scorer was configured with
    details: list[dict[str, Any]] = Field(default_factory=list)  # per-step reasons, for traces


def aggregate_scores(scores: Sequence[float | None], how: Aggregate) -> float:
    """Combine step scores into one chain value (PRM practice: ``last``, ``min`` or ``prod``).

    Steps that could not be judged (None) are left out; a chain with no judged
    step scores 0.5 (no information either way).
    """
    xs = [s for s in scores if s is not None]
    if not xs:
        return 0.5
    if how == "last":
        return xs[-1]
    if how == "min":
        return min(xs)
    if how == "mean":
        return sum(xs) / len(xs)
    return math.prod(xs)


class RewardOutput(BaseModel):
    """What a reward model returns for one request."""

    steps: list[float]  # one probability-like score per step
    prompt_tokens: int = 0


@runtime_checkable
class RewardModel(Protocol):
    """A served step-scoring model. ``score_steps`` returns one output per request, in order."""

    model_id: str

    async def score_steps(self, requests: Sequence[StepScoreRequest]) -> list[RewardOutput]:
        ...

    async def aclose(self) -> None:
        ...


class ScorerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    aggregate: Aggregate = "last"


class Scorer(ABC):
    """Scores candidate step lists. Subclasses set ``kind`` and a pydantic ``Config``."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[ScorerConfig]] = ScorerConfig

    def __init__(self, config: ScorerConfig | dict | None = None, **overrides: Any):
        if isinstance(config, ScorerConfig):
            config = config.model_dump()
        self.config = self.Config(**{"type": self.kind, **(config or {}), **overrides})

    @abstractmethod
    async def score(self, ctx, requests: Sequence[StepScoreRequest]) -> list[StepScores]:
        """Score every request (batched: one call serves all); record usage in ``ctx``."""

    def describe(self) -> dict:
        return self.config.model_dump(mode="json")
