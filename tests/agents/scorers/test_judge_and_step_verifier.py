"""Scripted-model tests of the judge and step-verifier scorers, and the sympy arithmetic check."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.budget import Budget, BudgetExceeded, BudgetLedger
from lemmaflow.agents.scorers import JudgeScorer, ScorerError, StepScoreRequest, StepVerifierScorer, build_scorer
from lemmaflow.agents.scorers.judge import parse_verdict
from lemmaflow.agents.scorers.step_verifier import check_equations


def score(scorer, requests, lm, **ctx_kw):
    ctx = RunContext(backend=lm, **ctx_kw)
    return asyncio.run(scorer.score(ctx, requests)), ctx


@pytest.mark.parametrize("text, verdict", [
    ("The step is fine.\nVERDICT: correct", True),
    ("VERDICT: incorrect", False),
    ("verdict: **Correct**", True),
    ("First VERDICT: correct, on reflection\nVERDICT: incorrect", False),
    ("Looks right to me.", None),
    ("", None),
])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) is verdict


def test_judge_scores_every_step_in_one_call_against_its_premises():
    seen = []

    def judge(prompt, i):
        seen.append(prompt)
        return "VERDICT: incorrect" if "Step to check: 2 * 5 = 11" in prompt else "fine\nVERDICT: correct"

    lm = ScriptedLM(judge)
    reqs = [StepScoreRequest(question="Q1", steps=("2 + 3 = 5", "2 * 5 = 11")),
            StepScoreRequest(question="Q2", steps=("ok",))]
    out, ctx = score(JudgeScorer(), reqs, lm)
    assert [o.steps for o in out] == [[1.0, 0.0], [1.0]]
    assert out[0].value == 0.0 and out[1].value == 1.0  # aggregate "min"
    assert len(lm.calls) == 1 and len(lm.calls[0][0]) == 3
    # The second step is judged with the first as its premise; the first has none.
    assert "1. 2 + 3 = 5" in seen[1] and "(none)" in seen[0]
    assert ctx.ledger.per_model["verifier"].samples == 3


def test_judge_votes_and_abstentions():
    replies = iter(["VERDICT: correct", "VERDICT: incorrect", "VERDICT: correct", "no verdict", "hmm", "?"])
    lm = ScriptedLM(lambda p, i: next(replies))
    out, _ = score(JudgeScorer(votes=3), [StepScoreRequest(question="q", steps=("a", "b"))], lm)
    assert out[0].steps[0] == pytest.approx(2 / 3)
    assert out[0].steps[1] is None and "abstained" in out[0].details[1]["why"]
    assert lm.calls[0][1].n == 3 and lm.calls[0][1].temperature == 0.7
    assert out[0].value == pytest.approx(2 / 3)  # abstentions are left out of the aggregate


def test_judge_runs_on_the_named_verifier_model_when_configured():
    gen, ver = ScriptedLM(["VERDICT: incorrect"]), ScriptedLM(["VERDICT: correct"], model_id="judge")
    out, ctx = score(JudgeScorer(), [StepScoreRequest(question="q", steps=("a",))], gen, models={"verifier": ver})
    assert out[0].steps == [1.0] and not gen.calls and len(ver.calls) == 1


def test_judge_is_budgeted():
    lm = ScriptedLM(["VERDICT: correct"])
    with pytest.raises(BudgetExceeded):
        score(JudgeScorer(), [StepScoreRequest(question="q", steps=("a", "b"))], lm,
              ledger=BudgetLedger(Budget(max_samples=1)))


def test_bad_judge_specs_are_clear_errors():
    with pytest.raises(ScorerError, match="judge"):
        build_scorer({"type": "judge", "prompt": "no fields"})
    with pytest.raises(ScorerError, match="unknown scorer type"):
        build_scorer({"type": "nope"})


@pytest.mark.parametrize("step, expected", [
    ("She has 3 × 4 = 12 eggs.", [True]),
    ("She pays $12 + $3 = $15 in all.", [True]),
    ("She pays $12 + $3 = $16 in all.", [False]),
    ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.", [True]),
    ("so 80,000*1.5=120,000 dollars", [True]),
    ("(3 + 4) × 2 = 14 = 15", [False]),
    ("2 + 3 = 5 * 2 = 10", [False]),          # a sloppy chain a = b = c is false as written
    ("10 / 3 = 3.33", [True]),                 # rounded to the digits shown
    ("10 / 3 = 3.4", [False]),
    ("20% * 50 = 10", [True]),
    ("we get 5 - 2 = 3, then 3 * 3 = 9.", [True, True]),
])
def test_arithmetic_check(step, expected):
    assert [c["ok"] for c in check_equations(step)] == expected


@pytest.mark.parametrize("step", [
    "1/2 of 10 = 5",      # no operator on the left of '='
    "x * 3 + 4 = 10",     # algebra with a variable
    "2x + 3 = 7",
    "3 + 4 = 7x",
    "3 + 4 = 7 + y",
    "4 / 0 = 1",          # division by zero is not judged by sympy
    "The answer is 12.",
])
def test_unparseable_or_algebraic_steps_are_left_to_the_judge(step):
    assert check_equations(step) == []


def test_false_equation_scores_zero_whatever_the_judge_says():
    lm = ScriptedLM(["VERDICT: correct"])
    steps = ("3 + 4 = 8 apples", "Then 8 * 2 = 16.", "So the answer is 16.")
    out, _ = score(StepVerifierScorer(), [StepScoreRequest(question="q", steps=steps)], lm)
    s = out[0]
    assert s.steps == [0.0, 1.0, 1.0] and s.value == 0.0
    assert "3 + 4 = 8 is false" in s.details[0]["why"]
    assert s.details[1]["why"] == "arithmetic checked, judge" and s.details[2]["why"] == "judge"
    assert len(lm.calls[0][0]) == 2  # the false step was not sent to the judge


def test_true_arithmetic_still_needs_the_judge_and_abstention_defers():
    lm = ScriptedLM(lambda p, i: "VERDICT: incorrect" if "2 + 2 = 4" in p.split("Step to check:")[1] else "??")
    out, _ = score(StepVerifierScorer(), [StepScoreRequest(question="q", steps=("2 + 2 = 4 but it is wrong", "ok"))], lm)
    assert out[0].steps == [0.0, None]  # the judge says the step is wrong; the second: abstained, no equation


def test_sympy_only_mode_makes_no_model_call():
    lm = ScriptedLM(["VERDICT: incorrect"])
    out, ctx = score(StepVerifierScorer(judge=False), [StepScoreRequest(question="q", steps=("1 + 1 = 2", "words"))], lm)
    assert out[0].steps == [1.0, None] and not lm.calls and ctx.ledger.total.llm_calls == 0
