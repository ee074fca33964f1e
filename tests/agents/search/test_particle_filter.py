import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.search import ParticleFilter
from lemmaflow.agents.search.particle_filter import resample_weights

from .toy import Digits


def test_weights():
    w = resample_weights([0.5, 0.75], "softmax_logit", 1.0)
    assert w == pytest.approx([1 / 4, 3 / 4])  # exp(logit r) = r / (1 - r): 1 and 3
    assert resample_weights([0.2, 0.6], "linear", 1.0) == pytest.approx([0.25, 0.75])
    assert resample_weights([0.0, 0.0], "linear", 1.0) == [0.5, 0.5]


def test_particles_resample_toward_high_scores_and_budget_is_particles_times_steps():
    p = Digits()
    ctx = RunContext(backend=ScriptedLM(["-"]), problem_id="pf")
    res = asyncio.run(ParticleFilter(particles=4, seed=1).search(p, ctx))
    assert p.proposed == [(1, 4), (4, 1), (4, 1)]
    assert res.tokens == 4 * 3
    resamples = [e.data for e in ctx.trace.events if e.kind == "info" and e.data.get("event") == "resample"]
    assert len(resamples) == 2 and all(len(r["picked"]) == 4 for r in resamples)
    # deterministic for a seed and problem id
    again = asyncio.run(ParticleFilter(particles=4, seed=1).search(Digits(), RunContext(backend=ScriptedLM(["-"]),
                                                                                         problem_id="pf")))
    assert [leaf.answer for leaf in again.leaves] == [leaf.answer for leaf in res.leaves]
