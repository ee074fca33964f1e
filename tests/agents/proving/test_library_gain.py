"""Library gains, measured honestly: a simulated proof model with known odds (it writes real proofs that real
Coq, or the Lean REPL double, accepts or rejects) runs through the real prove job; the library arm's gain over
the no-library baseline at equal generated tokens must match theory, and be zero when the lemmas shown do not
change the odds (the equal-compute rebuttal of library methods, arXiv 2504.03048).

Theory (agents/backends/simulated_prover.py): per key lemma with problems at positions t = 1..n,
E[gain] = sum_t (1 - (1 - p_hidden)^(t-1)) (p_shown - p_hidden); the variance is exact (first-success DP).
Tolerance: 4 standard deviations of the predicted gain (the draws are seeded, so a run is reproducible;
the tolerance covers any seed).
"""

from __future__ import annotations

import asyncio
import random

from lemmaflow.agents.backends.simulated_prover import SimulatedProofModel
from lemmaflow.agents.proving.job import ProveJob, ProveJobConfig
from lemmaflow.agents.proving.lego import LegoProver

SIGMAS = 4.0


def run_job(sim: SimulatedProofModel, prover, store, out) -> dict:
    config = ProveJobConfig(attempts=1, evolve_every=0, concurrency=1, prover=LegoProver.Config(
        sketch=False, repair_rounds=0, retrieve_k=8, max_tokens=sim.tokens, temperature=1.0))
    job = ProveJob(sim.problems, sim.backend(), prover, store, out, config, dataset="simulated")
    state = asyncio.run(job.run())
    assert state.errors == 0
    return job.write_report()


def check_against_theory(report: dict, sim: SimulatedProofModel) -> tuple[int, float, float]:
    arms, eq = report["arms"], report["equal_compute"]
    # equal compute: both arms generated exactly the same number of tokens (one attempt per problem each)
    assert arms["library"]["completion_tokens"] == arms["baseline"]["completion_tokens"] == len(sim.problems) * sim.tokens
    assert eq["library_tokens"] == eq["baseline_tokens"] and not eq["baseline_short"]
    assert eq["gain"] == arms["library"]["solved"] - arms["baseline"]["solved"]
    # the baseline arm behaves as the model's hidden odds say (it is never shown a lemma)
    mean, var = sim.predicted_gain()
    sd = var ** 0.5
    assert abs(eq["gain"] - mean) <= SIGMAS * sd, (eq["gain"], mean, sd)
    return eq["gain"], mean, sd


def test_theory_matches_a_monte_carlo_of_the_model():
    """The closed form itself, against 20000 simulated runs of the model's own process (no prover)."""
    sim = SimulatedProofModel.coq_suite(lemmas=3, per_lemma=8, p_shown=0.8, p_hidden=0.3)
    mean, var = sim.predicted_gain()
    rng = random.Random(7)
    gains = []
    for _ in range(20000):
        gain = 0
        for group in sim.groups():
            known = False
            for _t in group:
                u = rng.random()
                lib = u < (sim.p_shown if known else sim.p_hidden)
                gain += lib - (u < sim.p_hidden)
                known = known or lib
        gains.append(gain)
    m = sum(gains) / len(gains)
    v = sum((g - m) ** 2 for g in gains) / (len(gains) - 1)
    assert abs(m - mean) < 4 * (var / len(gains)) ** 0.5 and abs(v / var - 1) < 0.05


def test_library_gain_on_real_coq_matches_theory(coq, store, tmp_path):
    sim = SimulatedProofModel.coq_suite(lemmas=4, per_lemma=20, p_shown=0.85, p_hidden=0.25)
    report = run_job(sim, coq, store, tmp_path / "gain")
    gain, mean, sd = check_against_theory(report, sim)
    assert mean - SIGMAS * sd > 0 and gain > 0 and report["equal_compute"]["significant"]
    assert report["library"]["size"] == 4  # the four key lemmas, learned once each
    assert len(report["reuse"]) == sum(1 for p, shown, ok in sim.calls if shown and ok)
    assert "a measured gain" in (tmp_path / "gain" / "report.md").read_text()


def test_no_gain_when_the_lemmas_do_not_change_the_odds(coq, store, tmp_path):
    """Lemmas are learned, shown and used in proofs (reuse looks busy) but the odds are the same: gain 0."""
    sim = SimulatedProofModel.coq_suite(lemmas=4, per_lemma=10, p_shown=0.5, p_hidden=0.5)
    report = run_job(sim, coq, store, tmp_path / "none")
    gain, mean, sd = check_against_theory(report, sim)
    assert mean == 0 and gain == 0  # shared draws: the difference is exactly 0 (sd 0)
    assert len(report["reuse"]) > 5 and report["library"]["events"]["used"] > 5  # the library was "used"
    assert not report["equal_compute"]["significant"]
    assert "NO measurable library gain at equal compute" in (tmp_path / "none" / "report.md").read_text()


def test_library_gain_on_the_lean_double_matches_theory(lean, store, tmp_path):
    """The same measurement through Lean (the REPL double checks the texts: orchestration, not Lean's maths)."""
    sim = SimulatedProofModel.lean_suite(lemmas=3, per_lemma=16, p_shown=0.9, p_hidden=0.2)
    report = run_job(sim, lean, store, tmp_path / "lean")
    gain, mean, sd = check_against_theory(report, sim)
    assert gain > 0 and report["language"] == "lean4"
    zero = SimulatedProofModel.lean_suite(lemmas=3, per_lemma=6, p_shown=0.6, p_hidden=0.6, seed="other")
    assert check_against_theory(run_job(zero, lean, store, tmp_path / "lean0"), zero)[0] == 0


def test_equal_compute_reads_the_baseline_at_the_library_spend():
    """The library arm spent 300 generated tokens (evolver included); the baseline reaches 200 after round 1 and
    400 after round 2: it is compared at round 1. With fewer tokens in all, the report says so."""
    from lemmaflow.agents.proving.job import build_report

    def row(arm, attempt, problem, proved, tokens):
        return dict(key=f"{arm}/{attempt}/{problem}", kind="attempt", arm=arm, attempt=attempt, problem=problem,
                    proved=proved, status="ok", completion_tokens=tokens, prompt_tokens=10)

    rows = [row("library", 1, "a", True, 100), row("library", 1, "b", True, 100),
            dict(key="evolve/1/a", kind="evolve", attempt=1, status="ok", completion_tokens=100),
            row("baseline", 1, "a", False, 100), row("baseline", 1, "b", True, 100),
            row("baseline", 2, "a", True, 200)]
    config = ProveJobConfig(attempts=2)
    eq = build_report(rows, ["a", "b"], config)["equal_compute"]
    assert eq["library_tokens"] == 300 and eq["baseline_tokens"] == 400
    assert eq["baseline_solved_at_equal_tokens"] == 1 and eq["gain"] == 1 and not eq["baseline_short"]
    assert eq["paired"] == {"library_only": 0, "baseline_only": 0, "noise_sd": 0.0}  # pass@2: both solved both
    eq = build_report(rows[:4], ["a", "b"], config)["equal_compute"]  # the baseline stopped after round 1
    assert eq["baseline_short"] and eq["baseline_solved_at_equal_tokens"] == 0
