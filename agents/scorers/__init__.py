"""Scorers for verification, weighted voting and search: one interface, several sources.

- :class:`RewardModelScorer` (``reward_model``) over a served reward model:
  in-process vLLM pooling, an HTTP pooling endpoint, or :class:`ScriptedRewardModel`.
- :class:`ScriptedScorer` for tests (not spec-buildable: it holds a Python function).
"""

from .base import (
    Aggregate,
    RewardModel,
    RewardOutput,
    Scorer,
    ScorerConfig,
    ScorerError,
    ScorerRegistry,
    StepScoreRequest,
    StepScores,
    aggregate_scores,
    build_scorer,
    default_scorer_registry,
)
from .fake import ScriptedRewardModel, ScriptedScorer
from .reward_model import RewardModelScorer

# Scorers a spec can name by `type`.
BUILTIN_SCORERS = [RewardModelScorer]

__all__ = [
    "Aggregate",
    "BUILTIN_SCORERS",
    "RewardModel",
    "RewardModelScorer",
    "RewardOutput",
    "Scorer",
    "ScorerConfig",
    "ScorerError",
    "ScorerRegistry",
    "ScriptedRewardModel",
    "ScriptedScorer",
    "StepScoreRequest",
    "StepScores",
    "aggregate_scores",
    "build_scorer",
    "default_scorer_registry",
]
