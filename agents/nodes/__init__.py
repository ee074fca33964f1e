"""Built-in reasoning nodes."""

from .chain_of_thought import ChainOfThought
from .linc import Linc
from .program_of_thought import ProgramOfThought
from .self_consistency import SelfConsistency, VoteSummary
from .tora import DotaMath, Execution, ToRA
from .vote import Vote

BUILTIN_NODES = [ChainOfThought, SelfConsistency, ProgramOfThought, ToRA, DotaMath, Vote, Linc]

__all__ = [
    "BUILTIN_NODES",
    "ChainOfThought",
    "DotaMath",
    "Execution",
    "Linc",
    "ProgramOfThought",
    "SelfConsistency",
    "ToRA",
    "Vote",
    "VoteSummary",
]
