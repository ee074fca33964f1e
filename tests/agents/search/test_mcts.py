import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.backends.simulated import SimulatedReasoner
from lemmaflow.agents.scorers import ScriptedScorer
from lemmaflow.agents.search import MCTS, MathStepProblem

from .toy import Digits


def test_mcts_visits_add_up_and_the_most_visited_path_is_chosen():
    p = Digits()
    res = asyncio.run(MCTS(simulations=12, width=3, c_puct=1.0).search(p, RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "222"
    assert all(n == 3 for _, n in p.proposed)  # each expansion proposes `width` children
    assert res.rounds == len(p.proposed) <= 12
    assert res.leaves[0].finished and res.best.score == 1.0


def test_mcts_root_visits_equal_backups_and_puct_explores():
    p = Digits()
    ctx = RunContext(backend=ScriptedLM(["-"]))
    algo = MCTS(simulations=6, width=3, c_puct=1.0)
    res = asyncio.run(algo.search(p, ctx))
    nodes = [e.data for e in ctx.trace.events if e.kind == "search_node"]
    last = {}
    for d in nodes:
        last[d["id"]] = d
    root, expansions = last[0], len(p.proposed)
    terminal_revisits = 6 - expansions
    assert root["visits"] == 3 * expansions + terminal_revisits
    # children of the root were all visited at least once (expansion values each)
    assert all(last[i]["visits"] >= 1 for i in (1, 2, 3))
    assert res.chosen[0] == 0 and last[res.chosen[-1]]["terminal"]


def test_mcts_rollout_value_finishes_children_and_counts_their_tokens():
    sim = SimulatedReasoner(steps=3, step_accuracy=1.0)
    lm = sim.backend()
    problem = MathStepProblem("Q mcts", scorer=ScriptedScorer(sim.step_scores, aggregate="min"))
    res = asyncio.run(MCTS(simulations=1, width=2, value="rollout").search(problem, RunContext(backend=lm)))
    # one expansion (2 steps, stop at the delimiter), then one rollout call without a stop string
    assert [(len(p), s.n, s.stop) for p, s in lm.calls] == [(1, 2, ("\n\n",)), (2, 1, ())]
    # the ScriptedLM rollout writes one step per call; tokens of both calls are charged
    assert res.tokens == 2 * 3 + 2 * 3
