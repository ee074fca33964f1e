"""Built-in reasoning nodes."""

from ..proving.evolver import Evolver
from ..proving.lego import LegoProver
from ..proving.whole_proof import WholeProof
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
from .tora import DotaMath, Execution, ToRA
from .tree_search import BeamSearchNode, BestOfNNode, DVTSNode, MCTSNode, ParticleFilterNode, TreeSearchNode
from .verify import VerifyChain
from .vote import Vote

BUILTIN_NODES = [ChainOfThought, SelfConsistency, ProgramOfThought, ToRA, DotaMath, Vote, FOBAR, VerifyChain, Linc,
                 ReWOO, ReAct, Decompose, ToolMaker, ToolUser,
                 BestOfNNode, BeamSearchNode, DVTSNode, MCTSNode, ParticleFilterNode,
                 LegoProver, Evolver, ProofSearch, WholeProof,
                 Ranker, Fuser, Critic, Reviser]

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
    "ToolMaker",
    "ToolUser",
    "TreeSearchNode",
    "VerifyChain",
    "Vote",
    "VoteSummary",
]
