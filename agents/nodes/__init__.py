"""Built-in reasoning nodes."""

from .chain_of_thought import ChainOfThought
from .fobar import FOBAR
from .linc import Linc
from ..proving.evolver import Evolver
from ..proving.lego import LegoProver
from .program_of_thought import ProgramOfThought
from .self_consistency import SelfConsistency, VoteSummary
from .tora import DotaMath, Execution, ToRA
from .verify import VerifyChain
from .vote import Vote

BUILTIN_NODES = [ChainOfThought, SelfConsistency, ProgramOfThought, ToRA, DotaMath, Vote, FOBAR, VerifyChain, Linc,
                 LegoProver, Evolver]

__all__ = [
    "BUILTIN_NODES",
    "ChainOfThought",
    "DotaMath",
    "Execution",
    "FOBAR",
    "Linc",
    "ProgramOfThought",
    "SelfConsistency",
    "ToRA",
    "VerifyChain",
    "Vote",
    "VoteSummary",
]
