import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.budget import Budget, BudgetExceeded, BudgetLedger
from lemmaflow.agents.search import SearchBudget, SearchTree

from .toy import Digits


def test_fit_shrinks_to_the_ledger_and_stops_at_zero():
    ctx = RunContext(backend=ScriptedLM(["-"]), ledger=BudgetLedger(Budget(max_completion_tokens=100)))
    b = SearchBudget(ctx, token_budget=None, max_tokens=10)
    assert b.fit(2, 4) == 4 and not b.limited  # 8 x 10 <= 100
    assert b.fit(4, 4) == 2 and b.limited  # 10 affordable: 2 per state
    ctx.ledger.record("x", 0, 95, 1)
    assert b.fit(1, 1) == 0


def test_token_budget_and_budget_exceeded_during_propose_stop_cleanly():
    ctx = RunContext(backend=ScriptedLM(["-"]))
    b = SearchBudget(ctx, token_budget=3, max_tokens=1)
    p = Digits()
    assert asyncio.run(b.propose(p, [""], 3)) is not None and b.spent == 3
    assert asyncio.run(b.propose(p, [""], 1)) is None and b.limited

    class Broke(Digits):
        async def propose(self, ctx, states, n):
            raise BudgetExceeded("n", "samples", 1, 1, 1)

    b2 = SearchBudget(ctx, None, 1)
    assert asyncio.run(b2.propose(Broke(), [""], 1)) is None and b2.limited
    assert any(e.kind == "budget_stop" for e in ctx.trace.events)


def test_values_are_clamped_and_the_tree_traces_every_node():
    class Wild(Digits):
        async def evaluate(self, ctx, states):
            return [-1.0, 2.0]

    ctx = RunContext(backend=ScriptedLM(["-"]))
    b = SearchBudget(ctx, None, 1)
    assert asyncio.run(b.evaluate(Wild(), ["a", "b"])) == [0.0, 1.0]
    tree = SearchTree(Digits(), ctx, "t")
    kid = tree.add(tree.root, asyncio.run(Digits().propose(ctx, [""], 1))[0][0])
    assert tree.path(kid) == [0, 1] and kid.depth == 1 and kid.text == "0"
    events = [e.data for e in ctx.trace.events if e.kind == "search_node"]
    assert [(d["id"], d["parent"]) for d in events] == [(0, None), (1, 0)]


def test_max_depth_makes_a_state_terminal():
    p = Digits()
    p.max_depth = 1
    tree = SearchTree(p, RunContext(backend=ScriptedLM(["-"])), "t")
    kid = tree.add(tree.root, asyncio.run(p.propose(None, [""], 1))[0][0])
    assert kid.terminal and kid.answer == "0"
    with pytest.raises(TypeError):
        SearchBudget(None)  # ctx, token_budget and max_tokens are required
