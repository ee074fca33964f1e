"""The assumption memo of the warm Coq pool (tools/provers/coq_memo.py + coq_plugin/) on real Coq.

The memo lets a session walk its preloaded libraries once; these tests aim at what that shortcut could
let through: an axiom reached only through a memoized library lemma (checked cold and warm), objects
that pose as library objects (modules named like Coq's own, aliases of library modules), libraries
``Require``-d by the proof after the seal, the proof's own Admitted helpers next to memoized lemmas,
sealing again, spoofed output. Every verdict must equal plain ``Print Assumptions``'s (the same pool
with the memo off), including the axioms reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers.coq import DEFAULT_PRELOAD, CoqProver
from lemmaflow.tools.provers.coq_memo import plugin_path
from lemmaflow.tools.provers.minif2f import load_minif2f_coq

# A compiled library with a disallowed axiom: preloaded (sealed) in one pool, loaded by the header in another.
EVIL = "Axiom cheat : False.\nLemma behind : 2 + 2 = 5.\nProof. destruct cheat. Qed.\n"
EVIL_STMT = "Theorem t : 2 + 2 = 5."
REALS = "Require Import Reals Lra.\nOpen Scope R_scope."
REALS_STMT = "Theorem t (a b : R) (h : a + b = 2) (h2 : a - b = 0) : a = 1."
FALSE_STMT = "Theorem t : 2 + 2 = 5."

# (header, statement, proof, expected verdict, text the reason must contain)
CASES = {
    "warm-up: lra walks the Reals": (REALS, REALS_STMT, "Proof. lra. Qed.", "proved", ""),
    "axiom only behind a sealed library lemma": (
        "Require Import Arith.", EVIL_STMT, "Proof. exact EvilLib.Lib.behind. Qed.", "failed", "not allowed: "),
    "the same again, memo warm": (
        "Require Import Arith.", EVIL_STMT, "Proof. exact EvilLib.Lib.behind. Qed.", "failed", "not allowed: "),
    "the sealed axiom used directly": (
        "Require Import Arith.", EVIL_STMT, "Proof. destruct EvilLib.Lib.cheat. Qed.", "failed", "not allowed: "),
    "an axiom in modules named like Coq's Reals": (
        REALS, REALS_STMT,
        "Module Coq. Module Reals. Module Rdefinitions. Axiom cheat : False. End Rdefinitions. End Reals. End Coq.\n"
        "Theorem t (a b : R) (h : a + b = 2) (h2 : a - b = 0) : a = 1.\nProof. destruct Coq.Reals.Rdefinitions.cheat. Qed.",
        "failed", "not allowed"),
    "an Admitted helper next to memoized library lemmas": (
        REALS, REALS_STMT,
        "Lemma helper (a b : R) : a + b = 2 -> a - b = 0 -> a = 1.\nProof. Admitted.\n"
        "Theorem t (a b : R) (h : a + b = 2) (h2 : a - b = 0) : a = 1.\nProof. pose proof Rplus_comm. lra. Qed.",
        "proved", ""),
    "an Admitted helper that the proof uses": (
        REALS, REALS_STMT,
        "Lemma helper (a b : R) : a + b = 2 -> a - b = 0 -> a = 1.\nProof. Admitted.\n"
        "Theorem t (a b : R) (h : a + b = 2) (h2 : a - b = 0) : a = 1.\nProof. rewrite Rplus_comm in h. "
        "apply (helper a b); lra. Qed.", "failed", "not allowed: helper"),
    "an alias of a library module, then an axiom": (
        REALS, REALS_STMT,
        "Module R' := Coq.Reals.Rdefinitions.\nAxiom cheat : forall a b : R, a = b.\n"
        "Theorem t (a b : R) (h : a + b = 2) (h2 : a - b = 0) : a = 1.\nProof. apply cheat. Qed.",
        "failed", "not allowed: cheat"),
    "a library Require-d after the seal, with a disallowed axiom": (
        "Require Import Arith.", FALSE_STMT,
        "Require Coq.Logic.ClassicalChoice.\nTheorem t : 2 + 2 = 5.\nProof.\n"
        "destruct (Coq.Logic.ClassicalChoice.choice (fun (_ : nat) (_ : nat) => False)) as [f _].\n"
        "- intros; exfalso. Abort.\nAxiom cheat : False.\nTheorem t : 2 + 2 = 5. Proof. destruct cheat. Qed.",
        "failed", "not allowed: cheat"),
    "guard checking off next to memoized lemmas": (
        REALS, FALSE_STMT,
        "Unset Guard Checking.\nFixpoint f (n : nat) : False := f n.\nSet Guard Checking.\n"
        "Theorem t : 2 + 2 = 5. Proof. pose proof Rplus_comm. destruct (f 0). Qed.", "failed", "guarded"),
    "sealing again from the proof": (
        "Require Import Arith.", "Theorem t : 2 + 2 = 4.", "Lemmaflow Seal Libraries.\nTheorem t : 2 + 2 = 4.\n"
        "Proof. reflexivity. Qed.", "failed", "already sealed"),
    "spoofed memo output": (
        "Require Import Arith.", FALSE_STMT,
        'Axiom cheat : False.\nTheorem t : 2 + 2 = 5.\nProof. destruct cheat. Qed.\nLemmaflow Print Assumptions Nat.add.',
        "failed", "not allowed: cheat"),
    "after all that, a plain proof still passes": ("Require Import Arith.", "Theorem t : 2 + 2 = 4.",
                                                   "Proof. reflexivity. Qed.", "proved", ""),
}


@pytest.fixture(scope="module")
def evil_lib():
    # Not under /tmp: a confined Coq gets its own scratch /tmp, which would hide the library's folder.
    d = Path(tempfile.mkdtemp(prefix="lemmaflow-evil-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    d.chmod(0o755)  # a confined Coq runs under another uid: mkdtemp's 0700 would hide it
    try:
        (d / "Lib.v").write_text(EVIL)
        subprocess.run(["coqc", "-q", "-Q", str(d), "EvilLib", str(d / "Lib.v")], check=True, cwd=d)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def memo_pool(evil_lib):
    with CoqProver(pool_size=1, timeout_s=120.0, coq_args=("-Q", str(evil_lib), "EvilLib"),
                   preload=DEFAULT_PRELOAD + " Require EvilLib.Lib.") as prover:
        yield prover


@pytest.fixture(scope="module")
def plain_pool(evil_lib):
    with CoqProver(pool_size=1, timeout_s=120.0, coq_args=("-Q", str(evil_lib), "EvilLib"),
                   preload=DEFAULT_PRELOAD + " Require EvilLib.Lib.", assumption_memo=False) as prover:
        yield prover


def test_a_library_required_after_the_seal_is_walked_every_time(evil_lib):
    """The library comes with the task's header (not preloaded): never memoized, refused cold and warm."""
    with CoqProver(pool_size=1, timeout_s=120.0, coq_args=("-Q", str(evil_lib), "EvilLib")) as prover:
        assert prover.assumption_memo
        for _ in range(2):
            for header in ("Require Import EvilLib.Lib.", "Require Import Arith."):
                proof = ("Proof. exact behind. Qed." if "Evil" in header else
                         "Require EvilLib.Lib.\nTheorem t : 2 + 2 = 5. Proof. exact EvilLib.Lib.behind. Qed.")
                r = prover.check(ProofTask(name="t", header=header, statement=EVIL_STMT, proof=proof))
                assert r.status == "failed" and "not allowed: " in (r.reason or ""), (header, r.summary())
                assert any(a.endswith("cheat") for a in r.axioms), r.axioms


