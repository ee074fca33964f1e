"""Scorers for verification, weighted voting and search: one interface, several sources.

- :class:`RewardModelScorer` (``reward_model``) over a served reward model:
  in-process vLLM pooling (:class:`VLLMRewardModel`), an HTTP pooling endpoint
  (:class:`HTTPRewardModel`), or :class:`ScriptedRewardModel`; both served kinds
  render (question, steps) pairs by one :class:`StepFormat`.
- :class:`JudgeScorer` (``judge``): an LLM judges each step against its premises.
- :class:`StepVerifierScorer` (``step_verifier``): the judge plus a sympy check of arithmetic.
- :class:`ScriptedScorer` for tests (not spec-buildable: it holds a Python function).
"""

from .base import (
    Aggregate,
    RewardModel,
    RewardOutput,
    Scorer,
    ScorerConfig,
    ScorerError,
    StepScoreRequest,
    StepScores,
    aggregate_scores,
)
from .fake import ScriptedRewardModel, ScriptedScorer
from .http_reward import HTTPRewardConfig, HTTPRewardModel
from .prm_format import StepFormat
from .judge import JudgeScorer
from .reward_model import RewardModelScorer
from .vllm_reward import VLLMRewardConfig, VLLMRewardModel, make_embedded_reward_model
from .step_verifier import StepVerifierScorer
from .registry import BUILTIN_SCORERS, ScorerRegistry, build_scorer, default_scorer_registry

__all__ = [
    "Aggregate",
    "BUILTIN_SCORERS",
    "HTTPRewardConfig",
    "HTTPRewardModel",
    "JudgeScorer",
    "RewardModel",
    "RewardModelScorer",
    "RewardOutput",
    "Scorer",
    "ScorerConfig",
    "ScorerError",
    "ScorerRegistry",
    "ScriptedRewardModel",
    "ScriptedScorer",
    "StepFormat",
    "StepScoreRequest",
    "StepScores",
    "VLLMRewardConfig",
    "VLLMRewardModel",
    "StepVerifierScorer",
    "aggregate_scores",
    "build_scorer",
    "default_scorer_registry",
    "make_embedded_reward_model",
]
