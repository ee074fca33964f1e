"""Tree search over any problem: a generic protocol, five algorithms, and math-step search.

- :mod:`.base`: :class:`SearchProblem` (problem side), :class:`SearchAlgorithm`,
  :class:`SearchTree` (traced as ``search_node`` events), :class:`SearchBudget`.
- Algorithms (one per module): :class:`BestOfN`, :class:`BeamSearch`,
  :class:`DVTS`, :class:`MCTS` (PUCT), :class:`ParticleFilter`.
- :class:`BestFirst` (:mod:`.best_first`): expand the best open node (proof search).
- :class:`TacticProblem` (:mod:`.proof_tactics`): states are Coq/Lean proof
  states, actions are tactics; finished proofs are re-checked statement-exactly.
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
from .best_first import BestFirst
from .best_of_n import BestOfN
from .dvts import DVTS
from .math_steps import MathState, MathStepConfig, MathStepProblem
from .mcts import MCTS
from .particle_filter import ParticleFilter
from .proof_tactics import ProofState, TacticConfig, TacticProblem

ALGORITHMS = {cls.name: cls for cls in (BestOfN, BeamSearch, BestFirst, DVTS, MCTS, ParticleFilter)}

__all__ = [
    "ALGORITHMS",
    "BeamSearch",
    "BestFirst",
    "BestOfN",
    "DVTS",
    "Leaf",
    "MCTS",
    "MathState",
    "MathStepConfig",
    "MathStepProblem",
    "ParticleFilter",
    "ProofState",
    "Proposal",
    "SearchAlgorithm",
    "SearchAlgorithmConfig",
    "SearchBudget",
    "SearchProblem",
    "SearchResult",
    "SearchTree",
    "TacticConfig",
    "TacticProblem",
    "TreeNode",
]
