"""Built-in reasoning nodes."""

from .chain_of_thought import ChainOfThought
from .fobar import FOBAR
from .linc import Linc
from .program_of_thought import ProgramOfThought
from .self_consistency import SelfConsistency, VoteSummary
from .tora import DotaMath, Execution, ToRA
from .tree_search import BeamSearchNode, BestOfNNode, DVTSNode, MCTSNode, ParticleFilterNode, TreeSearchNode
from .verify import VerifyChain
from .vote import Vote

BUILTIN_NODES = [ChainOfThought, SelfConsistency, ProgramOfThought, ToRA, DotaMath, Vote, FOBAR, VerifyChain, Linc,
                 BestOfNNode, BeamSearchNode, DVTSNode, MCTSNode, ParticleFilterNode]

__all__ = [
    "BUILTIN_NODES",
    "BeamSearchNode",
    "BestOfNNode",
    "DVTSNode",
    "ChainOfThought",
    "DotaMath",
    "Execution",
    "FOBAR",
    "Linc",
    "MCTSNode",
    "ParticleFilterNode",
    "ProgramOfThought",
    "SelfConsistency",
    "ToRA",
    "TreeSearchNode",
    "VerifyChain",
    "Vote",
    "VoteSummary",
]
