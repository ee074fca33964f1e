"""Built-in reasoning nodes."""

from .chain_of_thought import ChainOfThought
from .self_consistency import SelfConsistency, VoteSummary

BUILTIN_NODES = [ChainOfThought, SelfConsistency]

__all__ = ["BUILTIN_NODES", "ChainOfThought", "SelfConsistency", "VoteSummary"]
