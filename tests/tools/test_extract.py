"""Tests for lemmaflow.tools.answers.extract (and the normalization it applies)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from lemmaflow.tools.answers import Extraction, canonical_key, extract_answer, find_boxed, normalize_answer


# -- \boxed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so the answer is $\boxed{42}$.", "42"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{\dfrac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
        (r"nested: \boxed{\left( 3, \frac{\pi}{2} \right)}", r"( 3, \frac{\pi}{2} )"),
        (r"set \boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces do not count
        (r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
        (r"\fbox{7}", "7"),
        (r"\boxed 5 is it", "5"),
        (r"\boxed{10\text{ cm}}", "10"),
        (r"\boxed{1,000}", "1000"),
        (r"\boxed{x = 3}", "3"),
        (r"\boxed{90^\circ}", "90"),
        (r"\boxed{\text{(B)}}", "B"),
        (r"\boxed{\$18.90}", "18.90"),
        (r"\boxed{\tfrac12}", r"\frac{1}{2}"),
    ],
)
def test_boxed(text: str, expected: str) -> None:
    e = extract_answer(text)
    assert (e.answer, e.method, e.abstained, e.reason) == (expected, "boxed", False, None)


def test_last_boxed_wins_when_boxes_agree() -> None:
    e = extract_answer(r"first \boxed{0.5}, re-checked: \boxed{\frac{1}{2}}")
    assert e.answer == r"\frac{1}{2}" and not e.abstained


def test_boxed_beats_other_patterns() -> None:
    e = extract_answer("The answer is 3.\n#### 4\nso \\boxed{5} and finally 6")
    assert (e.answer, e.method) == ("5", "boxed")


def test_find_boxed_nested_and_unbalanced() -> None:
    assert find_boxed(r"\boxed{a{b{c}}} x \boxed{d}") == ["a{b{c}}", "d"]
    with pytest.raises(ValueError, match="unbalanced"):
        find_boxed(r"\boxed{\frac{1}{2}")


# -- other patterns ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "method"),
    [
        ("Adding them up, the answer is 42.", "42", "answer_is"),
        (r"The final answer is $\frac{3}{4}$. I hope it is correct.", r"\frac{3}{4}", "answer_is"),
        ("The answer is 7. Wait, no: the answer is 8.", "8", "answer_is"),
        ("**Final Answer:** 12 apples", "12", "answer_is"),
        ("Answer: 3.5.", "3.5", "answer_is"),
        ("The answer is 18 because she sells 9 eggs", "18", "answer_is"),
        ("The answer is $1,234$ dollars", "1234", "answer_is"),
        ("the answer is x = -3", "-3", "answer_is"),
        ("She pays 2*3 = <<2*3=6>>6 dollars.\n#### 1,234", "1234", "hashes"),
        ("#### 7\nmore text\n#### 9", "9", "hashes"),
        ("So she has 16 - 3 - 4 = 9 eggs left, worth $18.", "18", "final_number"),
        ("The temperature drops to -5 degrees", "-5", "final_number"),
        ("We get 5-3 = 2", "2", "final_number"),
        ("costs 2,500 in total", "2500", "final_number"),
        ("about .75 of it", ".75", "final_number"),
        ("So the total is 18. Any questions or comments are welcome.", "18", "final_number"),
        ("Let us see what the answer is going to be after these steps.\n#### 5", "5", "hashes"),
        ("The answer is: Evelyn.", "Evelyn", "answer_is"),
        ("The answer is (B).", "B", "answer_is"),
    ],
)
def test_other_methods(text: str, expected: str, method: str) -> None:
    e = extract_answer(text)
    assert (e.answer, e.method, e.abstained) == (expected, method, False)


# -- abstention -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "method", "reason_part"),
    [
        ("The answer is 7 or 8.", "answer_is", "ambiguous"),
        ("The final answer is either 3 or 4", "answer_is", "ambiguous"),
        (r"\boxed{3 \text{ or } 4}", "boxed", "ambiguous"),
        (r"\boxed{x = 1 \lor x = 2}", "boxed", "ambiguous"),
        (r"It is \boxed{3}. Actually \boxed{4}.", "boxed", "conflicting"),
        (r"\boxed{5} then \boxed{}", "boxed", "empty"),
        (r"\boxed{ }", "boxed", "empty"),
        (r"\boxed{\frac{1}{2}", "boxed", "malformed"),
        (r"\boxed{\frac{1}{2}} and \boxed{\sqrt{2", "boxed", "malformed"),
        ("It could be 7 or 8", "final_number", "ambiguous"),
        ("I am not sure what to do here.", "none", "no answer"),
        ("", "none", "empty"),
        ("   \n ", "none", "empty"),
        ("The answer is $$.", "answer_is", "empty"),
    ],
)
def test_abstains(text: str, method: str, reason_part: str) -> None:
    e = extract_answer(text)
    assert e.answer is None and e.abstained
    assert e.method == method
    assert e.reason is not None and reason_part in e.reason


def test_none_input_abstains() -> None:
    e = extract_answer(None)  # type: ignore[arg-type]
    assert e.abstained and e.answer is None


def test_never_raises_on_garbage() -> None:
    """Random LaTeX-ish noise: always a valid Extraction, abstained iff no answer."""
    rng = random.Random(1234)
    alphabet = list("{}{}\\$#0123456789.,-=()[] x^_") + [
        r"\boxed{", r"\boxed", r"\frac", r"\text{", "answer is ", "####", " or ", r"\left(", r"\right)", "\n",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        e = extract_answer(text)
        assert isinstance(e, Extraction)
        assert e.abstained == (e.answer is None)
        assert e.abstained == (e.reason is not None)
        assert not (e.reason or "").startswith("extraction failed"), (text, e)


def test_extraction_model_validates() -> None:
    with pytest.raises(ValidationError):
        Extraction(answer="1", method="guess", abstained=False)  # type: ignore[arg-type]
    e = extract_answer(r"\boxed{2}")
    assert Extraction.model_validate(e.model_dump()) == e


# -- normalization ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$42$", "42"),
        (r"10\text{ cm}", "10"),
        (r"864 \mbox{ inches}^2", "864"),
        ("7.", "7"),
        ("1,000", "1000"),
        (r"11,\! 111,\! 111,\! 100", "11111111100"),
        ("3, 5, 7", "3, 5, 7"),  # a list, not a thousands separator
        ("1,-2", "1,-2"),
        (r"\dfrac{1}{2}", r"\frac{1}{2}"),
        (r"\frac 59", r"\frac{5}{9}"),
        (r"\frac{270}7\text{ degrees}", r"\frac{270}{7}"),
        (r"\sqrt2", r"\sqrt{2}"),
        (r"\left[ 1, 2 \right)", "[ 1, 2 )"),
        (r"30^\circ", "30"),
        (r"30^{\circ}", "30"),
        ("30°", "30"),
        (r"50\%", "50"),
        (r"x \in [-2,7]", "[-2,7]"),
        ("y = 2x + 3", "2x + 3"),
        ("x = 1, y = 2", "x = 1, y = 2"),  # a system: leading variable kept
        ("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z + 4 = 0"),
        (r"\text{Evelyn}", "Evelyn"),
        ("(C)", "C"),
        ("18 dollars", "18"),
        (r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}", r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}"),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


def test_normalize_is_idempotent_on_math500(math500) -> None:
    for p in math500:
        once = normalize_answer(p.gold)
        assert normalize_answer(once) == once, p.gold


# -- real data --------------------------------------------------------------------


def test_gsm8k_solutions_extract_to_gold(gsm8k) -> None:
    """All 1319 GSM8K reference solutions end in '#### <gold>'."""
    assert len(gsm8k) == 1319
    for p in gsm8k:
        e = extract_answer(p.meta["solution"])
        assert (e.answer, e.method) == (p.gold, "hashes"), p.id


def test_math500_solutions_extract_to_gold(math500) -> None:
    """The reference solutions box their answer; extraction must recover it exactly (by key)."""
    for p in math500:
        e = extract_answer(p.meta["solution"])
        assert not e.abstained, (p.id, e.reason)
        assert canonical_key(e.answer) == canonical_key(p.gold), (p.id, e.answer, p.gold)


def test_every_gold_survives_a_boxed_wrapper(gsm8k, math500) -> None:
    for p in [*gsm8k, *math500]:
        e = extract_answer(f"... so the answer is \\boxed{{{p.gold}}}.")
        assert e.method == "boxed" and not e.abstained, (p.id, e.reason)
        assert canonical_key(e.answer) == canonical_key(p.gold), (p.id, e.answer)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("So the answer is 12 books (total) - 8 books (taken away) = 12 - 8 = 4 books", "4"),
        ("The answer is x = 5.", "5"),
        ("The answer is (1, 2).", "(1, 2)"),
        ("The answer is 2x + 3.", "2x + 3"),
    ],
)
def test_answer_is_span_settles_on_one_value(text, expected):
    r = extract_answer(text)
    assert r.answer == expected and r.method == "answer_is"


@pytest.mark.parametrize("text", ["the answer is 86 in binary (1011).", "The answer is 3 apples and 4 pears"])
def test_answer_is_span_with_prose_and_several_numbers_abstains(text):
    r = extract_answer(text)
    assert r.answer is None and r.abstained and "ambiguous" in r.reason
