"""Statistical tests with simulated models: voting and FOBAR against exact theory.

The "model" is a ScriptedLM driven by a seeded random process (a pseudo-random
draw per prompt and sample index, seeded by a fixed string), so every run is
the same; nothing here is a language model or a result about one. It emits
``\\boxed{a}`` texts with known per-answer probabilities, and the real nodes
(SelfConsistency, FOBAR, the AnswerChecker, majority_vote) run on them.

Theory is computed exactly by enumerating the multinomial forward counts (and,
for FOBAR, the binomial backward counts), with the nodes' tie rule: among
classes tied on every key, the one seen first wins, and by exchangeability each
tied class is first with probability 1/t.

Tolerances: T independent problems give an accuracy with standard deviation
sigma = sqrt(acc (1 - acc) / T); each check allows 4 sigma (a chance failure
about 6e-5 per check for a fresh seed; with the fixed seed the outcome is fixed).
A paired difference D (FOBAR minus SC on the same forward samples) uses its
sample standard deviation: 4 * sd(D) / sqrt(T).
"""

import asyncio
import itertools
import math
import random
import statistics

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import FOBAR, SelfConsistency

SEED = "lemmaflow-sim-1"
CORRECT = "42"
# Per-sample answer distribution of the simulated model (None = an abstaining chain).
DIST = [("42", 0.40), ("41", 0.30), ("43", 0.20), (None, 0.10)]


def draw(dist, key: str):
    u = random.Random(f"{SEED}|{key}").random()
    acc = 0.0
    for ans, p in dist:
        acc += p
        if u < acc:
            return ans
    return dist[-1][0]


def text_of(ans):
    return "I give up." if ans is None else f"... so \\boxed{{{ans}}}"


def compositions(n, k):
    """All k-tuples of non-negative integers summing to n."""
    for cuts in itertools.combinations(range(n + k - 1), k - 1):
        parts, prev = [], -1
        for c in cuts + (n + k - 1,):
            parts.append(c - prev - 1)
            prev = c
        yield tuple(parts)


def multinomial(counts, probs):
    n = sum(counts)
    coef = math.factorial(n)
    for c in counts:
        coef //= math.factorial(c)
    return coef * math.prod(p ** c for p, c in zip(probs, counts))


def majority_accuracy(dist, n):
    """P(majority vote over n samples is correct), first-seen tie-break, abstentions not voting."""
    probs = [p for _, p in dist]
    answers = [a for a, _ in dist]
    total = 0.0
    for counts in compositions(n, len(dist)):
        voting = {a: c for a, c in zip(answers, counts) if a is not None}
        top = max(voting.values())
        if top == 0 or voting[CORRECT] != top:
            continue
        tied = sum(1 for c in voting.values() if c == top)
        total += multinomial(counts, probs) / tied
    return total


def run_many(node_factory, questions, lm, checker):
    async def main():
        outs = []
        for q in questions:  # sequential: deterministic and light on the 2 shared cores
            ctx = RunContext(backend=lm, checker=checker, problem_id=q)
            outs.append(await node_factory()(ctx, question=q))
        return outs

    return asyncio.run(main())


@pytest.mark.parametrize("n", [1, 3, 5, 9])
def test_majority_vote_accuracy_follows_the_multinomial_formula(checker, n):
    T = 1200
    lm = ScriptedLM(lambda prompt, i: text_of(draw(DIST, f"{prompt}|{i}")))
    questions = [f"Simulated problem {k} for n={n}" for k in range(T)]
    outs = run_many(lambda: SelfConsistency(n=n), questions, lm, checker)
    acc = sum(o.answer == CORRECT for o in outs) / T
    theory = majority_accuracy(DIST, n)
    sigma = math.sqrt(theory * (1 - theory) / T)
    assert abs(acc - theory) <= 4 * sigma, f"n={n}: measured {acc:.4f}, theory {theory:.4f}, 4 sigma {4 * sigma:.4f}"


