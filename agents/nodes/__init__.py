"""Built-in reasoning nodes."""

from .candidates import Candidate, CandidateLayer, CandidateOutputs
from .chain_of_thought import ChainOfThought
from .critic import Critic
from .fobar import FOBAR
from .fuser import Fuser
from .linc import Linc
from .program_of_thought import ProgramOfThought
from .ranker import Ranker
from .reviser import Reviser
from .self_consistency import SelfConsistency, VoteSummary
from .tora import DotaMath, Execution, ToRA
from .verify import VerifyChain
from .vote import Vote

BUILTIN_NODES = [ChainOfThought, SelfConsistency, ProgramOfThought, ToRA, DotaMath, Vote, FOBAR, VerifyChain, Linc,
                 Ranker, Fuser, Critic, Reviser]

__all__ = [
    "BUILTIN_NODES",
    "Candidate",
    "CandidateLayer",
    "CandidateOutputs",
    "ChainOfThought",
    "Critic",
    "DotaMath",
    "Execution",
    "FOBAR",
    "Fuser",
    "Linc",
    "ProgramOfThought",
    "Ranker",
    "Reviser",
    "SelfConsistency",
    "ToRA",
    "VerifyChain",
    "Vote",
    "VoteSummary",
]
