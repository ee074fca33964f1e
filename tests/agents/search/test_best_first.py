import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.search import BestFirst

from .toy import Digits


def ctx():
    return RunContext(backend=ScriptedLM(["-"]))


class DeadOnes(Digits):
    """Digits where any "0" is a dead end (terminal, no solution)."""

    def is_terminal(self, state):
        return len(state) >= 3 or "0" in state

    def is_solution(self, state):
        return "0" not in state


def test_best_first_expands_the_best_open_node_and_stops_at_the_first_solution():
    p = Digits()
    res = asyncio.run(BestFirst(width=3).search(p, ctx()))
    # root -> "0","1","2": best "2" -> "20","21","22" (depth 1 actions start at 1): best "22" -> "222"
    assert res.best.answer == "222" and res.best.score == 1.0
    assert p.proposed == [(1, 3), (1, 3), (1, 3)] and res.rounds == 3
    # it stops in the round that found a solution; that round's solutions are the leaves, best first
    assert [leaf.answer for leaf in res.leaves] == ["222", "220", "221"]


def test_dead_ends_are_never_leaves_nor_expanded():
    p = DeadOnes()
    res = asyncio.run(BestFirst(width=3, solutions=5, expansions=50).search(p, ctx()))
    answers = {leaf.answer for leaf in res.leaves}
    assert answers and all("0" not in a for a in answers)
    assert p.proposed and all(n == 3 for _, n in p.proposed)


def test_batch_expands_several_nodes_in_one_call_and_expansions_bound_the_search():
    p = Digits()
    res = asyncio.run(BestFirst(width=2, batch=2, expansions=3).search(p, ctx()))
    assert p.proposed == [(1, 2), (2, 2)]  # root alone, then two nodes in one call; 3 expansions in all
    assert res.rounds == 2


def test_a_failed_search_returns_the_best_unfinished_node():
    p = Digits()
    res = asyncio.run(BestFirst(width=1, expansions=1).search(p, ctx()))
    assert len(res.leaves) == 1 and not res.leaves[0].finished


def test_token_budget_stops_the_search():
    p = Digits()
    res = asyncio.run(BestFirst(width=3, token_budget=3).search(p, ctx()))
    assert res.budget_limited and res.rounds == 1 and res.tokens == 3
