"""Best-first search: always expand the best-valued open node (GPT-f proof search, arXiv 2009.03393).

A priority queue holds every open (non-terminal) node by its score. Each round
pops the ``batch`` best, proposes ``width`` children for each of them in ONE
batched ``propose``, scores the children and queues the open ones. Terminal
children that are solutions (``problem.is_solution``) are collected; dead ends
(a tactic error) are dropped. The search stops after ``solutions`` solutions,
``expansions`` expanded nodes, when the queue is empty, or when the budget runs
out. Leaves are the solutions, best first; with none, the best open node (an
unfinished leaf), so a failed search still reports how far it got.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import BestFirst
    from lemmaflow.agents.search.base import Proposal, SearchProblem

    class Path(SearchProblem):            # three binary choices; "0" is a dead end
        def initial_state(self): return ""
        async def propose(self, ctx, states, n):
            return [[Proposal(action=str(i % 2), tokens=1) for i in range(n)] for _ in states]
        def apply(self, state, action): return state + action
        def is_terminal(self, state): return len(state) == 3 or "0" in state
        def is_solution(self, state): return "0" not in state
        async def evaluate(self, ctx, states): return [len(s) / 3 * ("0" not in s) for s in states]
        def answer(self, state): return state

    res = asyncio.run(BestFirst(width=2).search(Path(), RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "111" and res.rounds == 3
"""

from __future__ import annotations

from pydantic import Field

from .base import SearchAlgorithm, SearchAlgorithmConfig, SearchProblem, SearchResult, SearchTree, TreeNode

__all__ = ["BestFirst"]


class BestFirst(SearchAlgorithm):
    name = "best_first"

    class Config(SearchAlgorithmConfig):
        width: int = Field(4, ge=1, description="children per expanded node")
        batch: int = Field(1, ge=1, description="open nodes expanded per round (one batched generate)")
        expansions: int = Field(32, ge=1, description="nodes expanded at most")
        solutions: int = Field(1, ge=1, description="stop after this many solutions")

    async def search(self, problem: SearchProblem, ctx) -> SearchResult:
        c = self.config
        tree = SearchTree(problem, ctx, self.name)
        budget = self._budget(ctx)
        frontier: list[TreeNode] = [] if tree.root.terminal else [tree.root]
        done: list[TreeNode] = []
        expanded = rounds = 0
        while frontier and len(done) < c.solutions and expanded < c.expansions:
            frontier.sort(key=lambda n: (-(n.score if n.score is not None else 1.0), n.id))
            pick = frontier[:min(c.batch, c.expansions - expanded)]
            props = await budget.propose(problem, [n.state for n in pick], c.width)
            if props is None:
                break
            del frontier[:len(pick)]
            expanded += len(pick)
            rounds += 1
            children = [tree.add(n, p) for n, ps in zip(pick, props) for p in ps]
            scores = await budget.evaluate(problem, [ch.state for ch in children])
            if scores is None:
                break
            tree.set_scores(children, scores)
            done += [ch for ch in children if ch.terminal and problem.is_solution(ch.state)]
            frontier += [ch for ch in children if not ch.terminal]
        leaves = done or sorted(frontier, key=lambda n: (-(n.score or 0.0), n.id))[:1]
        return self.finish(tree, leaves, budget, rounds)
