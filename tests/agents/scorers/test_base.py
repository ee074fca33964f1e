"""Scorer interface: registry errors, the reward-model scorer's checks and usage, aggregation."""

import asyncio
import math

import pytest

from lemmaflow.agents import Budget, BudgetExceeded, BudgetLedger, RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.scorers import (
    RewardModelScorer,
    RewardOutput,
    ScorerError,
    ScorerRegistry,
    ScriptedRewardModel,
    ScriptedScorer,
    StepScoreRequest,
    aggregate_scores,
    build_scorer,
    default_scorer_registry,
)

REQS = [StepScoreRequest(question="2+2?", steps=("2+2=4", "so 4")), StepScoreRequest(question="q", steps=("x",))]


def by_length(q, steps):
    return [1 / (1 + len(s)) for s in steps]


def score(scorer, ctx, reqs=REQS):
    return asyncio.run(scorer.score(ctx, reqs))


def test_build_scorer_errors_are_clear():
    with pytest.raises(ScorerError, match=r"unknown scorer type 'prm'; known: \[.*'reward_model'.*\]"):
        build_scorer({"type": "prm"})
    with pytest.raises(ScorerError, match="a mapping with a 'type'"):
        build_scorer({"model": "prm"})
    with pytest.raises(ScorerError, match="(?s)scorer .reward_model.: invalid config.*aggregate"):
        build_scorer({"type": "reward_model", "aggregate": "median"})
    with pytest.raises(ScorerError, match="(?s)invalid config.*modle"):
        build_scorer({"type": "reward_model", "modle": "prm"})


def test_registry_is_explicit_and_extensible():
    reg = ScorerRegistry()
    with pytest.raises(ScorerError, match="known: \\[\\]"):
        build_scorer({"type": "reward_model"}, reg)
    reg.register(RewardModelScorer)
    assert isinstance(build_scorer({"type": "reward_model"}, reg), RewardModelScorer)
    assert "reward_model" in default_scorer_registry().kinds()
    built = build_scorer({"type": "reward_model", "model": "rm"})
    assert build_scorer(built) is built and built.describe() == {"type": "reward_model", "aggregate": "last", "model": "rm"}


def test_reward_model_scorer_needs_a_reward_model_in_the_role():
    scorer = build_scorer({"type": "reward_model", "model": "prm"})
    with pytest.raises(ScorerError, match="needs a reward model named 'prm'.*got nothing"):
        score(scorer, RunContext(backend=ScriptedLM(["x"])))
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": ScriptedLM(["y"])})  # an LLM, not a PRM
    with pytest.raises(ScorerError, match="got ScriptedLM"):
        score(scorer, ctx)
    assert score(scorer, RunContext(backend=ScriptedLM(["x"])), []) == []  # nothing to score: no model needed


def test_reward_model_scorer_scores_and_records_usage_under_the_role():
    prm = ScriptedRewardModel(by_length, model_id="my-prm")
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"verifier_prm": prm})
    scorer = build_scorer({"type": "reward_model", "model": "verifier_prm", "aggregate": "mean"})
    a, b = score(scorer, ctx.child("search"))
    assert a.steps == [1 / 6, 1 / 5] and a.value == pytest.approx((1 / 6 + 1 / 5) / 2) and b.steps == [0.5]
    assert len(prm.calls) == 1 and len(prm.calls[0]) == 2  # one batched call
    used = ctx.ledger.per_model["verifier_prm"]
    assert used.prompt_tokens == 6 and used.llm_calls == 1 and used.samples == 0  # (1+1+2) + (1+1) words
    assert ctx.ledger.per_node["search"].prompt_tokens == 6
    [ev] = ctx.trace.of_kind("model_call")
    assert ev.data["model"] == "verifier_prm" and ev.data["model_id"] == "my-prm" and ev.data["n_requests"] == 2


def test_reward_model_scorer_is_budgeted():
    prm = ScriptedRewardModel(by_length)
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": prm}, ledger=BudgetLedger(Budget(max_llm_calls=1)))
    scorer = build_scorer({"type": "reward_model"})
    score(scorer, ctx)
    with pytest.raises(BudgetExceeded):
        score(scorer, ctx)
    assert len(prm.calls) == 1


class _Broken:
    model_id = "broken"

    def __init__(self, outs):
        self.outs = outs

    async def score_steps(self, requests):
        return self.outs

    async def aclose(self):
        return None


def test_step_count_and_output_count_mismatches_are_errors():
    scorer = build_scorer({"type": "reward_model"})
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": _Broken([RewardOutput(steps=[0.5]), RewardOutput(steps=[0.5])])})
    with pytest.raises(ScorerError, match="'broken' gave 1 step scores for 2 steps"):
        score(scorer, ctx)
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": _Broken([RewardOutput(steps=[0.5, 0.5])])})
    with pytest.raises(ScorerError, match="returned 1 outputs for 2 requests"):
        score(scorer, ctx)


@pytest.mark.parametrize(
    "how, expected",
    [("last", 0.5), ("min", 0.2), ("mean", (0.9 + 0.2 + 0.5) / 3), ("prod", 0.9 * 0.2 * 0.5)],
)
def test_aggregate_scores_skips_unjudged_steps(how, expected):
    assert aggregate_scores([0.9, None, 0.2, 0.5, None], how) == pytest.approx(expected)


def test_aggregate_of_nothing_judged_is_neutral():
    for how in ("last", "min", "mean", "prod"):
        assert aggregate_scores([None, None], how) == 0.5 and aggregate_scores([], how) == 0.5


def test_scripted_scorer_records_nothing():
    ctx = RunContext(backend=ScriptedLM(["x"]))
    [s] = score(ScriptedScorer(by_length, aggregate="prod"), ctx, REQS[:1])
    assert s.value == pytest.approx(math.prod([1 / 6, 1 / 5])) and ctx.ledger.total.llm_calls == 0
