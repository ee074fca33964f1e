"""Tests for lemmaflow.tools.answers.voting: majority_vote and can_be_overtaken."""

from __future__ import annotations

import itertools
import random

import pytest

from lemmaflow.tools.answers import AnswerChecker, VoteResult, can_be_overtaken, extract_answer, majority_vote


def test_equivalent_answers_pool_their_votes(checker: AnswerChecker) -> None:
    r = majority_vote(["3", r"\frac12", "0.5", r"\dfrac{1}{2}", "3", "1/2"], checker)
    assert r.winner == r"\frac12"  # the first-seen member's text, as given
    assert [c.members for c in r.classes] == [[1, 2, 3, 5], [0, 4]]
    assert [c.weight for c in r.classes] == [4.0, 2.0]
    assert r.confidence == pytest.approx(4 / 6)
    assert (r.n_total, r.n_abstained) == (6, 0)


def test_math_verify_equivalence_in_a_vote(checker: AnswerChecker) -> None:
    r = majority_vote([r"2\sqrt{2}", "3", r"\sqrt{8}", r"\frac{4}{\sqrt{2}}", "3"], checker)
    assert r.winner == r"2\sqrt{2}"
    assert r.classes[0].members == [0, 2, 3]


def test_abstentions_are_counted_not_voted(checker: AnswerChecker) -> None:
    r = majority_vote([None, "7", None, "7", "8", "  "], checker)
    assert r.winner == "7"
    assert r.n_abstained == 3 and r.n_total == 6
    assert r.confidence == pytest.approx(2 / 3)  # among non-abstained votes
    assert r.share_of_all == pytest.approx(2 / 6)  # among all samples
    assert all(i not in c.members for c in r.classes for i in (0, 2, 5))


def test_all_abstained_or_empty(checker: AnswerChecker) -> None:
    for answers in ([None, None], []):
        r = majority_vote(answers, checker)
        assert r.winner is None and r.classes == []
        assert r.confidence == 0.0 and r.share_of_all == 0.0
        assert r.n_abstained == len(answers)


def test_ties_go_to_first_occurrence(checker: AnswerChecker) -> None:
    r = majority_vote(["5", "4", "4", "5"], checker)
    assert r.winner == "5"  # both have 2 votes; "5" appears first
    assert [c.representative for c in r.classes] == ["5", "4"]
    r = majority_vote(["4", "5", "5", "4", "6"], checker)
    assert r.winner == "4"
    assert [c.representative for c in r.classes] == ["4", "5", "6"]


def test_tie_break_is_deterministic_under_repetition(checker: AnswerChecker) -> None:
    answers = ["a", "b", "c", "b", "a", "c"]
    winners = {majority_vote(answers, checker).winner for _ in range(5)}
    assert winners == {"a"}


def test_weighted_vote(checker: AnswerChecker) -> None:
    r = majority_vote(["1", "2", "2", None], checker, weights=[0.9, 0.3, 0.4, 5.0])
    assert r.winner == "1"
    assert r.classes[0].weight == pytest.approx(0.9)
    assert r.confidence == pytest.approx(0.9 / 1.6)
    assert r.share_of_all == pytest.approx(0.9 / 6.6)


@pytest.mark.parametrize("weights", [[1.0], [1.0, -1.0], [1.0, float("nan")]])
def test_bad_weights_rejected(checker: AnswerChecker, weights: list[float]) -> None:
    with pytest.raises(ValueError):
        majority_vote(["1", "2"], checker, weights=weights)


def test_vote_on_extracted_chains(checker: AnswerChecker) -> None:
    chains = [
        r"... so $\boxed{\dfrac{1}{2}}$",
        "The answer is 0.5.",
        "#### 2",
        "The answer is 7 or 8.",  # abstains
        r"\boxed{3} or maybe \boxed{4}",  # conflicting boxes: abstains
    ]
    r = majority_vote([extract_answer(c).answer for c in chains], checker)
    assert r.winner == r"\frac{1}{2}"
    assert r.n_abstained == 2 and r.confidence == pytest.approx(2 / 3)


# -- can_be_overtaken --------------------------------------------------------------


def _result(weights: list[float]) -> VoteResult:
    answers = [str(i) for i, w in enumerate(weights) for _ in range(int(w))]
    with AnswerChecker() as c:  # plain numbers: decided without a worker
        return majority_vote(answers, c)


@pytest.mark.parametrize(
    ("counts", "remaining", "expected"),
    [
        ([5, 2], 2, False),  # margin 3 > 2: at best 5:4
        ([5, 2], 3, True),  # margin 3 == 3: a 5:5 tie is possible
        ([5, 2], 4, True),
        ([3], 2, False),  # an unseen answer could reach only 2
        ([3], 3, True),  # ... or tie at 3
        ([2, 2], 0, True),  # a current tie rests on the tie-break: "overtakeable"
        ([3, 2], 0, False),
        ([], 0, True),
        ([], 5, True),
    ],
)
def test_can_be_overtaken_table(counts: list[int], remaining: int, expected: bool) -> None:
    r = _result(counts)
    assert r.margin == ((counts[0] - (counts[1] if len(counts) > 1 else 0)) if counts else 0)
    assert can_be_overtaken(r, remaining) is expected


def test_can_be_overtaken_boundaries() -> None:
    r = _result([5, 2])
    assert can_be_overtaken(r, 3) is True  # 3 more for the runner-up makes 5:5
    assert can_be_overtaken(r, 2) is False  # at best 5:4
    assert can_be_overtaken(_result([4]), 4) is True  # a new answer could tie 4:4
    assert can_be_overtaken(_result([4]), 3) is False
    assert can_be_overtaken(r, 2, max_weight=2.0) is True
    with pytest.raises(ValueError):
        can_be_overtaken(r, -1)


def test_can_be_overtaken_matches_brute_force() -> None:
    """False must mean: no continuation of `remaining` samples ties or beats the leader."""
    rng = random.Random(7)
    for _ in range(60):
        counts = sorted((rng.randint(1, 5) for _ in range(rng.randint(1, 3))), reverse=True)
        remaining = rng.randint(0, 4)
        r = _result(counts)
        leader = r.classes[0].weight
        # Each future sample goes to an existing class or to one new class (index len(counts)).
        reachable = False
        for future in itertools.product(range(len(counts) + 1), repeat=remaining):
            others = [w + future.count(i) for i, w in enumerate(c.weight for c in r.classes)]
            others.append(future.count(len(counts)))
            final_leader = others[0]
            if any(w >= final_leader for w in others[1:]):
                reachable = True
                break
        assert can_be_overtaken(r, remaining) == reachable, (counts, remaining)
