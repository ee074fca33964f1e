"""Which scorer a spec's ``type`` names: the registry, the built-in scorers, ``build_scorer``.

Kept apart from :mod:`.base` so that imports run one way: every scorer module imports
``base``; this module imports the scorers; nothing imports this module back.

Example::

    from lemmaflow.agents.scorers.registry import build_scorer, default_scorer_registry

    print(default_scorer_registry().kinds())   # ['judge', 'reward_model', 'step_verifier']
    scorer = build_scorer({"type": "step_verifier", "judge": False})
"""

from __future__ import annotations

from pydantic import ValidationError

from .base import Scorer, ScorerError
from .judge import JudgeScorer
from .reward_model import RewardModelScorer
from .step_verifier import StepVerifierScorer

__all__ = ["BUILTIN_SCORERS", "ScorerRegistry", "build_scorer", "default_scorer_registry"]

# Scorers a spec can name by `type`.
BUILTIN_SCORERS = [RewardModelScorer, JudgeScorer, StepVerifierScorer]


class ScorerRegistry:
    """Maps ``type`` names to scorer classes (passed explicitly; no global registry)."""

    def __init__(self, scorers: dict[str, type[Scorer]] | None = None):
        self._scorers = dict(scorers or {})

    def register(self, cls: type[Scorer]) -> type[Scorer]:
        self._scorers[cls.kind] = cls
        return cls

    def get(self, kind: str) -> type[Scorer]:
        try:
            return self._scorers[kind]
        except KeyError:
            raise ScorerError(f"unknown scorer type {kind!r}; known: {sorted(self._scorers)}") from None

    def kinds(self) -> list[str]:
        return sorted(self._scorers)


def default_scorer_registry() -> ScorerRegistry:
    """A new registry holding every built-in scorer."""
    return ScorerRegistry({cls.kind: cls for cls in BUILTIN_SCORERS})


def build_scorer(spec: dict | Scorer, registry: ScorerRegistry | None = None) -> Scorer:
    """A scorer from ``{type: ..., **config}`` (a built scorer passes through)."""
    if isinstance(spec, Scorer):
        return spec
    if not isinstance(spec, dict) or "type" not in spec:
        raise ScorerError(f"a scorer spec is a mapping with a 'type', got {spec!r}")
    cls = (registry or default_scorer_registry()).get(spec["type"])
    try:
        return cls(spec)
    except ValidationError as e:
        raise ScorerError(f"scorer {spec['type']!r}: invalid config: {e}") from e
