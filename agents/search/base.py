"""Tree search, generic part: the problem-side protocol, the tree, budgets, results.

The split follows llm-reasoners (arXiv 2404.05221): a **problem** says what
states and actions are (its ``WorldModel`` + ``SearchConfig``), a **search
algorithm** only talks to that protocol. So the algorithms here know nothing
about math: a proof search (states = proof states, actions = tactics) can
implement :class:`SearchProblem` and reuse every algorithm.

A :class:`SearchProblem` provides

- ``initial_state()``; ``apply(state, action)``; ``is_terminal(state)``;
  ``answer(state)`` (of a terminal state);
- ``propose(ctx, states, n)``: ``n`` candidate actions for MANY states in one
  call (one batched generate), each a :class:`Proposal` with its token cost;
- ``evaluate(ctx, states)``: a value in [0, 1] per state (a reward model, a
  verifier, a user hook...), again batched;
- ``rollout(ctx, states)``: finish states to terminal ones (MCTS rollouts);
- ``describe(action)``: the text a trace shows for an action.

A :class:`SearchTree` keeps every node (id, parent, state, text, score, visits,
tokens) and writes ``search_node`` / ``search_result`` trace events, which
``lemmaflow trace show --html`` draws as a tree with the chosen path marked.
A :class:`SearchBudget` stops a search cleanly when its own token budget or a
ledger cap runs out (``budget_limited`` in the result).

Example (a toy problem: reach 3 by adding 1s; every algorithm can solve it)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import BeamSearch, Proposal, SearchProblem

    class Count(SearchProblem):
        def initial_state(self): return 0
        async def propose(self, ctx, states, n):
            return [[Proposal(action=a, tokens=1) for a in (1, 2)[:n]] for _ in states]
        def apply(self, state, action): return state + action
        def is_terminal(self, state): return state >= 3
        async def evaluate(self, ctx, states): return [1.0 if s <= 3 else 0.0 for s in states]
        def answer(self, state): return str(state)

    res = asyncio.run(BeamSearch(beam_size=1, width=2).search(Count(), RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "3"
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..budget import BudgetExceeded

__all__ = [
    "Leaf",
    "Proposal",
    "SearchAlgorithm",
    "SearchAlgorithmConfig",
    "SearchBudget",
    "SearchProblem",
    "SearchResult",
    "SearchTree",
    "TreeNode",
]

S = TypeVar("S")
A = TypeVar("A")


@dataclass
class Proposal(Generic[A]):
    """One candidate action and what generating it cost."""

    action: A
    tokens: int = 0  # completion tokens spent on this action
    logprob: float | None = None  # mean log-probability per token, when the backend gave one


class SearchProblem(ABC, Generic[S, A]):
    """The problem side of a search (world model + search config). Override the abstract methods."""

    max_depth: int = 32  # a state this many actions deep counts as terminal

    @abstractmethod
    def initial_state(self) -> S: ...

    @abstractmethod
    async def propose(self, ctx, states: Sequence[S], n: int) -> list[list[Proposal[A]]]:
        """``n`` candidate actions for every state, in ONE batched call where possible."""

    @abstractmethod
    def apply(self, state: S, action: A) -> S: ...

    @abstractmethod
    def is_terminal(self, state: S) -> bool: ...

    @abstractmethod
    async def evaluate(self, ctx, states: Sequence[S]) -> list[float]:
        """A value in [0, 1] per state (higher is better), batched."""

    @abstractmethod
    def answer(self, state: S) -> str | None:
        """The final answer a terminal state gives (None: no answer)."""

    async def rollout(self, ctx, states: Sequence[S]) -> list[tuple[S, int]]:
        """Each state finished to a terminal one by sampling one action at a time; (state, tokens)."""
        out: list[tuple[S, int]] = [(s, 0) for s in states]
        live = [i for i, (s, _) in enumerate(out) if not self.is_terminal(s)]
        depth = 0
        while live and depth < self.max_depth:
            props = await self.propose(ctx, [out[i][0] for i in live], 1)
            for i, ps in zip(live, props):
                s, t = out[i]
                out[i] = (self.apply(s, ps[0].action), t + ps[0].tokens)
            live = [i for i in live if not self.is_terminal(out[i][0])]
            depth += 1
        return out

    def is_solution(self, state: S) -> bool:
        """Whether a terminal state is a result (default: every one). A terminal state that is not
        (a proof branch that hit an error) is a dead end: beam and best-first search drop it."""
        return True

    def describe(self, action: A) -> str:
        """Text of an action for traces."""
        return str(action)


@dataclass
class TreeNode:
    id: int
    parent: int | None
    state: Any
    depth: int
    text: str = ""
    tokens: int = 0
    score: float | None = None
    visits: int = 0
    value_sum: float = 0.0
    prior: float = 1.0
    terminal: bool = False
    answer: str | None = None
    children: list[int] = field(default_factory=list)

    @property
    def q(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0


class SearchTree:
    """Every node a search made, traced as ``search_node`` events under the calling node's path."""

    def __init__(self, problem: SearchProblem, ctx, algorithm: str):
        self.problem, self.ctx, self.algorithm = problem, ctx, algorithm
        self.nodes: list[TreeNode] = []
        self.root = self._new(None, problem.initial_state(), 0, "")

    def _new(self, parent: int | None, state, depth: int, text: str, tokens: int = 0) -> TreeNode:
        node = TreeNode(id=len(self.nodes), parent=parent, state=state, depth=depth, text=text, tokens=tokens)
        node.terminal = depth >= self.problem.max_depth or self.problem.is_terminal(state)
        if node.terminal:
            node.answer = self.problem.answer(state)
        self.nodes.append(node)
        if parent is not None:
            self.nodes[parent].children.append(node.id)
        self.emit(node)
        return node

    def add(self, parent: TreeNode, proposal: Proposal) -> TreeNode:
        """The child of ``parent`` reached by ``proposal``'s action."""
        state = self.problem.apply(parent.state, proposal.action)
        return self._new(parent.id, state, parent.depth + 1, self.problem.describe(proposal.action), proposal.tokens)

    def emit(self, node: TreeNode) -> None:
        self.ctx.trace.add(
            "search_node", self.ctx.node_path, id=node.id, parent=node.parent, depth=node.depth, text=node.text,
            score=node.score, visits=node.visits, tokens=node.tokens, terminal=node.terminal, answer=node.answer,
        )

    def set_scores(self, nodes: Sequence[TreeNode], scores: Sequence[float]) -> None:
        for n, s in zip(nodes, scores):
            n.score = float(s)
            self.emit(n)

    def path(self, node: TreeNode) -> list[int]:
        ids = []
        cur: TreeNode | None = node
        while cur is not None:
            ids.append(cur.id)
            cur = self.nodes[cur.parent] if cur.parent is not None else None
        return ids[::-1]

    def tokens(self) -> int:
        return sum(n.tokens for n in self.nodes)


