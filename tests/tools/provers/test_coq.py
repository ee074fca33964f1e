"""The Coq prover on real Coq: hand-written miniF2F proofs, wrong proofs, adversarial proofs of every kind,
isolation between checks, timeouts, memory, crashes; the coqc fallback agrees."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from lemmaflow.tools.provers import ProofTask, acheck_many
from lemmaflow.tools.provers import coq_check
from lemmaflow.tools.provers.coq import CoqProver
from lemmaflow.tools.provers.coq_ide import CoqIdeSession
from lemmaflow.tools.provers.coqc import CoqcProver
from lemmaflow.tools.provers.minif2f import load_minif2f_coq

HAND_PROOFS = {
    "mathd_algebra_109": "Proof. intros. lra. Qed.",
    "mathd_algebra_119": "Proof. intros d e h0 h1. lra. Qed.",
    "mathd_algebra_123": "Proof. lia. Qed.",
    "mathd_algebra_104": "Proof. lra. Qed.",
    "mathd_numbertheory_102": "Proof. reflexivity. Qed.",
    # a full text with its own imports and a helper lemma
    "mathd_numbertheory_101": (
        "Require Import Arith.\nLemma helper : 17 * 18 = 306.\nProof. reflexivity. Qed.\n"
        "Theorem mathd_numbertheory_101 :\n  (17 * 18) mod 4 = 2.\nProof.\n  rewrite helper. reflexivity.\nQed."
    ),
}
WRONG_PROOFS = {
    "mathd_algebra_109": "Proof. intros. lia. Qed.",  # lia does not do reals
    "mathd_algebra_123": "Proof. reflexivity. Qed.",
    "mathd_numbertheory_136": "Proof. intros. subst. auto. Qed.",
}


@pytest.fixture(scope="module")
def problems():
    return {p.name: p for p in load_minif2f_coq("valid")}


def test_hand_written_minif2f_proofs_are_accepted(coq, problems):
    tasks = [problems[name].task(proof) for name, proof in HAND_PROOFS.items()]
    results = asyncio.run(acheck_many(coq, tasks))
    for name, r in zip(HAND_PROOFS, results):
        assert r.proved, (name, r.summary(), r.messages)
        assert set(r.axioms) <= {"ClassicalDedekindReals.sig_forall_dec", "FunctionalExtensionality.functional_extensionality_dep",
                                 "ClassicalDedekindReals.sig_not_dec"}, r.axioms


def test_wrong_minif2f_proofs_are_rejected_with_positions(coq, problems):
    for name, proof in WRONG_PROOFS.items():
        r = coq.check(problems[name].task(proof))
        assert r.status == "failed", (name, r.summary())
        err = next(m for m in r.messages if m.severity == "error")
        assert err.line == 1 and err.column is not None and err.column > 0, err


# A false statement: whatever the model writes, a proof of it means the checker was fooled.
FALSE = "Theorem t : 2 + 2 = 5."
FALSE_HEADER = "Require Import Arith."
# Really loops (10^12 iterations of a cheap function, constant memory), unlike `repeat idtac`, which stops.
LOOP = "Require Import NArith.\nTheorem t : 2 + 2 = 5.\nProof. Eval vm_compute in (N.iter 1000000000000%N negb true). Qed."

ADVERSARIAL = {
    "Admitted": ("Proof. Admitted.", "itself is assumed"),
    "admit+Admitted": ("Proof. admit. Admitted.", "itself is assumed"),
    "admit+Qed": ("Proof. admit. Qed.", "given up"),
    "axiom smuggling": ("Axiom cheat : False.\nTheorem t : 2 + 2 = 5.\nProof. destruct cheat. Qed.", "not allowed: cheat"),
    "parameter in a module named like the Reals axiom": (
        "Module ClassicalDedekindReals. Axiom sig_forall_dec : False. End ClassicalDedekindReals.\n"
        "Theorem t : 2 + 2 = 5. Proof. destruct ClassicalDedekindReals.sig_forall_dec. Qed.", "not allowed"),
    "Hypothesis in a Section": (
        "Section S.\nHypothesis h : 2 + 2 = 5.\nTheorem t : 2 + 2 = 5.\nProof. exact h. Qed.\nEnd S.", "original statement"),
    "Variable in a Section": (
        "Section S.\nVariable cheat : False.\nTheorem t : 2 + 2 = 5.\nProof. destruct cheat. Qed.\nEnd S.", "original statement"),
    "local Notation for +": (
        'Local Notation "x + y" := (Nat.add x (S y)).\nTheorem t : 2 + 2 = 5.\nProof. reflexivity. Qed.', "original statement"),
    "Infix redefining + globally in the text": (
        'Infix "+" := Nat.mul.\nTheorem t : 2 + 2 = 5.\nProof. Abort.\nTheorem t : 3 + 3 = 9. Proof. reflexivity. Qed.',
        "original statement"),
    "redefinition of nat": (
        "Definition nat := unit.\nTheorem t : forall n m : nat, n = m.\nProof. intros [] []; reflexivity. Qed.",
        "original statement"),
    "different theorem, same name": ("Theorem t : 2 + 2 = 4.\nProof. reflexivity. Qed.", "original statement"),
    "Abort": ("Theorem t : 2 + 2 = 5.\nProof. Abort.", "does not define t"),
    "unterminated proof": ("Theorem t : 2 + 2 = 5.\nProof. auto.", "open"),
    "guard checking off": (
        "Unset Guard Checking.\nFixpoint f (n : nat) : False := f n.\nSet Guard Checking.\n"
        "Theorem t : 2 + 2 = 5. Proof. destruct (f 0). Qed.", "guarded"),
    "spoofed Print Assumptions output": (
        'Axiom cheat : False.\nTheorem t : 2 + 2 = 5.\nProof. idtac "Closed under the global context". destruct cheat. Qed.\n'
        "Print Assumptions Nat.add.", "not allowed: cheat"),
    "Drop": ("Drop.", "forbidden"),
    "Quit": ("Theorem t : 2 + 2 = 5. Quit.", "forbidden"),
    "Load": ('Load "/etc/passwd".', "forbidden"),
    "Cd": ('Cd "/".', "forbidden"),
    "Redirect": ('Redirect "/tmp/lemmaflow_pwned" Print nat.', "forbidden"),
    "Add LoadPath": ('Add LoadPath "/tmp" as Evil.\nRequire Import Evil.', "forbidden"),
    "Require of a file that is not a library": ("Require Import lemmaflow_no_such_file.", "Coq error"),
    "garbage": ("Proof. ))) intros (( Qed.", "Coq error"),
    "unterminated comment": ("Proof.\n  (* never closed\n  auto.\nQed.", "unterminated comment"),
}


@pytest.mark.parametrize("kind", list(ADVERSARIAL))
def test_adversarial_proofs_are_rejected(coq, kind):
    proof, expect = ADVERSARIAL[kind]
    r = coq.check(ProofTask(name="t", header=FALSE_HEADER, statement=FALSE, proof=proof))
    assert r.status == "failed", (kind, r.summary())
    assert expect in (r.reason or ""), (kind, r.summary())


def test_weaker_statement_is_rejected(coq):
    r = coq.check(ProofTask(
        name="w", header=FALSE_HEADER, statement="Theorem w : forall n : nat, n + 1 = 1.",
        proof="Theorem w : forall n : nat, n = 0 -> n + 1 = 1.\nProof. intros n ->. reflexivity. Qed."))
    assert r.status == "failed" and "original statement" in (r.reason or ""), r.summary()


def test_error_positions_refer_to_the_models_text(coq):
    r = coq.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 2 + 2 = 4.",
                            proof="Proof.\n  simpl.\n    exact I.\nQed."))
    err = next(m for m in r.messages if m.severity == "error")
    assert (err.line, err.column) == (3, 10), err
    r = coq.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 2 + 2 = 4.",
                            proof="Proof.\n  (* never closed\n  auto.\nQed."))
    assert (r.messages[0].line, r.messages[0].column) == (2, 2)


def test_checks_are_isolated(monkeypatch):
    """Check 1 defines a constant, an axiom and a notation; check 2, on the same process, sees none of them:
    not under the module name check 1 used, not the statement definition, not the notation."""
    nonces = (c * 16 for c in "abcdefghij")
    monkeypatch.setattr(coq_check.secrets, "token_hex", lambda n: next(nonces))
    with CoqProver(pool_size=1) as prover:
        pid = prover.session_pids()[0]
        first = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 1 = 1.", proof=(
            "Definition lf_leak : nat := 42.\nAxiom lf_ax : False.\n"
            'Global Notation "x +++ y" := (x + y) (at level 50).\nTheorem t : 1 = 1. Proof. reflexivity. Qed.')))
        assert first.proved, first.summary()
        for probe, needle in [("Check LFaaaaaaaaaaaaaaaa.lf_leak.", "LFaaaaaaaaaaaaaaaa.lf_leak"),
                              ("Check LFaaaaaaaaaaaaaaaa.lf_ax.", "LFaaaaaaaaaaaaaaaa.lf_ax"),
                              ("Check __lf_goal_LFaaaaaaaaaaaaaaaa.", "__lf_goal_LFaaaaaaaaaaaaaaaa")]:
            r = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 1 = 1.",
                                       proof=probe + "\nTheorem t : 1 = 1. Proof. reflexivity. Qed."))
            assert r.status == "failed" and "was not found" in r.messages[0].text and needle in r.messages[0].text, r
        r = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 1 = 1.",
                                   proof="Check (1 +++ 2).\nTheorem t : 1 = 1. Proof. reflexivity. Qed."))
        assert r.status == "failed", r.summary()
        assert prover.session_pids()[0] == pid and prover.restarts == 0  # rewound, not restarted


def test_edit_at_restores_the_environment():
    s = CoqIdeSession()
    s.start()
    try:
        base = s.root
        sid = s.add("Definition lf_leak := 1.", base)
        sid = s.add("Axiom lf_ax : False.", sid)
        assert s.status().ok
        assert s.edit_at(base)
        sid = s.add("Check lf_leak.", base)
        st = s.status()
        assert not st.ok and "lf_leak" in st.failure.text
    finally:
        s.close()


def test_timeout_kills_and_restarts_the_session():
    with CoqProver(pool_size=1, timeout_s=3.0) as prover:
        pid = prover.session_pids()[0]
        t0 = time.monotonic()
        r = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement=FALSE, proof=LOOP))
        assert r.status == "timeout" and time.monotonic() - t0 < 10, r
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the process group was killed
        # A generous timeout for the check after the restart: on a loaded 2-core machine the fresh
        # session's start plus the check can take longer than the 3 s that stopped the loop.
        ok = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 2 + 2 = 4.",
                                    proof="Proof. reflexivity. Qed.", timeout_s=60.0))
        assert ok.proved, ok
        assert prover.restarts == 1 and prover.session_pids()[0] != pid


def test_memory_exhaustion_is_contained():
    with CoqProver(pool_size=1, memory_limit_mb=1024, timeout_s=60.0) as prover:
        r = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement=FALSE, proof=(
            "Definition big := List.repeat 0 (2 ^ 28).\nTheorem t : 2 + 2 = 5.\n"
            "Proof. assert (List.length big = 0) by (vm_compute; reflexivity). Qed.")))
        assert r.status in ("failed", "crashed"), r.summary()
        ok = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 2 + 2 = 4.",
                                    proof="Proof. reflexivity. Qed."))
        assert ok.proved, ok.summary()


def test_a_session_that_dies_mid_check_is_crashed_then_restarted():
    with CoqProver(pool_size=1, timeout_s=30.0) as prover:
        pid = prover.session_pids()[0]
        threading.Timer(1.0, lambda: os.killpg(pid, signal.SIGKILL)).start()
        r = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement=FALSE, proof=LOOP))
        assert r.status == "crashed", r.summary()
        # A generous timeout for the check after the restart: on a loaded 2-core machine the fresh
        # session's start plus the check can take longer than the 3 s that stopped the loop.
        ok = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement="Theorem t : 2 + 2 = 4.",
                                    proof="Proof. reflexivity. Qed.", timeout_s=60.0))
        assert ok.proved, ok
        assert prover.restarts == 1


def test_coqc_fallback_agrees(problems):
    prover = CoqcProver(timeout_s=60.0)
    good = prover.check(problems["mathd_algebra_123"].task(HAND_PROOFS["mathd_algebra_123"]))
    assert good.proved, good.summary()
    for kind in ("Admitted", "axiom smuggling", "Hypothesis in a Section", "spoofed Print Assumptions output"):
        proof, expect = ADVERSARIAL[kind]
        r = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement=FALSE, proof=proof))
        assert r.status == "failed" and expect in (r.reason or ""), (kind, r.summary())
    wrong = prover.check(problems["mathd_algebra_123"].task("Proof.\n  reflexivity.\nQed."))
    assert wrong.status == "failed" and wrong.messages[0].line == 2, wrong
    slow = prover.check(ProofTask(name="t", header=FALSE_HEADER, statement=FALSE, proof=LOOP,
                                  timeout_s=3.0))
    assert slow.status == "timeout"
