"""Deterministic scripted-model tests of the FOBAR node (orchestration, budget, batching)."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.budget import Budget, BudgetLedger
from lemmaflow.agents.nodes import FOBAR

Q = "Tom has 3 apples and buys 4 more. How many apples does he have?"


def backward_lm(forward, recover):
    """Forward answers cycle through ``forward``; a backward chain answers recover(candidate, masked_question)."""

    def fn(prompt, i):
        if "unknown variable x" in prompt:
            cand = prompt.split("the above question is ")[1].split(",")[0]
            return f"So x = \\boxed{{{recover(cand, prompt)}}}."
        return f"\\boxed{{{forward[i % len(forward)]}}}"

    return ScriptedLM(fn)


def run(node, lm, checker, question=Q, budget=None):
    ctx = RunContext(backend=lm, checker=checker, ledger=BudgetLedger(budget))
    return asyncio.run(node(ctx, question=question)), ctx


def test_backward_check_overturns_the_forward_majority(checker):
    # Forward 2:1 for the wrong 8; backward recovers x only from the right answer 7.
    lm = backward_lm(["8", "7", "8"], lambda cand, p: (3 if "has x apples" in p else 4) if cand == "7" else 5)
    out, ctx = run(FOBAR(n=3, m=2, mask="all"), lm, checker)
    assert out.forward_answer == "8" and out.answer == "7"
    by = {c.answer: c for c in out.candidates}
    assert by["8"].p_f == pytest.approx(2 / 3) and by["8"].p_b == 0.0 and by["8"].score == 0.0
    assert by["7"].p_b == 1.0 and by["7"].score == pytest.approx((1 / 3) ** 0.5)
    assert len(out.backward) == 4 and all(len(b.answers) == 2 for b in out.backward)
    # Every backward prompt of the problem went out in ONE generate call: forward call + backward call.
    assert len(lm.calls) == 2 and len(lm.calls[1][0]) == 4 and lm.calls[1][1].n == 2
    assert out.samples_used == 3 + 8
    assert ctx.ledger.per_node["fobar/backward"].samples == 8
    scores = ctx.trace.of_kind("score")
    assert len(scores) == 4 and {e.data["check"] for e in scores} == {"fobar_backward"}


def test_alpha_one_is_plain_self_consistency(checker):
    lm = backward_lm(["8", "7", "8"], lambda cand, p: 3 if cand == "7" else 5)
    out, _ = run(FOBAR(n=3, m=2, mask="first", alpha=1.0), lm, checker)
    assert out.answer == "8" == out.forward_answer


def test_recovery_uses_answer_equivalence_not_strings(checker):
    q = "A cake needs 1/2 cup of sugar and 2 eggs. How much in total?"
    lm = backward_lm(["5", "6", "5"], lambda cand, p: "0.5" if cand == "6" else "0.25")
    out, _ = run(FOBAR(n=3, m=1, mask="first"), lm, checker, question=q)
    assert out.maskings[0].answer == "0.5" and out.maskings[0].text == "1/2"
    assert out.answer == "6"
    lm = backward_lm(["5", "6", "5"], lambda cand, p: "\\frac{1}{2}" if cand == "6" else "3")
    out, _ = run(FOBAR(n=3, m=1, mask="first"), lm, checker, question=q)
    assert out.answer == "6" and out.backward[1].recovered == [True]


def test_unanimous_forward_skips_backward(checker):
    lm = backward_lm(["7"], lambda cand, p: 0)
    out, _ = run(FOBAR(n=4, m=3), lm, checker)
    assert out.answer == "7" and out.backward_skipped == "unanimous" and out.backward == []
    assert len(lm.calls) == 1 and out.samples_used == 4
    out, _ = run(FOBAR(n=4, m=3, mask="first", skip_unanimous=False), lm, checker)
    assert out.backward_skipped is None and len(out.backward) == 1


def test_no_maskable_number_and_no_candidates(checker):
    lm = backward_lm(["8", "7"], lambda cand, p: 0)
    out, _ = run(FOBAR(n=2), lm, checker, question="How many legs does a spider have?")
    assert out.backward_skipped == "no_maskable_number" and out.answer == "8" and len(lm.calls) == 1
    out, _ = run(FOBAR(n=2), ScriptedLM(["I do not know."]), checker)
    assert out.answer is None and out.backward_skipped == "no_candidates" and out.candidates == []


def test_top_k_limits_the_candidates_checked(checker):
    lm = backward_lm(["8", "8", "7", "6"], lambda cand, p: 3 if cand == "6" else 0)
    out, _ = run(FOBAR(n=4, m=1, mask="first", top_k=2), lm, checker)
    assert [c.answer for c in out.candidates] == ["8", "7", "6"]
    assert {b.candidate for b in out.backward} == {"8", "7"}
    assert out.candidates[2].p_b is None and out.candidates[2].score == 0.0
    assert out.answer == "8"  # 6 would win the backward check but is outside the top 2


def test_budget_too_small_for_backward_returns_forward_answer(checker):
    lm = backward_lm(["8", "7", "8"], lambda cand, p: 3 if cand == "7" else 5)
    # 3 forward samples fit; 2 candidates x 1 mask x 2 samples = 4 backward samples do not.
    out, ctx = run(FOBAR(n=3, m=2, mask="first"), lm, checker, budget=Budget(max_samples=6))
    assert out.answer == "8" == out.forward_answer
    assert out.budget_limited and out.backward_skipped == "budget"
    assert ctx.ledger.total.samples == 3 and len(lm.calls) == 1
    out, ctx = run(FOBAR(n=3, m=2, mask="first"), lm, checker, budget=Budget(max_samples=7))
    assert out.answer == "7" and not out.budget_limited and ctx.ledger.total.samples == 7


def test_bad_backward_template_is_a_clear_error():
    with pytest.raises(ValueError, match="backward_template"):
        FOBAR(backward_template="no fields here")