def test_theory_itself_matches_known_values():
    assert majority_accuracy(DIST, 1) == pytest.approx(0.40)
    # n=2 without abstentions in play: correct wins 2:0, or 1:1 against a wrong answer half the time.
    two = [("42", 0.5), ("41", 0.5)]
    assert majority_accuracy(two, 2) == pytest.approx(0.25 + 0.5 * 0.5)


# FOBAR simulation: forward as above (no abstentions); one masked number ("3"); the backward
# chain recovers it with probability R_TRUE when the candidate is right and R_FALSE when wrong.
FWD = [("42", 0.40), ("41", 0.35), ("43", 0.25)]
R_TRUE, R_FALSE = 0.8, 0.2
N, M, ALPHA = 5, 4, 0.5


def fobar_theory():
    """Exact accuracy of SC and of FOBAR (score = P_f^a * P_b^(1-a)) under the simulation."""
    probs = [p for _, p in FWD]
    answers = [a for a, _ in FWD]
    sc = fob = 0.0
    for counts in compositions(N, len(FWD)):
        pc = multinomial(counts, probs)
        present = [i for i, c in enumerate(counts) if c > 0]
        top = max(counts)
        if counts[0] == top:
            sc += pc / sum(1 for c in counts if c == top)
        if len(present) == 1:  # unanimous: no backward pass
            fob += pc * (answers[present[0]] == CORRECT)
            continue
        for bs in itertools.product(range(M + 1), repeat=len(present)):
            pb = 1.0
            keys = {}
            for i, b in zip(present, bs):
                r = R_TRUE if answers[i] == CORRECT else R_FALSE
                pb *= math.comb(M, b) * r ** b * (1 - r) ** (M - b)
                keys[i] = ((counts[i] / N) ** ALPHA * (b / M) ** (1 - ALPHA), counts[i])
            best = max(keys.values())
            if keys.get(0) == best:
                fob += pc * pb / sum(1 for k in keys.values() if k == best)
    return sc, fob


def test_fobar_gains_what_theory_predicts(checker):
    T = 1200

    def lm_fn(prompt, i):
        if "unknown variable x" in prompt:
            cand = prompt.split("the above question is ")[1].split(",")[0]
            r = R_TRUE if cand == CORRECT else R_FALSE
            ok = random.Random(f"{SEED}|b|{prompt}|{i}").random() < r
            return f"x = \\boxed{{{3 if ok else 5}}}"
        return text_of(draw(FWD, f"f|{prompt}|{i}"))

    lm = ScriptedLM(lm_fn)
    questions = [f"Tom has 3 apples and buys some more (case {k}). How many?" for k in range(T)]
    outs = run_many(lambda: FOBAR(n=N, m=M, alpha=ALPHA, mask="first", top_k=3), questions, lm, checker)
    sc_ok = [o.forward_answer == CORRECT for o in outs]
    fb_ok = [o.answer == CORRECT for o in outs]
    assert all(o.maskings[0].answer == "3" for o in outs if o.backward)
    sc_theory, fb_theory = fobar_theory()
    for name, ok, theory in (("SC", sc_ok, sc_theory), ("FOBAR", fb_ok, fb_theory)):
        acc = sum(ok) / T
        sigma = math.sqrt(theory * (1 - theory) / T)
        assert abs(acc - theory) <= 4 * sigma, f"{name}: measured {acc:.4f}, theory {theory:.4f}, 4 sigma {4 * sigma:.4f}"
    diffs = [int(f) - int(s) for f, s in zip(fb_ok, sc_ok)]
    gain, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    tol = 4 * sd / math.sqrt(T)
    assert abs(gain - (fb_theory - sc_theory)) <= tol, f"gain {gain:.4f} vs theory {fb_theory - sc_theory:.4f} (tol {tol:.4f})"
    assert fb_theory - sc_theory > tol  # the predicted gain is larger than the noise: the test can tell
