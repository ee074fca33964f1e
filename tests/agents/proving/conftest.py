"""Real Coq and a real SQLite library for the LEGO-Prover tests; problems written here (tiny, real Coq)."""

from __future__ import annotations

import pytest

from lemmaflow.skills_library import HashingEmbedder, open_store
from lemmaflow.tools.provers.coq import CoqProver
from lemmaflow.tools.provers.minif2f import CoqProblem

ARITH = "Require Import Arith.\n"  # nat goals check in ~10 ms (Reals goals take ~1 s each)


def problem(name: str, statement: str, header: str = ARITH) -> CoqProblem:
    return CoqProblem(name=name, split="test", header=header, statement=statement, path="")


@pytest.fixture(scope="session")
def coq():
    with CoqProver(pool_size=2, timeout_s=60.0) as prover:
        yield prover


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "lib.db", embedder=HashingEmbedder(256)) as s:
        yield s


def coq_answer(code: str) -> str:
    return f"Here is the proof.\n```coq\n{code.strip()}\n```\n"


@pytest.fixture(scope="session")
def lean():
    """LeanProver on the shipped REPL double (a protocol double, not a Lean: it proves nothing)."""
    from lemmaflow.tools.provers.lean import LeanProver
    from lemmaflow.tools.provers.lean_repl import fake_repl_command

    with LeanProver(command=tuple(fake_repl_command()), pool_size=2, timeout_s=30.0) as prover:
        yield prover


@pytest.fixture(scope="session")
def lean_problems():
    from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean

    return {p.name: p for p in load_minif2f_lean("all")}


def lean_answer(code: str) -> str:
    return f"Here is the proof.\n```lean4\n{code.strip()}\n```\n"
