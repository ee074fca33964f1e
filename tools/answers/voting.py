r"""Majority (self-consistency) voting over extracted answers.

Answers are grouped into equivalence classes with
:meth:`AnswerChecker.group <lemmaflow.tools.answers.equivalence.AnswerChecker.group>`
(one worker round trip for the whole sample), each class is weighted by the
sum of its members' weights (1.0 each by default), and the heaviest class wins.

Rules, precisely:

* ``None`` (or a blank string) is an abstention: counted in ``n_abstained``,
  never a class.
* Ties in weight are broken by first occurrence: the class whose first member
  has the smallest sample index wins. ``classes`` is sorted the same way
  (weight descending, then first index), so ``classes[0]`` is the winner.
* ``confidence`` is the winner's share of the *non-abstained* weight;
  ``share_of_all`` is its share of all weight, abstentions included.
  Both are 0.0 when there is no winner or the total weight is 0.

Example::

    >>> from lemmaflow.tools.answers import AnswerChecker, majority_vote
    >>> with AnswerChecker() as checker:
    ...     r = majority_vote(["0.5", r"\frac12", "2", None], checker)
    >>> r.winner, r.confidence, r.n_abstained
    ('0.5', 0.6666666666666666, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

from .equivalence import AnswerChecker

__all__ = ["VoteClass", "VoteResult", "majority_vote", "can_be_overtaken"]


class VoteClass(BaseModel):
    """One equivalence class of answers."""

    representative: str  # the first-seen member's text, as given
    members: list[int]  # sample indices, ascending
    weight: float


class VoteResult(BaseModel):
    """Outcome of :func:`majority_vote` (see the module docstring for the rules)."""

    winner: str | None
    confidence: float
    share_of_all: float
    classes: list[VoteClass] = Field(default_factory=list)
    n_abstained: int
    n_total: int

    @property
    def margin(self) -> float:
        """Winner's weight minus the runner-up's (0.0 for the runner-up if there is none)."""
        if not self.classes:
            return 0.0
        second = self.classes[1].weight if len(self.classes) > 1 else 0.0
        return self.classes[0].weight - second


def majority_vote(
    answers: Sequence[str | None],
    checker: AnswerChecker,
    weights: Sequence[float] | None = None,
) -> VoteResult:
    """Vote over ``answers`` (already-extracted final answers; ``None`` = abstained)."""
    n = len(answers)
    if weights is None:
        w = [1.0] * n
    else:
        if len(weights) != n:
            raise ValueError(f"got {len(weights)} weights for {n} answers")
        w = [float(x) for x in weights]
        if any(not math.isfinite(x) or x < 0 for x in w):
            raise ValueError("weights must be finite and non-negative")

    voted = [i for i, a in enumerate(answers) if a is not None and str(a).strip()]
    groups = checker.group([str(answers[i]) for i in voted]) if voted else []
    classes = [
        VoteClass(
            representative=str(answers[voted[g[0]]]),
            members=[voted[k] for k in g],
            weight=math.fsum(w[voted[k]] for k in g),
        )
        for g in groups
    ]
    classes.sort(key=lambda c: (-c.weight, c.members[0]))

    total_voted = math.fsum(w[i] for i in voted)
    total_all = math.fsum(w)
    winner = classes[0] if classes else None
    return VoteResult(
        winner=winner.representative if winner else None,
        confidence=(winner.weight / total_voted) if winner and total_voted > 0 else 0.0,
        share_of_all=(winner.weight / total_all) if winner and total_all > 0 else 0.0,
        classes=classes,
        n_abstained=n - len(voted),
        n_total=n,
    )


def can_be_overtaken(result: VoteResult, remaining: int, max_weight: float = 1.0) -> bool:
    """Could ``remaining`` more samples change (or tie) the winner?

    Returns ``True`` iff ``margin <= remaining * max_weight``, where ``margin`` is
    the leader's weight minus the runner-up's (0 if there is no runner-up, since
    an unseen answer could still appear). So it turns ``False`` exactly when the
    margin *strictly* exceeds what the remaining samples can add; a result that
    could end in a tie counts as overtakeable, because then the outcome rests on
    the tie-break rather than on the votes. With ``remaining == 0`` it is
    ``True`` only for a current tie (or no votes at all). ``max_weight`` is the
    most weight one future sample can carry (1.0 for unweighted voting).
    """
    if remaining < 0:
        raise ValueError("remaining must be >= 0")
    return result.margin <= remaining * max_weight
