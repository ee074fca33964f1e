"""Budget ledger: what a run spent, per node and in total, and optional caps.

Every LLM call goes through :meth:`lemmaflow.agents.context.RunContext.generate`,
which asks the ledger first (:meth:`BudgetLedger.check`) and records the actual
usage afterwards. A cap is checked against the usage so far plus the call's
worst case (``samples × max_tokens`` completion tokens), so a completion-token,
sample or call cap is never exceeded. Prompt tokens are only known after the
call; they count against ``max_total_tokens`` from then on.

Example::

    from lemmaflow.agents.budget import Budget, BudgetLedger, BudgetExceeded

    ledger = BudgetLedger(Budget(max_samples=8))
    ledger.check("sc", samples=8, max_completion_tokens=8 * 256)
    ledger.record("sc", prompt_tokens=40, completion_tokens=900, samples=8)
    try:
        ledger.check("sc", samples=1, max_completion_tokens=256)
    except BudgetExceeded as e:
        print(e)  # sc: samples budget exhausted (8 used of 8, this call needs 1)
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Budget", "BudgetExceeded", "BudgetLedger", "Usage"]

Resource = Literal["total_tokens", "completion_tokens", "llm_calls", "samples", "wall_s"]


class Budget(BaseModel):
    """Caps for one problem's run. ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_total_tokens: int | None = Field(None, ge=0)
    max_completion_tokens: int | None = Field(None, ge=0)
    max_llm_calls: int | None = Field(None, ge=0)
    max_samples: int | None = Field(None, ge=0)
    max_wall_s: float | None = Field(None, gt=0)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0
    samples: int = 0
    wall_s: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: "Usage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.llm_calls += other.llm_calls
        self.samples += other.samples
        self.wall_s += other.wall_s


class BudgetExceeded(Exception):
    """Raised before a call that would break a cap. Nodes may catch it and stop cleanly."""

    def __init__(self, node: str, resource: Resource, used: float, limit: float, needed: float):
        self.node, self.resource, self.used, self.limit, self.needed = node, resource, used, limit, needed
        super().__init__(
            f"{node}: {resource.replace('_', ' ')} budget exhausted "
            f"({used:g} used of {limit:g}, this call needs {needed:g})"
        )


class BudgetLedger:
    """Usage per node and in total for one problem, checked against a :class:`Budget`."""

    def __init__(self, budget: Budget | None = None, clock=time.monotonic):
        self.budget = budget or Budget()
        self.total = Usage()
        self.per_node: dict[str, Usage] = {}
        self.per_model: dict[str, Usage] = {}  # by model role: generator, verifier, prm, ...
        self._clock = clock
        self._t0 = clock()

    def elapsed(self) -> float:
        return self._clock() - self._t0

    def _node(self, node: str) -> Usage:
        return self.per_node.setdefault(node, Usage())

    def check(self, node: str, samples: int, max_completion_tokens: int, calls: int = 1) -> None:
        b, t = self.budget, self.total
        checks: list[tuple[Resource, float, float | None, float]] = [
            ("llm_calls", t.llm_calls, b.max_llm_calls, calls),
            ("samples", t.samples, b.max_samples, samples),
            ("completion_tokens", t.completion_tokens, b.max_completion_tokens, max_completion_tokens),
            ("total_tokens", t.total_tokens, b.max_total_tokens, max_completion_tokens),
        ]
        for resource, used, limit, need in checks:
            if limit is not None and used + need > limit:
                raise BudgetExceeded(node, resource, used, limit, need)
        if b.max_wall_s is not None and self.elapsed() >= b.max_wall_s:
            raise BudgetExceeded(node, "wall_s", round(self.elapsed(), 3), b.max_wall_s, 0)

    def affordable_samples(self, max_tokens_per_sample: int) -> int | None:
        """How many more samples of ``max_tokens_per_sample`` fit every cap (None: unlimited)."""
        b, t = self.budget, self.total
        bounds = []
        if b.max_samples is not None:
            bounds.append(b.max_samples - t.samples)
        if b.max_completion_tokens is not None:
            bounds.append((b.max_completion_tokens - t.completion_tokens) // max_tokens_per_sample)
        if b.max_total_tokens is not None:
            bounds.append((b.max_total_tokens - t.total_tokens) // max_tokens_per_sample)
        if b.max_llm_calls is not None and t.llm_calls >= b.max_llm_calls:
            bounds.append(0)
        if b.max_wall_s is not None and self.elapsed() >= b.max_wall_s:
            bounds.append(0)
        return max(0, min(bounds)) if bounds else None

    def record(
        self, node: str, prompt_tokens: int, completion_tokens: int, samples: int, calls: int = 1,
        model: str = "generator",
    ) -> None:
        """Add one call's usage to the total, the node and the model role.

        Caps apply to the total over every model: a verifier's or reward
        model's tokens are compute like the generator's.
        """
        for u in (self.total, self._node(node), self.per_model.setdefault(model, Usage())):
            u.prompt_tokens += prompt_tokens
            u.completion_tokens += completion_tokens
            u.samples += samples
            u.llm_calls += calls

    @contextmanager
    def timed(self, node: str) -> Iterator[None]:
        """Attribute wall time to a node (nested nodes count inside their parent too)."""
        start = self._clock()
        try:
            yield
        finally:
            self._node(node).wall_s += self._clock() - start

    def snapshot(self) -> dict:
        total = self.total.model_dump()
        total["wall_s"] = round(self.elapsed(), 4)
        total["total_tokens"] = self.total.total_tokens
        return {
            "total": total,
            "per_node": {k: {**v.model_dump(), "wall_s": round(v.wall_s, 4)} for k, v in self.per_node.items()},
            "per_model": {k: {**v.model_dump(exclude={"wall_s"}), "total_tokens": v.total_tokens}
                          for k, v in self.per_model.items()},
        }
