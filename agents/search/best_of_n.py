"""Best-of-N: N independent solutions, each scored; the best one (or a weighted vote) wins.

The N chains are generated action by action (all N frontiers in one batched
``propose`` per step), so they cost exactly what N particles of a particle
filter cost, and every finished chain is scored once by ``problem.evaluate``
(an outcome/process reward model, a verifier, a user hook). Weighted best-of-N
over answer classes is the node's ``aggregate: weighted_vote`` (Li et al.,
arXiv 2206.02336; HF search-and-learn's "weighted best-of-N").

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import BestOfN
    from lemmaflow.agents.search.base import Proposal, SearchProblem

    class Guess(SearchProblem):           # one action: guess a number; 7 is right
        def initial_state(self): return None
        async def propose(self, ctx, states, n):
            return [[Proposal(action=a, tokens=1) for a in (3, 7, 5, 7)[:n]] for _ in states]
        def apply(self, state, action): return action
        def is_terminal(self, state): return state is not None
        async def evaluate(self, ctx, states): return [1.0 if s == 7 else 0.2 for s in states]
        def answer(self, state): return str(state)

    res = asyncio.run(BestOfN(n=4).search(Guess(), RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "7" and len(res.leaves) == 4 and res.tokens == 4
"""

from __future__ import annotations

from pydantic import Field

from .base import SearchAlgorithm, SearchAlgorithmConfig, SearchProblem, SearchResult, SearchTree

__all__ = ["BestOfN"]


class BestOfN(SearchAlgorithm):
    name = "best_of_n"

    class Config(SearchAlgorithmConfig):
        n: int = Field(8, ge=1, le=4096, description="independent solutions")

    async def search(self, problem: SearchProblem, ctx) -> SearchResult:
        tree = SearchTree(problem, ctx, self.name)
        budget = self._budget(ctx)
        rounds = 0
        live, done = [], []
        props = await budget.propose(problem, [tree.root.state], self.config.n)
        if props is not None:
            rounds += 1
            for p in props[0]:
                child = tree.add(tree.root, p)
                (done if child.terminal else live).append(child)
        while live:
            props = await budget.propose(problem, [n.state for n in live], 1)
            if props is None:
                break
            rounds += 1
            nxt = []
            for node, ps in zip(live, props):
                child = tree.add(node, ps[0])
                (done if child.terminal else nxt).append(child)
            live = nxt
        leaves = done + live  # unfinished chains only when the budget stopped them
        scores = await budget.evaluate(problem, [n.state for n in leaves])
        if scores is not None:
            tree.set_scores(leaves, scores)
        return self.finish(tree, leaves, budget, rounds)
