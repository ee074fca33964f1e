"""Step-level beam search guided by a value function (a PRM), as in HF search-and-learn.

Each round every kept beam is expanded into ``width`` next actions (all beams in
ONE batched ``propose``), every child is scored by ``problem.evaluate``, finished
children are set aside, and the ``beam_size`` best unfinished ones are kept.
The first round expands the root into ``beam_size * width`` actions, so each
round generates ``beam_size * width`` actions (Snell et al., arXiv 2408.03314).
Dead ends (terminal, not ``problem.is_solution``) are dropped.
The search stops when ``beam_size`` solutions finished, at ``max_depth``, or when
the budget runs out; leaves are the finished solutions, best score first.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import BeamSearch
    from lemmaflow.agents.search.base import Proposal, SearchProblem

    class Path(SearchProblem):            # three binary choices; "1" is always right
        def initial_state(self): return ""
        async def propose(self, ctx, states, n):
            return [[Proposal(action=str(i % 2), tokens=1) for i in range(n)] for _ in states]
        def apply(self, state, action): return state + action
        def is_terminal(self, state): return len(state) == 3
        async def evaluate(self, ctx, states): return [float("0" not in s) for s in states]
        def answer(self, state): return state

    res = asyncio.run(BeamSearch(beam_size=2, width=2).search(Path(), RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "111" and res.best.score == 1.0
"""

from __future__ import annotations

from pydantic import Field

from .base import SearchAlgorithm, SearchAlgorithmConfig, SearchProblem, SearchResult, SearchTree, TreeNode

__all__ = ["BeamSearch"]


def top(nodes: list[TreeNode], k: int) -> list[TreeNode]:
    """The ``k`` best-scored nodes (ties: created first)."""
    return sorted(nodes, key=lambda n: (-(n.score or 0.0), n.id))[:k]


class BeamSearch(SearchAlgorithm):
    name = "beam"

    class Config(SearchAlgorithmConfig):
        beam_size: int = Field(4, ge=1, description="beams kept after each step")
        width: int = Field(4, ge=1, description="children per kept beam")
        solutions: int | None = Field(None, ge=1, description="stop after this many solutions (None: beam_size)")

    async def search(self, problem: SearchProblem, ctx) -> SearchResult:
        c = self.config
        tree = SearchTree(problem, ctx, self.name)
        budget = self._budget(ctx)
        beams, done, rounds = [tree.root], [], 0
        while beams and len(done) < (c.solutions or c.beam_size):
            n = c.beam_size * c.width if beams == [tree.root] else c.width
            props = await budget.propose(problem, [b.state for b in beams], n)
            if props is None:
                break
            rounds += 1
            children = [tree.add(b, p) for b, ps in zip(beams, props) for p in ps]
            scores = await budget.evaluate(problem, [ch.state for ch in children])
            if scores is None:
                break
            tree.set_scores(children, scores)
            done += [ch for ch in children if ch.terminal and problem.is_solution(ch.state)]
            beams = top([ch for ch in children if not ch.terminal], c.beam_size)
        leaves = done or [b for b in beams if b is not tree.root]
        return self.finish(tree, leaves, budget, rounds)
