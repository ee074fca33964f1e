"""Named models on RunContext: fallback to the generator, per-model ledger and trace, caps over all models."""

import asyncio

import pytest

from lemmaflow.agents import Budget, BudgetExceeded, BudgetLedger, RunContext
from lemmaflow.agents.backends import BackendError, SamplingParams, ScriptedLM
from lemmaflow.agents.scorers import ScriptedRewardModel


def ctx_with_verifier(**kw):
    gen = ScriptedLM(["The answer is 4."], model_id="gen-m")
    judge = ScriptedLM(["Correct, yes."], model_id="judge-m")
    return RunContext(backend=gen, problem_id="p1", models={"verifier": judge}, **kw), gen, judge


def test_model_falls_back_to_the_generator():
    ctx, gen, judge = ctx_with_verifier()
    assert ctx.model().backend is gen and ctx.model("generator").backend is gen
    assert ctx.model("verifier").backend is judge and ctx.model("verifier").model_id == "judge-m"
    assert ctx.model("critic").backend is gen  # nobody configured a critic
    assert ctx.child("a").model("verifier").backend is judge  # sub-nodes see the same models


def test_usage_is_recorded_per_model_and_in_the_snapshot():
    ctx, gen, judge = ctx_with_verifier()

    async def go():
        await ctx.child("sc").generate(["q"], SamplingParams(n=2))
        await ctx.child("check").model("verifier").generate(["is 4 right?"], SamplingParams())
        await ctx.model("critic").generate(["critique"], SamplingParams())  # the generator, as "critic"

    asyncio.run(go())
    pm = ctx.ledger.per_model
    assert pm["generator"].samples == 2 and pm["verifier"].samples == 1 and pm["critic"].samples == 1
    assert pm["verifier"].completion_tokens == 2 and pm["verifier"].prompt_tokens == 3
    assert ctx.ledger.total.samples == 4
    assert sum(u.total_tokens for u in pm.values()) == ctx.ledger.total.total_tokens
    snap = ctx.ledger.snapshot()
    assert snap["per_model"]["verifier"] == {"prompt_tokens": 3, "completion_tokens": 2, "llm_calls": 1,
                                             "samples": 1, "total_tokens": 5}
    assert len(judge.calls) == 1 and len(gen.calls) == 2


def test_trace_names_the_role_and_the_model():
    ctx, _, _ = ctx_with_verifier()
    asyncio.run(ctx.model("verifier").generate(["x"], SamplingParams()))
    asyncio.run(ctx.generate(["y"], SamplingParams()))
    calls = ctx.trace.of_kind("llm_call")
    assert [(e.data["model"], e.data["model_id"]) for e in calls] == [("verifier", "judge-m"), ("generator", "gen-m")]


def test_errors_are_traced_with_the_role():
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"verifier": ScriptedLM([])})  # empty script fails
    with pytest.raises(BackendError):
        asyncio.run(ctx.model("verifier").generate(["x"], SamplingParams()))
    [err] = ctx.trace.of_kind("llm_error")
    assert err.data["model"] == "verifier"


def test_budget_caps_apply_to_the_total_over_all_models():
    ctx, _, judge = ctx_with_verifier(ledger=BudgetLedger(Budget(max_samples=3)))
    asyncio.run(ctx.generate(["q"], SamplingParams(n=2)))
    asyncio.run(ctx.model("verifier").generate(["v"], SamplingParams()))
    with pytest.raises(BudgetExceeded, match="samples budget exhausted"):
        asyncio.run(ctx.model("verifier").generate(["v"], SamplingParams()))
    assert len(judge.calls) == 1  # refused before the call


def test_a_reward_model_role_cannot_generate():
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": ScriptedRewardModel(lambda q, s: [1.0] * len(s))})
    with pytest.raises(BackendError, match="'prm' \\(ScriptedRewardModel\\) cannot generate text"):
        asyncio.run(ctx.model("prm").generate(["x"], SamplingParams()))


def test_record_usage_counts_non_generation_calls():
    ctx = RunContext(backend=ScriptedLM(["x"]), ledger=BudgetLedger(Budget(max_llm_calls=1)))
    ctx.child("rm").record_usage(model="prm", prompt_tokens=40, latency_s=0.1)
    assert ctx.ledger.per_model["prm"].prompt_tokens == 40 and ctx.ledger.per_node["rm"].llm_calls == 1
    [ev] = ctx.trace.of_kind("model_call")
    assert ev.node == "rm" and ev.data["model"] == "prm" and ev.data["latency_s"] == 0.1
    with pytest.raises(BudgetExceeded, match="llm calls"):  # the reward-model call counted against the cap
        asyncio.run(ctx.generate(["q"], SamplingParams()))
