import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.budget import Budget, BudgetLedger
from lemmaflow.agents.backends.simulated import SimulatedReasoner
from lemmaflow.agents.scorers import ScriptedScorer
from lemmaflow.agents.search import BeamSearch, MathStepProblem

from .toy import Digits


def ctx(**kw):
    return RunContext(backend=ScriptedLM(["-"]), **kw)


def test_beam_keeps_the_best_and_batches_every_beam_in_one_call():
    p = Digits()
    res = asyncio.run(BeamSearch(beam_size=2, width=3).search(p, ctx()))
    assert res.best.answer == "222" and res.best.score == 1.0
    # root expanded into beam_size * width, then both kept beams in one call of width each
    assert p.proposed == [(1, 6), (2, 3), (2, 3)]
    assert res.rounds == 3 and res.tokens == 6 + 6 + 6
    assert res.chosen[0] == 0 and len(res.chosen) == 4  # root .. leaf


def test_beam_on_math_steps_sends_one_generate_per_round():
    sim = SimulatedReasoner(steps=2, step_accuracy=0.5, noise=0.0)
    lm = sim.backend()
    problem = MathStepProblem("Q beam", scorer=ScriptedScorer(sim.step_scores, aggregate="last"))
    res = asyncio.run(BeamSearch(beam_size=2, width=2).search(problem, RunContext(backend=lm)))
    assert len(lm.calls) == res.rounds == 3
    assert [len(prompts) for prompts, _ in lm.calls] == [1, 2, 2]
    assert [params.n for _, params in lm.calls] == [4, 2, 2]
    assert all(params.stop == ("\n\n",) for _, params in lm.calls)
    # later prompts continue the assistant's own message with the chosen steps
    assert all("Step 1:" in prompt.split("<assistant>")[-1] for prompt in lm.calls[1][0])


def test_beam_shrinks_to_the_ledger_and_stops_cleanly():
    sim = SimulatedReasoner(steps=3, step_accuracy=1.0)
    lm = sim.backend()
    problem = MathStepProblem("Q budget", scorer=ScriptedScorer(sim.step_scores))
    c = RunContext(backend=lm, ledger=BudgetLedger(Budget(max_samples=6)))
    res = asyncio.run(BeamSearch(beam_size=2, width=2, max_tokens=8).search(problem, c))
    # 4 samples, then the 2 left (one per beam), then nothing: stopped, with unfinished leaves
    assert [params.n * len(prompts) for prompts, params in lm.calls] == [4, 2]
    assert res.budget_limited and c.ledger.total.samples == 6
    assert res.leaves and not any(leaf.finished for leaf in res.leaves)


def test_beam_token_budget_stops_after_the_round_that_reaches_it():
    p = Digits()
    res = asyncio.run(BeamSearch(beam_size=2, width=3, token_budget=7).search(p, ctx()))
    assert p.proposed == [(1, 6), (2, 3)] and res.tokens == 12 and res.budget_limited


def test_bad_config_is_a_validation_error():
    with pytest.raises(ValueError):
        BeamSearch(beam_size=0)
    with pytest.raises(ValueError):
        BeamSearch(nonsense=1)
