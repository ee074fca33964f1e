from lemmaflow.agents.proving.coq_blocks import (
    context_text, extract_coq, import_sentences, references, split_blocks,
)


def test_helpers_main_and_preamble():
    code = ("Require Import Lra.\nOpen Scope R_scope.\n"
            "Lemma h1 (x : R) : 0 <= x * x.\nProof. nra. Qed.\n"
            "Lemma h2 : 1 = 1.\nProof.\n- reflexivity.\nQed.\n"
            "Theorem t (a : R) : 0 <= a * a + 1.\nProof. pose proof (h1 a). lra. Qed.\n")
    p = split_blocks(code, "t")
    assert p.error is None
    assert p.preamble.splitlines() == ["Require Import Lra.", "Open Scope R_scope."]
    assert [h.name for h in p.helpers] == ["h1", "h2"] and all(h.closed for h in p.helpers)
    assert p.helpers[0].statement == "Lemma h1 (x : R) : 0 <= x * x."
    assert p.main is not None and p.main.name == "t" and p.main.text.endswith("Qed.")
    assert p.helpers[1].text == "Lemma h2 : 1 = 1.\nProof.\n-\nreflexivity.\nQed."


def test_bare_proof_and_unclosed_helper():
    p = split_blocks("Proof. lia. Qed.", "t")
    assert p.main is None and p.loose.startswith("Proof.") and not p.helpers
    p = split_blocks("Lemma h : 1 = 1.\nProof. Admitted.\nTheorem t : 2 = 2. Proof. auto. Qed.", "t")
    assert [(h.name, h.closed) for h in p.helpers] == [("h", False)] and p.main.closed
    p = split_blocks("Lemma h : 1 = 1.\nProof. reflexivity.", "t")  # cut off
    assert [(h.name, h.closed) for h in p.helpers] == [("h", False)] and p.main is None
    assert split_blocks("Lemma h : (* open comment", "t").error


def test_extract_takes_last_nonempty_fence_or_text():
    assert extract_coq("a\n```coq\nLemma a : True.\n```\nb\n```coq\nLemma b : True.\n```") == "Lemma b : True.\n"
    assert extract_coq("```\nProof. auto. Qed.") == "Proof. auto. Qed.\n"  # cut off inside the fence
    assert extract_coq("Proof. auto. Qed.") == "Proof. auto. Qed.\n"


def test_references_ignore_comments_and_substrings():
    assert references("apply h1. (* h2 *) exact h10.", {"h1", "h2", "h"}) == {"h1"}


def test_context_is_sectioned_with_portable_imports():
    assert import_sentences("Require Import Reals.\nOpen Scope R_scope.") is not None
    assert import_sentences("Require Import Reals.\nDefinition f (x : R) := x.") is None
    text = context_text("Lemma h : True. Proof. auto. Qed.", "Require Import Reals.\nOpen Scope R_scope.", "e1")
    assert text.index("Section lf_ctx_e1.") < text.index("Open Scope R_scope.") < text.index("End lf_ctx_e1.")
