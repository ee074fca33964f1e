import asyncio

import pytest

from lemmaflow.agents import Budget, BudgetExceeded, BudgetLedger, Pipeline, RunContext
from lemmaflow.agents.backends import SamplingParams, ScriptedLM
from lemmaflow.agents.nodes import ChainOfThought, SelfConsistency


def test_ledger_records_per_node_and_total():
    led = BudgetLedger()
    led.record("a", prompt_tokens=10, completion_tokens=20, samples=2)
    led.record("b", prompt_tokens=1, completion_tokens=2, samples=1)
    snap = led.snapshot()
    assert snap["total"]["prompt_tokens"] == 11 and snap["total"]["completion_tokens"] == 22
    assert snap["total"]["samples"] == 3 and snap["total"]["llm_calls"] == 2
    assert snap["per_node"]["a"]["completion_tokens"] == 20


@pytest.mark.parametrize(
    "budget, resource",
    [
        (Budget(max_samples=4), "samples"),
        (Budget(max_llm_calls=1), "llm_calls"),
        (Budget(max_completion_tokens=100), "completion_tokens"),
        (Budget(max_total_tokens=100), "total_tokens"),
    ],
)
def test_check_uses_worst_case(budget, resource):
    led = BudgetLedger(budget)
    led.check("x", samples=2, max_completion_tokens=60)
    led.record("x", prompt_tokens=5, completion_tokens=40, samples=2)
    with pytest.raises(BudgetExceeded) as info:
        led.check("x", samples=3, max_completion_tokens=61)
    assert info.value.resource == resource and info.value.node == "x"


def test_wall_clock_cap():
    now = [0.0]
    led = BudgetLedger(Budget(max_wall_s=5), clock=lambda: now[0])
    led.check("x", 1, 1)
    now[0] = 5.0
    with pytest.raises(BudgetExceeded, match="wall"):
        led.check("x", 1, 1)
    assert led.affordable_samples(10) == 0


def test_affordable_samples():
    led = BudgetLedger(Budget(max_samples=10, max_completion_tokens=1000))
    assert led.affordable_samples(100) == 10
    led.record("x", 0, 700, 3)
    assert led.affordable_samples(100) == 3
    assert BudgetLedger().affordable_samples(100) is None


def test_context_generate_is_budgeted_and_traced():
    ctx = RunContext(backend=ScriptedLM(["one two three"]), ledger=BudgetLedger(Budget(max_samples=3)))
    asyncio.run(ctx.child("n1").generate(["p"], SamplingParams(n=2, max_tokens=10)))
    assert ctx.ledger.per_node["n1"].samples == 2
    assert ctx.ledger.total.completion_tokens == 6  # 3 whitespace tokens x 2
    call = ctx.trace.of_kind("llm_call")[0]
    assert call.node == "n1" and call.data["outputs"] == [["one two three"] * 2]
    with pytest.raises(BudgetExceeded):
        asyncio.run(ctx.child("n1").generate(["p"], SamplingParams(n=2, max_tokens=10)))
    assert ctx.ledger.total.samples == 2  # the refused call cost nothing


def test_self_consistency_shrinks_to_budget(checker):
    lm = ScriptedLM(["\\boxed{7}"])
    ctx = RunContext(backend=lm, checker=checker, ledger=BudgetLedger(Budget(max_samples=5)))
    out = asyncio.run(SelfConsistency(n=8, max_tokens=16)(ctx, question="q"))
    assert out.samples_used == 5 and out.budget_limited and out.answer == "7"
    assert ctx.ledger.total.samples == 5


def test_pipeline_stops_cleanly_when_budget_is_gone(checker):
    pipe = Pipeline(inputs={"question": str})
    pipe.add("cot", ChainOfThought(max_tokens=100))
    pipe.connect("input.question", "cot.question")
    ctx = RunContext(backend=ScriptedLM(["\\boxed{1}"]), checker=checker,
                     ledger=BudgetLedger(Budget(max_completion_tokens=50)))
    res = asyncio.run(pipe.run({"question": "q"}, ctx))
    assert res.status == "budget_exhausted"
    assert res.failed_node == "cot" and "completion tokens budget exhausted" in res.error
    assert ctx.ledger.total.llm_calls == 0
    assert ctx.trace.of_kind("budget_stop")
