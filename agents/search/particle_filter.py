"""Particle filtering over partial solutions (Puri et al., arXiv 2502.01618).

Inference-time scaling as probabilistic inference: ``particles`` partial
solutions are extended one action at a time (all particles in ONE batched
``propose`` per step); after each step every particle is weighted by its
reward-model score and the population is resampled with replacement in
proportion to the weights, so compute follows the promising prefixes without
committing to the single best as beam search does. Finished particles stay in
the population (they are resampled but never extended). The budget is
``particles x steps`` actions. Weights: ``softmax_logit`` (default, the paper's
choice) turns a score r in (0, 1) into ``exp(logit(r) / temperature)``;
``linear`` uses r itself. Resampling draws from ``random.Random(f"{seed}|{problem_id}")``.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import ParticleFilter
    from lemmaflow.agents.search.base import Proposal, SearchProblem

    class Path(SearchProblem):            # three binary choices, alternating 0/1; "1" is right
        k = 0
        def initial_state(self): return ""
        async def propose(self, ctx, states, n):
            out = []
            for _ in states:
                self.k += 1
                out.append([Proposal(action=str((self.k + i) % 2), tokens=1) for i in range(n)])
            return out
        def apply(self, state, action): return state + action
        def is_terminal(self, state): return len(state) == 3
        async def evaluate(self, ctx, states): return [0.9 if "0" not in s else 0.1 for s in states]
        def answer(self, state): return state

    res = asyncio.run(ParticleFilter(particles=4).search(Path(), RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "111"
"""

from __future__ import annotations

import math
import random
from typing import Literal

from pydantic import Field

from .base import SearchAlgorithm, SearchAlgorithmConfig, SearchProblem, SearchResult, SearchTree, TreeNode

__all__ = ["ParticleFilter", "resample_weights"]


def resample_weights(scores: list[float], how: str, temperature: float) -> list[float]:
    """Normalised resampling weights from scores in [0, 1]."""
    if how == "linear":
        w = [max(s, 0.0) for s in scores]
    else:
        eps = 1e-6
        logits = [math.log(min(max(s, eps), 1 - eps) / (1 - min(max(s, eps), 1 - eps))) / temperature
                  for s in scores]
        m = max(logits)
        w = [math.exp(x - m) for x in logits]
    total = sum(w)
    return [x / total for x in w] if total > 0 else [1.0 / len(w)] * len(w)


class ParticleFilter(SearchAlgorithm):
    name = "particle_filter"

    class Config(SearchAlgorithmConfig):
        particles: int = Field(8, ge=1, le=4096)
        weighting: Literal["softmax_logit", "linear"] = "softmax_logit"
        temperature: float = Field(1.0, gt=0)
        seed: int = 0

    async def search(self, problem: SearchProblem, ctx) -> SearchResult:
        c = self.config
        rng = random.Random(f"{c.seed}|{ctx.problem_id}")
        tree = SearchTree(problem, ctx, self.name)
        budget = self._budget(ctx)
        rounds = 0
        pop: list[TreeNode] = []
        props = await budget.propose(problem, [tree.root.state], c.particles)
        if props is not None:
            rounds += 1
            pop = [tree.add(tree.root, p) for p in props[0]]
            scores = await budget.evaluate(problem, [p.state for p in pop])
            if scores is None:
                return self.finish(tree, pop, budget, rounds)
            tree.set_scores(pop, scores)
        while pop and any(not p.terminal for p in pop):
            pop = self._resample(pop, rng, ctx)
            live = [i for i, p in enumerate(pop) if not p.terminal]
            props = await budget.propose(problem, [pop[i].state for i in live], 1)
            if props is None:
                break
            rounds += 1
            kids = [tree.add(pop[i], ps[0]) for i, ps in zip(live, props)]
            scores = await budget.evaluate(problem, [k.state for k in kids])
            if scores is None:
                break
            tree.set_scores(kids, scores)
            for i, k in zip(live, kids):
                pop[i] = k
        leaves = list({p.id: p for p in pop}.values())  # resampling duplicates: one leaf each
        return self.finish(tree, leaves, budget, rounds)

    def _resample(self, pop: list[TreeNode], rng: random.Random, ctx) -> list[TreeNode]:
        w = resample_weights([p.score if p.score is not None else 0.5 for p in pop], self.config.weighting,
                             self.config.temperature)
        picked = rng.choices(range(len(pop)), weights=w, k=len(pop))
        ctx.trace.add("info", ctx.node_path, event="resample", weights=[round(x, 4) for x in w], picked=[pop[i].id for i in picked])
        return [pop[i] for i in picked]
