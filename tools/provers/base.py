"""The prover protocol: one interface for Coq, Lean 4 and test fakes.

A :class:`ProofTask` pairs the *original* statement (taken from the dataset,
never from the model) with the model's proof text. A prover checks it and
returns a :class:`ProofResult`: ``proved`` only if the checker accepted the
proof with no ``sorry``/``admit``/``Admitted``, no axiom beyond the allowed
ones, **and** the checked theorem has exactly the original statement, in an
environment the proof text could not change. Everything else is ``failed``
(with messages carrying line and column), ``timeout`` or ``crashed``.

Provers follow the executors' shape: ``start``/``check``/``acheck``/``close``,
usable as a context manager, with typed errors for a prover that cannot run
at all (:class:`ProverUnavailable`). A bad proof is a result, never an exception.

Example (any prover; Coq shown)::

    from lemmaflow.tools.provers import ProofTask

    task = ProofTask(name="t", statement="Theorem t : 1 + 1 = 2.", proof="Proof. reflexivity. Qed.")
    # with CoqProver() as prover:
    #     result = prover.check(task)
    #     assert result.proved, result.summary()
"""

from __future__ import annotations

import asyncio
from typing import Literal, Protocol, Sequence, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ProofResult",
    "ProofStatus",
    "ProofTask",
    "Prover",
    "ProverConfinementUnavailable",
    "ProverError",
    "ProverMessage",
    "ProverUnavailable",
]

ProofStatus = Literal["proved", "failed", "timeout", "crashed"]


class ProverError(RuntimeError):
    """Base of the provers' typed errors."""


class ProverUnavailable(ProverError):
    """The prover cannot run here (not installed, no REPL binary); the message says how to install it."""


class ProverConfinementUnavailable(ProverUnavailable):
    """A prover must run confined and no confinement can run here (no bwrap, no user namespaces, no
    seccomp); the message says what to install and how to opt out explicitly (``confine=False`` /
    ``--unconfined-prover``). See ``docs/prover-confinement.md``."""


class ProverMessage(BaseModel):
    severity: Literal["error", "warning", "info"] = "error"
    text: str
    line: int | None = None  # 1-based, in the proof text the model wrote
    column: int | None = None  # 0-based


class ProofTask(BaseModel):
    """What to check. ``statement`` comes from the dataset; ``proof`` is the model's text.

    ``header`` is the import preamble (``Require Import ...`` / ``import Mathlib``);
    ``context`` holds already-verified lemmas (statement + proof text) the proof may use.
    """

    model_config = ConfigDict(frozen=True)
    name: str
    statement: str
    proof: str
    header: str = ""
    context: tuple[str, ...] = ()
    timeout_s: float | None = None  # None: the prover's default


class ProofResult(BaseModel):
    status: ProofStatus
    messages: list[ProverMessage] = Field(default_factory=list)
    time_s: float = 0.0
    axioms: list[str] = Field(default_factory=list)  # axioms the proof depends on
    reason: str | None = None  # why not proved, in one line (statement changed, uses sorry, ...)

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def summary(self) -> str:
        first = next((m for m in self.messages if m.severity == "error"), None)
        where = f" (line {first.line})" if first and first.line else ""
        detail = self.reason or (first.text.splitlines()[0] if first else "")
        return f"{self.status}{where}: {detail}" if detail else self.status


@runtime_checkable
class Prover(Protocol):
    """What every prover backend provides."""

    language: str  # "coq" | "lean4"

    def start(self) -> None:
        ...

    def check(self, task: ProofTask) -> ProofResult:
        ...

    async def acheck(self, task: ProofTask) -> ProofResult:
        ...

    def close(self) -> None:
        ...

    def versions(self) -> dict[str, str]:
        """What the prover reports about itself: ``{"coq": "8.16.1"}`` or ``{"lean": ..., "mathlib": ...,
        "repl": ...}`` (``"unknown"`` where it cannot tell). Recorded in reports, traces and library entries."""
        ...


async def acheck_many(prover: Prover, tasks: Sequence[ProofTask]) -> list[ProofResult]:
    """Check tasks concurrently (a pooled prover runs them in parallel)."""
    return list(await asyncio.gather(*(prover.acheck(t) for t in tasks)))
