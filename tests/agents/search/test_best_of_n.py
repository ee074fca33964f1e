import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.backends.simulated import SimulatedReasoner
from lemmaflow.agents.scorers import ScriptedScorer
from lemmaflow.agents.search import BestOfN, MathStepProblem

from .toy import Digits


def test_best_of_n_extends_n_chains_together_and_ranks_by_score():
    p = Digits()
    res = asyncio.run(BestOfN(n=3).search(p, RunContext(backend=ScriptedLM(["-"]))))
    # root into 3 actions (0, 1, 2), then every chain one action per round, all chains in one call
    assert p.proposed == [(1, 3), (3, 1), (3, 1)]
    assert p.evaluated == [3]  # only finished chains are scored, in one call
    # chains 0-1-2, 1-1-2, 2-1-2 (one action each after the root); best score first, ties by age
    assert [leaf.answer for leaf in res.leaves] == ["212", "012", "112"]
    assert [leaf.score for leaf in res.leaves] == [2 / 3, 1 / 3, 1 / 3]
    assert res.tokens == 9 and res.rounds == 3


def test_best_of_n_math_chains_are_scored_whole():
    sim = SimulatedReasoner(steps=2, step_accuracy=0.5)
    lm = sim.backend()
    seen = []

    def fn(q, steps):
        seen.append(len(steps))
        return sim.step_scores(q, steps)

    problem = MathStepProblem("Q bon", scorer=ScriptedScorer(fn, aggregate="min"))
    res = asyncio.run(BestOfN(n=4).search(problem, RunContext(backend=lm)))
    assert seen == [3] * 4  # 2 steps + the answer step, each chain once
    assert len(res.leaves) == 4 and all(leaf.finished for leaf in res.leaves)
    assert [len(prompts) for prompts, _ in lm.calls] == [1, 4, 4]
    right = [leaf for leaf in res.leaves if leaf.answer == sim.correct]
    if right:
        assert res.best.answer == sim.correct and res.best.score == 1.0
