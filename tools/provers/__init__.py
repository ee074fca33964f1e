"""Prover clients: Coq (warm coqtop pool, coqc fallback) and Lean 4 (REPL protocol).

All share :class:`Prover`: ``check(ProofTask) -> ProofResult``.
"""

from .base import (
    ProofResult,
    ProofStatus,
    ProofTask,
    Prover,
    ProverConfinementUnavailable,
    ProverError,
    ProverMessage,
    ProverUnavailable,
    acheck_many,
)

__all__ = [
    "ProofResult",
    "ProofStatus",
    "ProofTask",
    "Prover",
    "ProverConfinementUnavailable",
    "ProverError",
    "ProverMessage",
    "ProverUnavailable",
    "acheck_many",
]
