"""A toy search problem for deterministic algorithm tests (no LLM): build a 3-digit string.

Actions at depth d are the digits ``(d + i) % 3`` for i = 0..n-1 (so the first
child differs per depth); a state is terminal at length 3; its value is the
fraction of "2" digits, so "222" is the unique best answer.
"""

from lemmaflow.agents.search import Proposal, SearchProblem


class Digits(SearchProblem):
    max_depth = 3

    def __init__(self):
        self.proposed: list[tuple[int, int]] = []  # (states, n) per propose call
        self.evaluated: list[int] = []

    def initial_state(self):
        return ""

    async def propose(self, ctx, states, n):
        self.proposed.append((len(states), n))
        return [[Proposal(action=str((len(s) + i) % 3), tokens=1) for i in range(n)] for s in states]

    def apply(self, state, action):
        return state + action

    def is_terminal(self, state):
        return len(state) >= 3

    async def evaluate(self, ctx, states):
        self.evaluated.append(len(states))
        return [s.count("2") / 3 for s in states]

    def answer(self, state):
        return state
