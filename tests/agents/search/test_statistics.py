"""Statistical tests of the search algorithms with a simulated reasoner of known accuracy.

The "model" is :class:`SimulatedReasoner` (a ScriptedLM driven by a seeded RNG
per prompt and sample index; no language model, never a result): ``D`` steps,
each right with probability ``p``, then an answer step that is right exactly
when no step slipped. Steps cost 3 whitespace tokens, the answer step 2.

Majority voting against the exact multinomial/binomial formula is already
covered for self-consistency in tests/agents/nodes/test_simulated_models.py
(n = 1, 3, 5, 9); it is not repeated here.

Tolerances: T independent problems give an accuracy whose standard deviation
is sigma = sqrt(acc (1 - acc) / T); a check against theory allows 4 sigma (a
chance failure ~6e-5 per check for a fresh seed; with the fixed seeds the
outcome is fixed). A paired difference D (particle filter minus best-of-N on
the same problems) must exceed 4 * sd(D) / sqrt(T), its 4-standard-error band.
"""

import asyncio
import math
import statistics

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends.simulated import SimulatedReasoner
from lemmaflow.agents.scorers import ScriptedScorer
from lemmaflow.agents.search import BeamSearch, BestOfN, MathStepProblem, ParticleFilter

STEP_TOKENS, ANSWER_TOKENS = 3, 2


def run_all(algo, sim, T, tag, aggregate="last"):
    lm = sim.backend()
    scorer = ScriptedScorer(sim.step_scores, aggregate=aggregate)

    async def main():
        out = []
        for k in range(T):  # sequential: deterministic, and light on the shared cores
            q = f"Simulated problem {tag} {k}"
            ctx = RunContext(backend=lm, problem_id=q)
            out.append(await algo.search(MathStepProblem(q, {"max_steps": sim.steps + 2}, scorer=scorer), ctx))
        return out

    return asyncio.run(main())


def test_beam_search_with_a_perfect_scorer_matches_theory_within_the_predicted_budget():
    """beam_size 1, width k: each step succeeds if one of k children is right, so acc = (1-(1-p)^k)^D.

    The budget is exactly k * (3 D + 2) tokens (k children per round, D step rounds and one answer
    round); giving the search exactly that token budget must not cost accuracy.
    """
    D, p, k, T = 4, 0.6, 3, 400
    sim = SimulatedReasoner(steps=D, step_accuracy=p, noise=0.0)
    predicted_tokens = k * (STEP_TOKENS * D + ANSWER_TOKENS)
    results = run_all(BeamSearch(beam_size=1, width=k, token_budget=predicted_tokens), sim, T, "beam")
    assert all(r.tokens == predicted_tokens and not r.budget_limited for r in results)
    acc = sum(r.best.answer == sim.correct for r in results) / T
    theory = (1 - (1 - p) ** k) ** D
    sigma = math.sqrt(theory * (1 - theory) / T)
    assert abs(acc - theory) <= 4 * sigma, f"measured {acc:.4f}, theory {theory:.4f}, 4 sigma {4 * sigma:.4f}"
    # The perfect scorer never ranks a slipped solution above a sound one.
    assert all((r.best.score == 1.0) == (r.best.answer == sim.correct) for r in results)


def test_best_of_n_with_a_perfect_scorer_matches_theory():
    """N independent chains, the perfect scorer picks a right one whenever one exists: acc = 1-(1-p^D)^N."""
    D, p, N, T = 3, 0.7, 4, 400
    sim = SimulatedReasoner(steps=D, step_accuracy=p, noise=0.0)
    results = run_all(BestOfN(n=N), sim, T, "bon")
    assert all(r.tokens == N * (STEP_TOKENS * D + ANSWER_TOKENS) for r in results)
    acc = sum(r.best.answer == sim.correct for r in results) / T
    theory = 1 - (1 - p ** D) ** N
    sigma = math.sqrt(theory * (1 - theory) / T)
    assert abs(acc - theory) <= 4 * sigma, f"measured {acc:.4f}, theory {theory:.4f}, 4 sigma {4 * sigma:.4f}"


def test_particle_filter_beats_best_of_n_at_equal_budget_with_an_informative_scorer():
    """Same N, same simulated model and noisy PRM (sound prefix ~ N(0.75, 0.15), slipped ~ N(0.35, 0.15)).

    Both generate N * (D + 1) actions, so equal tokens (asserted exactly). The particle filter
    resamples toward sound prefixes each step; best-of-N can only pick among N finished chains,
    so it is right at most 1-(1-p^D)^N of the time. The paired gain must exceed 4 standard errors.
    """
    D, p, N, T = 4, 0.6, 4, 300
    sim = SimulatedReasoner(steps=D, step_accuracy=p, noise=0.15)
    bon = run_all(BestOfN(n=N), sim, T, "pf-vs-bon")
    pf = run_all(ParticleFilter(particles=N), sim, T, "pf-vs-bon")
    budget = N * (STEP_TOKENS * D + ANSWER_TOKENS)
    assert all(r.tokens == budget for r in bon) and all(r.tokens == budget for r in pf)
    bon_ok = [r.best.answer == sim.correct for r in bon]
    pf_ok = [r.best.answer == sim.correct for r in pf]
    ceiling = 1 - (1 - p ** D) ** N
    assert sum(bon_ok) / T <= ceiling + 4 * math.sqrt(ceiling * (1 - ceiling) / T)
    diffs = [int(a) - int(b) for a, b in zip(pf_ok, bon_ok)]
    gain, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    tol = 4 * sd / math.sqrt(T)
    assert gain > tol, f"particle filter {sum(pf_ok) / T:.3f} vs best-of-N {sum(bon_ok) / T:.3f}: gain {gain:.3f} <= {tol:.3f}"