class Leaf(BaseModel):
    """A terminal (or, when the budget ran out, the best unfinished) node a search returns."""

    node: int
    answer: str | None
    score: float
    tokens: int  # tokens along its path
    finished: bool = True


class SearchResult(BaseModel):
    algorithm: str
    leaves: list[Leaf]  # candidates for the final answer, best first
    chosen: list[int] = []  # node ids root..leaf of the chosen path
    nodes: int = 0
    tokens: int = 0  # completion tokens of every generated action
    rounds: int = 0  # expansion rounds (batched generate calls)
    budget_limited: bool = False
    states: list[Any] = Field(default_factory=list, exclude=True)  # the leaves' states, same order
    tree: list[Any] = Field(default_factory=list, exclude=True)  # every TreeNode, by id (states included)

    @property
    def best(self) -> Leaf | None:
        return self.leaves[0] if self.leaves else None


class SearchBudget:
    """Stops a search when its token budget or a ledger cap cannot pay for the next round.

    ``token_budget`` counts completion tokens the search's own generations spent
    (prompt tokens are the shared prefix, served from the prefix cache); it is
    checked before each round, so a round may overshoot it by at most its own
    size. Ledger caps (``--max-completion-tokens``, ``--max-samples`` ...) are
    hard: :meth:`fit` shrinks a request to what they can pay for.
    """

    def __init__(self, ctx, token_budget: int | None, max_tokens: int):
        self.ctx, self.token_budget, self.max_tokens = ctx, token_budget, max_tokens
        self.spent = 0
        self.limited = False

    def charge(self, tokens: int) -> None:
        self.spent += tokens

    def exhausted(self) -> bool:
        if self.token_budget is not None and self.spent >= self.token_budget:
            self.limited = True
        return self.limited

    def fit(self, n_states: int, n: int) -> int:
        """How many actions per state the ledger can pay for (<= n); 0 means stop."""
        if self.exhausted() or n_states == 0:
            return 0
        affordable = self.ctx.ledger.affordable_samples(self.max_tokens)
        if affordable is not None and affordable < n_states * n:
            self.limited = True
            n = affordable // n_states
        return max(0, n)

    async def propose(self, problem: SearchProblem, states: Sequence, n: int) -> list[list[Proposal]] | None:
        """``problem.propose`` within budget; None when nothing more can be spent."""
        k = self.fit(len(states), n)
        if k == 0:
            return None
        try:
            props = await problem.propose(self.ctx, states, k)
        except BudgetExceeded as e:
            self.ctx.trace.add("budget_stop", self.ctx.node_path, error=str(e))
            self.limited = True
            return None
        self.charge(sum(p.tokens for ps in props for p in ps))
        return props

    async def evaluate(self, problem: SearchProblem, states: Sequence) -> list[float] | None:
        if not states:
            return []
        try:
            return [min(1.0, max(0.0, float(v))) for v in await problem.evaluate(self.ctx, states)]
        except BudgetExceeded as e:
            self.ctx.trace.add("budget_stop", self.ctx.node_path, error=str(e))
            self.limited = True
            return None


class SearchAlgorithmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token_budget: int | None = Field(None, ge=1, description="completion tokens this search may spend")
    max_tokens: int = Field(256, ge=1, description="worst case per action, for ledger caps")


class SearchAlgorithm(ABC):
    """A search over any :class:`SearchProblem`. Subclasses set ``name`` and a pydantic ``Config``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[SearchAlgorithmConfig]] = SearchAlgorithmConfig

    def __init__(self, config: SearchAlgorithmConfig | dict | None = None, **overrides: Any):
        if isinstance(config, SearchAlgorithmConfig):
            config = config.model_dump()
        self.config = self.Config(**{**(config or {}), **overrides})

    @abstractmethod
    async def search(self, problem: SearchProblem, ctx) -> SearchResult: ...

    def _budget(self, ctx) -> SearchBudget:
        return SearchBudget(ctx, self.config.token_budget, self.config.max_tokens)

    def finish(self, tree: SearchTree, leaves: Sequence[TreeNode], budget: SearchBudget, rounds: int,
               chosen: TreeNode | None = None) -> SearchResult:
        """Rank leaves by score (ties: lower id first), trace the result, and return it."""
        ranked = sorted(leaves, key=lambda n: (-(n.score if n.score is not None else -math.inf), n.id))
        if chosen is None and ranked:
            chosen = ranked[0]
        elif chosen is not None:  # the chosen leaf first, then the rest by score
            ranked = [chosen] + [n for n in ranked if n.id != chosen.id]
        path = tree.path(chosen) if chosen is not None else []
        out = []
        for n in ranked:
            out.append(Leaf(node=n.id, answer=n.answer if n.terminal else tree.problem.answer(n.state),
                            score=n.score if n.score is not None else 0.0,
                            tokens=sum(tree.nodes[i].tokens for i in tree.path(n)), finished=n.terminal))
        answer = None
        if chosen is not None:
            answer = chosen.answer if chosen.terminal else tree.problem.answer(chosen.state)
        tree.ctx.trace.add("search_result", tree.ctx.node_path, algorithm=self.name, chosen=path, answer=answer,
                           nodes=len(tree.nodes), tokens=budget.spent, rounds=rounds,
                           budget_limited=budget.limited)
        return SearchResult(algorithm=self.name, leaves=out, chosen=path, nodes=len(tree.nodes), tokens=budget.spent,
                            rounds=rounds, budget_limited=budget.limited, states=[n.state for n in ranked],
                            tree=list(tree.nodes))
