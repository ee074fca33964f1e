r"""Final-answer handling for math reasoning: extract, normalize, compare, vote.

Example::

    >>> from lemmaflow.tools.answers import AnswerChecker, extract_answer, majority_vote
    >>> chains = [r"... so $\boxed{\dfrac{1}{2}}$", "The answer is 0.5.", "#### 2", "It is 7 or 8."]
    >>> answers = [extract_answer(c).answer for c in chains]
    >>> answers
    ['\\frac{1}{2}', '0.5', '2', None]
    >>> with AnswerChecker() as checker:
    ...     majority_vote(answers, checker).winner
    '\\frac{1}{2}'
"""

from .equivalence import AnswerChecker, CheckerStats
from .extract import Extraction, extract_answer, find_boxed
from .normalize import canonical_key, normalize_answer
from .voting import VoteClass, VoteResult, can_be_overtaken, majority_vote

__all__ = [
    "AnswerChecker",
    "CheckerStats",
    "Extraction",
    "extract_answer",
    "find_boxed",
    "canonical_key",
    "normalize_answer",
    "majority_vote",
    "can_be_overtaken",
    "VoteResult",
    "VoteClass",
]
