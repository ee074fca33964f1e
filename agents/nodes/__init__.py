"""Built-in reasoning nodes."""

from .chain_of_thought import ChainOfThought
from .program_of_thought import ProgramOfThought
from .self_consistency import SelfConsistency, VoteSummary
from .tora import DotaMath, Execution, ToRA
from .vote import Vote

BUILTIN_NODES = [ChainOfThought, SelfConsistency, ProgramOfThought, ToRA, DotaMath, Vote]

__all__ = [
    "BUILTIN_NODES",
    "ChainOfThought",
    "DotaMath",
    "Execution",
    "ProgramOfThought",
    "SelfConsistency",
    "ToRA",
    "Vote",
    "VoteSummary",
]
