"""Built-in reasoning nodes."""

from ..proving.evolver import Evolver
from ..proving.lego import LegoProver
from .candidates import Candidate, CandidateLayer, CandidateOutputs
from .chain_of_thought import ChainOfThought
from .critic import Critic
from .decompose import Decompose
from .fobar import FOBAR
from .fuser import Fuser
from .linc import Linc
from .program_of_thought import ProgramOfThought
from .proof_search import ProofSearch
from .ranker import Ranker
from .react import ReAct
from .reviser import Reviser
from .rewoo import ReWOO
from .self_consistency import SelfConsistency, VoteSummary
from .tool_maker import ToolMaker
from .tool_user import ToolUser
from .tora import DotaMath, Execution, ToRA, ToRAExample
from .tree_search import BeamSearchNode, BestOfNNode, DVTSNode, MCTSNode, ParticleFilterNode, TreeSearchNode
from .verify import VerifyChain
from .vote import Vote

from ..registry import builtin_node_classes

# Registered in one place, agents/registry.py's table (which imports no node, so imports run one way).
BUILTIN_NODES = builtin_node_classes()

__all__ = [
    "BUILTIN_NODES",
    "BeamSearchNode",
    "BestOfNNode",
    "Candidate",
    "CandidateLayer",
    "CandidateOutputs",
    "ChainOfThought",
    "Critic",
    "DVTSNode",
    "Decompose",
    "DotaMath",
    "Evolver",
    "Execution",
    "FOBAR",
    "Fuser",
    "LegoProver",
    "Linc",
    "MCTSNode",
    "ParticleFilterNode",
    "ProgramOfThought",
    "ProofSearch",
    "Ranker",
    "ReAct",
    "ReWOO",
    "Reviser",
    "SelfConsistency",
    "ToRA",
    "ToRAExample",
    "ToolMaker",
    "ToolUser",
    "TreeSearchNode",
    "VerifyChain",
    "Vote",
    "VoteSummary",
]
