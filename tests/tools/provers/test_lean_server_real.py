"""LeanServerProver on a real Kimina Lean Server: runs when $LEAN_SERVER_API_URL names one (and
$LEAN_SERVER_API_KEY its key, if it has one). Lean cannot be installed here; test_lean_server.py runs the
same client against the shipped HTTP double."""

from __future__ import annotations

import os
import re

import pytest

from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers.lean_server import LeanServerProver

pytestmark = pytest.mark.skipif(
    not os.environ.get("LEAN_SERVER_API_URL"),
    reason="LEAN_SERVER_API_URL is not set: run a Kimina Lean Server (project-numina/kimina-lean-server) and point "
           "LEAN_SERVER_API_URL at it",
)

ADD = "theorem lf_add_zero (n : Nat) : n + 0 = n := by\n"


@pytest.fixture(scope="module")
def server():
    with LeanServerProver(timeout_s=120) as prover:
        yield prover


def test_core_lean_verdicts(server):
    ok, sorry, wrong, err = server.check_batch([
        ProofTask(name="lf_add_zero", statement=ADD, proof="  simp"),
        ProofTask(name="lf_add_zero", statement=ADD, proof="  sorry"),
        ProofTask(name="lf_add_zero", statement=ADD, proof="theorem lf_add_zero : True := trivial"),
        ProofTask(name="lf_add_zero", statement=ADD, proof="  simp\n  exact foo"),
    ])
    assert ok.proved, ok.summary()
    assert sorry.status == "failed" and sorry.reason.startswith("uses sorry"), sorry.summary()
    assert wrong.status == "failed" and "does not have the original statement" in wrong.reason, wrong.summary()
    assert err.status == "failed" and any(m.line == 2 for m in err.messages), err.messages


def test_versions(server):
    v = server.versions()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", v["lean"]), v


@pytest.mark.skipif(not os.environ.get("LEMMAFLOW_LEAN_MATHLIB"), reason="LEMMAFLOW_LEAN_MATHLIB is not set")
def test_a_minif2f_problem(server):
    from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean
    p = next(x for x in load_minif2f_lean("valid") if x.name == "mathd_algebra_182")
    assert server.check(p.task("  ring", timeout_s=600)).proved
