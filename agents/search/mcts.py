"""Monte Carlo tree search with PUCT selection, as in AlphaMath (Chen et al., arXiv 2405.03553).

Each simulation walks from the root choosing the child that maximises

    Q(s, a) + c_puct * P(s, a) * sqrt(N(s)) / (1 + N(s, a))

(AlphaZero's PUCT; ``Q`` the mean backed-up value, ``N`` visit counts, ``P``
the prior: uniform over siblings, or ``prior: logprob`` a softmax of the
actions' mean token log-probabilities). At an unexpanded leaf it proposes
``width`` children in one batched call and values them: ``value: scorer`` asks
``problem.evaluate`` (a value model / PRM / verifier / user hook, AlphaMath's
value head), ``value: rollout`` finishes each child with ``problem.rollout`` and
scores the finished solution (AlphaMath's simulation). Each child's value is
backed up along its path. A terminal leaf re-backs up its own score. After
``simulations`` expansions (or when the budget is spent) the answer follows
the most-visited children from the root; if that path does not end in a
finished solution, the best-scored finished one found is chosen. Dead ends
(terminal states ``problem.is_solution`` rejects, e.g. a failed tactic) are
never selected nor chosen; a node whose children all died is expanded again.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import MCTS
    from lemmaflow.agents.search.base import Proposal, SearchProblem

    class Path(SearchProblem):            # three binary choices; "1" is always right
        def initial_state(self): return ""
        async def propose(self, ctx, states, n):
            return [[Proposal(action=str(i % 2), tokens=1) for i in range(n)] for _ in states]
        def apply(self, state, action): return state + action
        def is_terminal(self, state): return len(state) == 3
        async def evaluate(self, ctx, states): return [1.0 - s.count("0") / 3 for s in states]
        def answer(self, state): return state

    res = asyncio.run(MCTS(simulations=8, width=2).search(Path(), RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "111"
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from ..budget import BudgetExceeded

from .base import SearchAlgorithm, SearchAlgorithmConfig, SearchProblem, SearchResult, SearchTree, TreeNode

__all__ = ["MCTS", "live_children"]


def live_children(tree: SearchTree, node: TreeNode) -> list[TreeNode]:
    """``node``'s children that are not dead ends (terminal states that are no solution)."""
    kids = (tree.nodes[i] for i in node.children)
    return [k for k in kids if not (k.terminal and not tree.problem.is_solution(k.state))]


class MCTS(SearchAlgorithm):
    name = "mcts"

    class Config(SearchAlgorithmConfig):
        simulations: int = Field(16, ge=1, description="expansions (each proposes `width` children)")
        width: int = Field(3, ge=1, description="children per expansion")
        c_puct: float = Field(1.25, ge=0)
        value: Literal["scorer", "rollout"] = "scorer"
        prior: Literal["uniform", "logprob"] = "uniform"

    def _select(self, tree: SearchTree) -> TreeNode:
        node = tree.root
        while node.children and not node.terminal:
            kids = live_children(tree, node)
            if not kids:  # every child is a dead end: expand this node again
                return node
            sq = math.sqrt(max(node.visits, 1))
            node = max(kids, key=lambda k: (k.q + self.config.c_puct * k.prior * sq / (1 + k.visits), -k.id))
        return node

    @staticmethod
    def _backup(tree: SearchTree, node: TreeNode, value: float) -> None:
        for i in tree.path(node):
            n = tree.nodes[i]
            n.visits += 1
            n.value_sum += value

    def _priors(self, props) -> list[float]:
        if self.config.prior == "logprob" and all(p.logprob is not None for p in props):
            m = max(p.logprob for p in props)
            w = [math.exp(p.logprob - m) for p in props]
        else:
            w = [1.0] * len(props)
        return [x / sum(w) for x in w]

    async def search(self, problem: SearchProblem, ctx) -> SearchResult:
        c = self.config
        tree = SearchTree(problem, ctx, self.name)
        budget = self._budget(ctx)
        rounds = 0
        for _ in range(c.simulations):
            leaf = self._select(tree)
            if leaf.terminal:
                if leaf.score is None:
                    scores = await budget.evaluate(problem, [leaf.state])
                    if scores is None:
                        break
                    tree.set_scores([leaf], scores)
                self._backup(tree, leaf, leaf.score)
                for i in tree.path(leaf):
                    tree.emit(tree.nodes[i])  # visits changed along the path
                continue
            props = await budget.propose(problem, [leaf.state], c.width)
            if props is None:
                break
            rounds += 1
            kids = [tree.add(leaf, p) for p in props[0]]
            for k, prior in zip(kids, self._priors(props[0])):
                k.prior = prior
            values = await self._values(problem, kids, budget)
            if values is None:
                break
            for k, v in zip(kids, values):
                self._backup(tree, k, v)
            for n in [tree.nodes[i] for i in tree.path(leaf)] + kids:
                tree.emit(n)  # visits changed: the trace view keeps the last event per id
        leaves, chosen = self._choose(tree)
        return self.finish(tree, leaves, budget, rounds, chosen)

    async def _values(self, problem: SearchProblem, kids: list[TreeNode], budget) -> list[float] | None:
        if self.config.value == "scorer" or all(k.terminal for k in kids):
            scores = await budget.evaluate(problem, [k.state for k in kids])
            if scores is not None:
                for k, s in zip(kids, scores):
                    k.score = s
            return scores
        live = [k for k in kids if not k.terminal]
        try:
            rolled = await problem.rollout(budget.ctx, [k.state for k in live])
        except BudgetExceeded as e:  # a budget stop inside a rollout ends the search
            budget.ctx.trace.add("budget_stop", budget.ctx.node_path, error=str(e))
            budget.limited = True
            return None
        budget.charge(sum(t for _, t in rolled))
        finals = {k.id: s for k, (s, _) in zip(live, rolled)}
        states = [finals.get(k.id, k.state) for k in kids]
        scores = await budget.evaluate(problem, states)
        if scores is not None:
            for k, s in zip(kids, scores):
                k.score = s
        return scores

    @staticmethod
    def _choose(tree: SearchTree) -> tuple[list[TreeNode], TreeNode | None]:
        terminals = [n for n in tree.nodes if n.terminal and n.score is not None
                     and tree.problem.is_solution(n.state)]
        node = tree.root
        while live_children(tree, node):
            node = max(live_children(tree, node), key=lambda k: (k.visits, k.q, -k.id))
        if node.terminal and node.score is not None:
            return terminals, node
        if terminals:
            return terminals, None  # finish() picks the best-scored finished solution
        return ([node] if node is not tree.root else []), None
