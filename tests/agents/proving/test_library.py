"""Library helpers of the prover: dedupe, requests answered, portable retrieval, cross-header context."""

from lemmaflow.agents.proving.library import (
    add_request, add_verified, lemma_context, retrieve_lemmas, same_lemma,
)
from lemmaflow.skills_library import Entry
from lemmaflow.tools.provers import ProofTask

from .conftest import ARITH

REALS = "Require Import Reals.\nOpen Scope R_scope.\n"
STMT = "Lemma add0_lf (n : nat) : n + 0 = n."
SRC = STMT + "\nProof. apply Nat.add_0_r. Qed."


def lemma(name, statement, header=ARITH):
    return Entry(kind="lemma", name=name, language="coq", statement=statement, metadata={"header": header})


def test_same_lemma_ignores_name_and_layout_not_header():
    a = lemma("a", "Lemma a (n : nat) : n + 0 = n.")
    assert same_lemma(a, lemma("b", "Lemma b (n : nat) :\n  n + 0 = n."))
    assert not same_lemma(a, lemma("b", "Lemma b (n : nat) : 0 + n = n."))
    assert not same_lemma(a, lemma("a", "Lemma a (n : nat) : n + 0 = n.", header=REALS))


def test_verified_twice_is_one_entry_and_answers_a_request(store):
    rid = add_request(store, name="add0_lf", statement=STMT, header=ARITH, reason="Coq error")
    vid = add_verified(store, name="add0_lf", statement=STMT, source=SRC, header=ARITH, evidence="coq: proved")
    assert vid == rid and store.get(rid).status == "verified" and store.get(rid).metadata["was_request"]
    assert add_verified(store, name="add0_lf", statement=STMT, source=SRC, header=ARITH, evidence="again") == vid
    assert len(store) == 1


def test_retrieval_is_portable_and_names_are_distinct(store):
    defs = "Require Import Arith.\nDefinition f (n : nat) := n + 1.\n"
    add_verified(store, name="f_lf", statement="Lemma f_lf (n : nat) : f n = n + 1.",
                 source="Lemma f_lf (n : nat) : f n = n + 1.\nProof. reflexivity. Qed.", header=defs, evidence="")
    add_verified(store, name="add0_lf", statement=STMT, source=SRC, header=ARITH, evidence="")
    add_verified(store, name="add0_lf", statement="Lemma add0_lf (m : nat) : m = m + 0.",
                 source="Lemma add0_lf (m : nat) : m = m + 0.\nProof. symmetry. apply Nat.add_0_r. Qed.",
                 header=ARITH, evidence="")
    got = retrieve_lemmas(store, "f n = n + 1 and n + 0 = n", ARITH, k=5)
    assert [e.name for e in got] == ["add0_lf"]  # f_lf needs its own header's Definition; one add0_lf
    assert {e.name for e in retrieve_lemmas(store, "f n = n + 1", defs, k=5)} == {"f_lf", "add0_lf"}


def test_a_reals_lemma_is_usable_context_under_another_header(coq, store):
    rid = add_verified(store, name="sq_lf", statement="Lemma sq_lf (x : R) : 0 <= x * x.",
                       source="Lemma sq_lf (x : R) : 0 <= x * x.\nProof. apply Rle_0_sqr. Qed.", header=REALS,
                       evidence="")
    ctx = (lemma_context(store.get(rid)),)
    # its Open Scope R_scope stays in its Section: 1 + 1 is still nat here
    nat = coq.check(ProofTask(name="t", statement="Theorem t : 1 + 1 = 2.", proof="Proof. reflexivity. Qed.",
                              header=ARITH, context=ctx))
    assert nat.proved, nat.summary()
    real = coq.check(ProofTask(name="u", statement="Theorem u (y : R) : (0 <= y * y)%R.",
                               proof="Proof. apply sq_lf. Qed.", header="Require Import Reals.\n", context=ctx))
    assert real.proved, real.summary()