def test_the_plugin_builds_and_the_pool_uses_it(memo_pool, plain_pool):
    # setup.sh installs ocaml-findlib + libcoq-core-ocaml-dev; without them the pool falls back (slower),
    # and these tests would not exercise the shortcut at all, so that is a failure here.
    assert plugin_path() is not None
    assert memo_pool.assumption_memo and not plain_pool.assumption_memo


def test_memo_verdicts_equal_print_assumptions(memo_pool, plain_pool):
    # one session, in this order: the memo is cold for the first JMeq check and warm for the second
    for kind, (header, stmt, proof, status, expect) in CASES.items():
        task = ProofTask(name="t", header=header, statement=stmt, proof=proof)
        fast, slow = memo_pool.check(task), plain_pool.check(task)
        assert fast.status == status, (kind, fast.summary())
        assert expect in (fast.reason or ""), (kind, fast.summary())
        assert slow.status == fast.status, (kind, slow, fast)
        if "Lemmaflow" not in proof:  # the memo's commands are a syntax error without the plugin
            assert sorted(slow.axioms) == sorted(fast.axioms), (kind, slow, fast)
        if "sealed" in kind:
            assert any(a.endswith("cheat") for a in fast.axioms), (kind, fast.axioms)


def test_memo_agrees_on_minif2f_proofs(memo_pool, plain_pool):
    problems = {p.name: p for p in load_minif2f_coq("valid")}
    for name, proof in [("mathd_algebra_109", "Proof. intros. lra. Qed."), ("mathd_algebra_123", "Proof. lia. Qed."),
                        ("mathd_algebra_104", "Proof. lra. Qed."), ("mathd_algebra_109", "Proof. intros. nra. Qed.")]:
        task = problems[name].task(proof)
        fast, slow = memo_pool.check(task), plain_pool.check(task)
        assert fast.proved and slow.proved, (name, fast.summary(), slow.summary())
        assert sorted(fast.axioms) == sorted(slow.axioms), (name, fast.axioms, slow.axioms)
        assert bool(fast.axioms) == ("ra." in proof), fast.axioms  # lra/nra on R rest on the Reals axioms


def test_a_plugin_that_does_not_load_falls_back_to_print_assumptions(monkeypatch, tmp_path):
    """E.g. a confinement that hides the plugin's folder: the session restarts without it, same verdicts."""
    from lemmaflow.tools.provers import coq as coq_module

    monkeypatch.setattr(coq_module, "plugin_path", lambda: str(tmp_path))  # no lemmaflow-coq package there
    with CoqProver(pool_size=1, timeout_s=120.0) as prover:
        assert not prover.assumption_memo
        assert "plugin does not load" in (prover._sessions[0].memo_error or "")
        ok = prover.check(ProofTask(name="t", header="Require Import Arith.", statement="Theorem t : 2 + 2 = 4.",
                                    proof="Proof. reflexivity. Qed."))
        bad = prover.check(ProofTask(name="t", header="Require Import Arith.", statement=EVIL_STMT,
                                     proof="Axiom cheat : False.\nTheorem t : 2 + 2 = 5. Proof. destruct cheat. Qed."))
        assert ok.proved and bad.status == "failed" and "not allowed: cheat" in (bad.reason or "")
