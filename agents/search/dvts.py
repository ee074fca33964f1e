"""Diverse verifier tree search (DVTS): independent greedy subtrees, as in HF search-and-learn.

Beam search tends to collapse onto one high-scoring prefix. DVTS (Beeching et
al., "Scaling test-time compute with open models", HF blog 2024; search-and-learn
``dvts``) splits the budget into ``subtrees`` independent searches: the root is
expanded into ``subtrees * width`` actions, split into ``subtrees`` groups; each
subtree keeps its best child and expands it into ``width`` children per step,
again keeping the best, until it finishes. All subtrees' frontiers go out in
ONE batched ``propose`` per step. Leaves: each subtree's final node, best first.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import DVTS
    from lemmaflow.agents.search.base import Proposal, SearchProblem

    class Path(SearchProblem):            # three binary choices; "1" is always right
        def initial_state(self): return ""
        async def propose(self, ctx, states, n):
            return [[Proposal(action=str(i % 2), tokens=1) for i in range(n)] for _ in states]
        def apply(self, state, action): return state + action
        def is_terminal(self, state): return len(state) == 3
        async def evaluate(self, ctx, states): return [float("0" not in s) for s in states]
        def answer(self, state): return state

    res = asyncio.run(DVTS(subtrees=2, width=2).search(Path(), RunContext(backend=ScriptedLM(["-"]))))
    assert [leaf.answer for leaf in res.leaves] == ["111", "111"]
"""

from __future__ import annotations

from pydantic import Field

from .base import SearchAlgorithm, SearchAlgorithmConfig, SearchProblem, SearchResult, SearchTree, TreeNode
from .beam import top

__all__ = ["DVTS"]


class DVTS(SearchAlgorithm):
    name = "dvts"

    class Config(SearchAlgorithmConfig):
        subtrees: int = Field(4, ge=1, description="independent subtrees")
        width: int = Field(4, ge=1, description="children per step in each subtree")

    async def search(self, problem: SearchProblem, ctx) -> SearchResult:
        c = self.config
        tree = SearchTree(problem, ctx, self.name)
        budget = self._budget(ctx)
        rounds = 0
        heads: list[TreeNode | None] = [None] * c.subtrees  # each subtree's current node
        props = await budget.propose(problem, [tree.root.state], c.subtrees * c.width)
        if props is not None:
            rounds += 1
            kids = [tree.add(tree.root, p) for p in props[0]]
            scores = await budget.evaluate(problem, [k.state for k in kids])
            if scores is not None:
                tree.set_scores(kids, scores)
                per = max(1, len(kids) // c.subtrees)
                for s in range(c.subtrees):
                    group = kids[s * per:(s + 1) * per]
                    heads[s] = top(group, 1)[0] if group else None
        while True:
            live = [s for s, h in enumerate(heads) if h is not None and not h.terminal]
            if not live:
                break
            props = await budget.propose(problem, [heads[s].state for s in live], c.width)
            if props is None:
                break
            rounds += 1
            groups = [[tree.add(heads[s], p) for p in ps] for s, ps in zip(live, props)]
            flat = [k for g in groups for k in g]
            scores = await budget.evaluate(problem, [k.state for k in flat])
            if scores is None:
                break
            tree.set_scores(flat, scores)
            for s, g in zip(live, groups):
                heads[s] = top(g, 1)[0]
        leaves = [h for h in heads if h is not None]
        return self.finish(tree, leaves, budget, rounds)
