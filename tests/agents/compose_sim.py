"""A simulated world for testing the compose search: configurations of known accuracy (no text, no model).

Each configuration's accuracy ``p`` is a known function of its pipeline spec
(read from the spec, as a real evaluation would see it). Each dev problem has a
seeded difficulty ``d`` in [0, 1); a configuration solves it iff ``d < p`` —
stronger configurations solve a superset, so measured dev accuracy orders
configurations as ``p`` does up to ties (with 200 problems and margins of at
least 0.04 between the best and any other configuration, a tie has probability
below 0.96^200 ~ 3e-4 for a fresh seed; with the fixed seed the outcome is fixed).
Token spend per problem is a known function of the spec too, and, like the
batch runner, a (spec, problem) pair already evaluated costs nothing again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random

from lemmaflow.agents.batch import ProblemResult
from lemmaflow.agents.compose import Evaluation
from lemmaflow.agents.compose_space import ChoiceParam, SearchSpace, realize
from lemmaflow.tools.datasets import Problem

SEED = "lemmaflow-compose-sim-1"
TEMP = {0.2: 0.35, 0.7: 0.45, 1.0: 0.40}
STEP_VERIFIER = {"type": "step_verifier", "judge": False}

SPACE = {
    "name": "sim",
    "generator": {"type": "chain_of_thought", "config": {"temperature": {"choices": [0.2, 0.7, 1.0]}}},
    "samples": {"choices": [1, 2, 4, 8]},
    "layers": [
        {"type": "critic"},
        {"type": "ranker", "config": {"top_k": {"choices": [1, 3]}, "scorer": {"choices": [None, STEP_VERIFIER]}}},
        {"type": "fuser", "config": {"fusions": {"choices": [1, 3]}}},
    ],
}
BEST = {"temperature": 0.7, "samples": 8, "critic": True, "ranker": (3, "step_verifier"), "fuser": 3}


def features(spec: dict) -> dict:
    """Layers (outermost first), generator temperature and sample count of a compose spec."""
    node, layers, samples = spec["nodes"][0], {}, 1
    while True:
        cfg = node["config"]
        if node["type"] in ("critic", "ranker", "fuser"):
            layers[node["type"]] = cfg
            samples = cfg.get("n", samples)
            node = cfg["source"]
        elif node["type"] == "vote":
            samples, node = cfg["k"], cfg["inner"]
        else:
            return {"temperature": cfg.get("temperature", 0.0), "samples": samples, "layers": layers}


def accuracy(spec: dict) -> float:
    f = features(spec)
    L = f["layers"]
    p = TEMP[f["temperature"]] + 0.05 * math.log2(f["samples"])
    if "ranker" in L:
        p += 0.07 if L["ranker"].get("scorer") else 0.03
    if "critic" in L:
        p += 0.05 if "fuser" in L else -0.02  # critiques help only a fuser that reads them
    if "fuser" in L:
        p += 0.08 + (0.04 if L["fuser"].get("fusions", 1) == 3 else 0.0)
        if "ranker" in L:
            p += 0.04 if L["ranker"].get("top_k", 1) == 3 else -0.05  # a fuser of one candidate
    return p


def tokens(spec: dict) -> int:
    f = features(spec)
    L, s = f["layers"], f["samples"]
    t = s * 250  # 50 prompt + 200 completion per sample
    if "critic" in L:
        t += s * 400
    if "ranker" in L and L["ranker"].get("scorer"):
        t += s * 150
    if "fuser" in L:
        k_in = min(s, L["ranker"].get("top_k", 1)) if "ranker" in L else s
        t += 50 + 200 * k_in + 200 * L["fuser"].get("fusions", 1)
    return t


def difficulty(problem_id: str) -> float:
    return random.Random(f"{SEED}|{problem_id}").random()


def problems(n: int) -> list[Problem]:
    return [Problem(id=f"sim-{i}", question=f"simulated problem {i}", gold="1", source="sim") for i in range(n)]


class SimulatedEvaluator:
    """Evaluates specs in the simulated world; counts calls and (spec, problem) pairs evaluated."""

    def __init__(self, fail_on_call: int | None = None):
        self.done: set[tuple[str, str]] = set()
        self.calls = 0
        self.fail_on_call = fail_on_call

    async def evaluate(self, spec: dict, probs) -> Evaluation:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise KeyboardInterrupt  # the user pressing Ctrl-C mid-trial
        h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        p, cost, new, results = accuracy(spec), tokens(spec), 0, []
        for prob in probs:
            if (h, prob.id) not in self.done:
                self.done.add((h, prob.id))
                new += cost
            ok = difficulty(prob.id) < p
            results.append(ProblemResult(
                key=f"{h}-{prob.id}", id=prob.id, question=prob.question, gold=prob.gold, answer="1" if ok else "0",
                correct=ok, status="ok", model="simulated", pipeline="sim",
                usage={"total": {"total_tokens": cost, "prompt_tokens": cost // 5, "completion_tokens": cost - cost // 5,
                                 "samples": features(spec)["samples"]}}))
        return Evaluation(results=results, new_tokens=new)


def all_specs(space: SearchSpace) -> list[dict]:
    """Every configuration of a space of choices (exhaustive grid), as specs."""
    names: list[tuple[str, ChoiceParam]] = []

    def collect(name, p):
        names.append((name, p))
        return p.choices[0]

    # Discover parameter names with every optional layer on.
    realize(space, lambda n, p: True if p.choices == [True, False] else collect(n, p))
    specs, seen = [], set()
    for combo in itertools.product(*[p.choices for _, p in names]):
        chosen = dict(zip([n for n, _ in names], combo))
        for layers_on in itertools.product([True, False], repeat=len(space.layers)):
            on = {f"L{i}.{lay.type}": v for i, (lay, v) in enumerate(zip(space.layers, layers_on), 1)}
            spec = realize(space, lambda n, p: on[n] if n in on else chosen[n])
            key = json.dumps(spec, sort_keys=True)
            if key not in seen:
                seen.add(key)
                specs.append(spec)
    return specs
