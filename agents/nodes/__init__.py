"""Built-in reasoning nodes."""

from .chain_of_thought import ChainOfThought
from .decompose import Decompose
from .fobar import FOBAR
from .linc import Linc
from .program_of_thought import ProgramOfThought
from .proof_search import ProofSearch
from .react import ReAct
from .rewoo import ReWOO
from .self_consistency import SelfConsistency, VoteSummary
from .tool_maker import ToolMaker
from .tool_user import ToolUser
from .tora import DotaMath, Execution, ToRA
from .tree_search import BeamSearchNode, BestOfNNode, DVTSNode, MCTSNode, ParticleFilterNode, TreeSearchNode
from .verify import VerifyChain
from .vote import Vote

BUILTIN_NODES = [ChainOfThought, SelfConsistency, ProgramOfThought, ToRA, DotaMath, Vote, FOBAR, VerifyChain, Linc,
                 ReWOO, ReAct, Decompose, ToolMaker, ToolUser,
                 BestOfNNode, BeamSearchNode, DVTSNode, MCTSNode, ParticleFilterNode, ProofSearch]

__all__ = [
    "BUILTIN_NODES",
    "BeamSearchNode",
    "BestOfNNode",
    "DVTSNode",
    "ChainOfThought",
    "Decompose",
    "DotaMath",
    "Execution",
    "FOBAR",
    "Linc",
    "MCTSNode",
    "ParticleFilterNode",
    "ProgramOfThought",
    "ProofSearch",
    "ReAct",
    "ReWOO",
    "SelfConsistency",
    "ToRA",
    "ToolMaker",
    "ToolUser",
    "TreeSearchNode",
    "VerifyChain",
    "Vote",
    "VoteSummary",
]
