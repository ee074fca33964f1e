"""The evolver proves requests and generalizes lemmas; nothing enters the library unless real Coq verifies it."""

import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.proving import Evolver
from lemmaflow.agents.proving.library import add_request, add_verified

from .conftest import ARITH, coq_answer

REQ = "Lemma mul0_lf (n : nat) : n * 0 = 0."


def evolve(coq, store, answers, **cfg):
    calls = []

    def script(key, i):
        calls.append(key)
        return answers(key)

    out = asyncio.run(Evolver(**cfg)(RunContext(backend=ScriptedLM(script), prover=coq, store=store, run_id="r")))
    return out, calls


def test_evolver_proves_a_request(coq, store):
    rid = add_request(store, name="mul0_lf", statement=REQ, header=ARITH, reason="failed before", problem_id="p9")
    proof = coq_answer(f"{REQ}\nProof. induction n. reflexivity. simpl. exact IHn. Qed.")
    out, calls = evolve(coq, store, lambda k: proof, generalize_per_step=0)
    assert out.tried_requests == [rid] and out.proved_requests == [rid]
    e = store.get(rid)
    assert e.status == "verified" and "induction n" in e.source and "proved by the evolver" in e.evidence
    assert e.provenance.problem_id == "p9" and e.metadata["evolve_tries"] == 1
    assert REQ in calls[0]


def test_request_proved_with_a_helper_and_a_bare_proof(coq, store):
    rid = add_request(store, name="mul0_lf", statement=REQ, header=ARITH, reason="failed before")
    proof = coq_answer("Lemma m0_lf (k : nat) : k * 0 = 0.\nProof. induction k; [reflexivity | exact IHk]. Qed.\n"
                       "Proof. apply m0_lf. Qed.")
    out, _ = evolve(coq, store, lambda k: proof, generalize_per_step=0)
    assert out.proved_requests == [rid] and "m0_lf" in store.get(rid).source


def test_wrong_proof_leaves_the_request_and_counts_the_try(coq, store):
    rid = add_request(store, name="mul0_lf", statement=REQ, header=ARITH, reason="failed before")
    admitted = coq_answer(f"{REQ}\nProof. Admitted.")
    weaker = coq_answer("Lemma mul0_lf (n : nat) : 0 = 0.\nProof. reflexivity. Qed.")
    for answer in (admitted, weaker):
        out, _ = evolve(coq, store, lambda k: answer, generalize_per_step=0, max_tries=2)
        assert out.proved_requests == [] and out.checks[0].status == "failed"
    e = store.get(rid)
    assert e.status == "requested" and e.metadata["evolve_tries"] == 2
    out, calls = evolve(coq, store, lambda k: admitted, generalize_per_step=0, max_tries=2)
    assert out.tried_requests == [] and calls == []  # out of tries: not asked again


def test_generalization_enters_only_when_verified(coq, store):
    base = add_verified(store, name="two_lf", statement="Lemma two_lf : 2 + 2 = 2 * 2.",
                        source="Lemma two_lf : 2 + 2 = 2 * 2.\nProof. reflexivity. Qed.", header=ARITH,
                        evidence="coq: proved", problem_id="p1", versions=coq.versions())
    answer = coq_answer("""
Lemma double_gen_lf (n : nat) : n + n = 2 * n.
Proof. simpl. rewrite Nat.add_0_r. reflexivity. Qed.
Lemma bogus_gen_lf (n : nat) : n + n = n.
Proof. reflexivity. Qed.
""")
    out, calls = evolve(coq, store, lambda k: answer, requests_per_step=0)
    assert out.tried_generalize == [base] and len(out.generalized) == 1
    new = store.get(out.generalized[0])
    assert new.name == "double_gen_lf" and new.status == "verified" and new.metadata["generalizes"] == base
    assert new.metadata["versions"] == coq.versions() and new.language == "coq"
    assert store.find_by_name("bogus_gen_lf") == []
    assert [c.status for c in out.checks] == ["proved", "failed"]
    assert "2 + 2 = 2 * 2" in calls[0]


def test_a_lemma_of_another_coq_version_is_not_generalized(coq, store):
    add_verified(store, name="two_lf", statement="Lemma two_lf : 2 + 2 = 2 * 2.",
                 source="Lemma two_lf : 2 + 2 = 2 * 2.\nProof. reflexivity. Qed.", header=ARITH,
                 evidence="coq: proved", versions={"coq": "8.15.0"})
    out, calls = evolve(coq, store, lambda k: "unused", requests_per_step=0)
    assert out.tried_generalize == [] and calls == []
