"""Tree search over any problem: a generic protocol, five algorithms, and math-step search.

- :mod:`.base`: :class:`SearchProblem` (problem side), :class:`SearchAlgorithm`,
  :class:`SearchTree` (traced as ``search_node`` events), :class:`SearchBudget`.
- Algorithms (one per module): :class:`BestOfN`, :class:`BeamSearch`,
  :class:`DVTS`, :class:`MCTS` (PUCT), :class:`ParticleFilter`.
- :class:`MathStepProblem` (:mod:`.math_steps`): states are partial solutions
  split into steps; actions are next steps generated up to the step delimiter.

The pipeline nodes wrapping them live in :mod:`lemmaflow.agents.nodes.tree_search`.
"""

from .base import (
    Leaf,
    Proposal,
    SearchAlgorithm,
    SearchAlgorithmConfig,
    SearchBudget,
    SearchProblem,
    SearchResult,
    SearchTree,
    TreeNode,
)
from .beam import BeamSearch
from .best_of_n import BestOfN
from .dvts import DVTS
from .math_steps import MathState, MathStepConfig, MathStepProblem
from .mcts import MCTS
from .particle_filter import ParticleFilter

ALGORITHMS = {cls.name: cls for cls in (BestOfN, BeamSearch, DVTS, MCTS, ParticleFilter)}

__all__ = [
    "ALGORITHMS",
    "BeamSearch",
    "BestOfN",
    "DVTS",
    "Leaf",
    "MCTS",
    "MathState",
    "MathStepConfig",
    "MathStepProblem",
    "ParticleFilter",
    "Proposal",
    "SearchAlgorithm",
    "SearchAlgorithmConfig",
    "SearchBudget",
    "SearchProblem",
    "SearchResult",
    "SearchTree",
    "TreeNode",
]
