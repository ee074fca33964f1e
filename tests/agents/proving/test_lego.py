"""LegoProver with a scripted model whose proofs are real Coq, checked by real Coq (coqidetop).

Proofs avoid lia where they must succeed: Print Assumptions over a lia proof term takes ~1.5 s here.
"""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.proving import LegoProver
from lemmaflow.agents.proving.library import lemma_context, with_dependencies
from lemmaflow.tools.provers import ProofTask

from .conftest import ARITH, coq_answer

P1 = "Theorem p1 (a : nat) : a + a + 0 = 2 * a."
P2 = "Theorem p2 (b c : nat) : b + b + (c + c) = 2 * b + 2 * c."

P1_ANSWER = coq_answer("""
Lemma double_lf (n : nat) : n + n = 2 * n.
Proof. simpl. rewrite Nat.add_0_r. reflexivity. Qed.
Lemma wrong_lf (n : nat) : n + 1 = n.
Proof. lia. Qed.
Theorem p1 (a : nat) : a + a + 0 = 2 * a.
Proof. rewrite Nat.add_0_r. apply double_lf. Qed.
""")
# uses the library lemma by name only: provable only with problem 1's helper in the context
P2_ANSWER = coq_answer("""
Theorem p2 (b c : nat) : b + b + (c + c) = 2 * b + 2 * c.
Proof. rewrite !double_lf. reflexivity. Qed.
""")


def by_problem(answers: dict[str, list[str]]):
    """Answers formal/repair prompts in order, by the theorem they name; sketch prompts get a sketch."""
    seen: list[str] = []
    calls = {name: 0 for name in answers}

    def script(key: str, i: int) -> str:
        seen.append(key)
        if "informal proof" in key:
            return "Adding a number to itself doubles it."
        for name, texts in answers.items():
            if f"Theorem {name} " in key:
                calls[name] += 1
                return texts[min(calls[name] - 1, len(texts) - 1)]
        return "no idea"

    return script, seen


def run(node, ctx, name, statement, header=ARITH):
    return asyncio.run(node(ctx, name=name, statement=statement, header=header))


def test_helper_enters_library_and_is_reused_by_the_next_problem(coq, store):
    script, prompts = by_problem({"p1": [P1_ANSWER], "p2": [P2_ANSWER]})
    lm = ScriptedLM(script)
    node = LegoProver(sketch=False, repair_rounds=0)
    out1 = run(node, RunContext(backend=lm, prover=coq, store=store, problem_id="p1", run_id="r1"), "p1", P1)
    assert out1.proved and out1.helpers_verified == ["double_lf"] and out1.retrieved == [] and out1.used == []
    lemma = store.get(out1.added[0])
    assert lemma.status == "verified" and lemma.name == "double_lf"
    assert lemma.statement == "Lemma double_lf (n : nat) : n + n = 2 * n."
    assert "rewrite Nat.add_0_r" in lemma.source and lemma.evidence.startswith("coq: proved")
    assert lemma.provenance.problem_id == "p1" and lemma.provenance.run_id == "r1"
    assert lemma.metadata["header"] == ARITH

    out2 = run(node, RunContext(backend=lm, prover=coq, store=store, problem_id="p2", run_id="r1"), "p2", P2)
    assert out2.proved, out2.checks
    assert out2.retrieved[0] == lemma.id and out2.used == [lemma.id] and out2.used_names == ["double_lf"]
    assert "Lemma double_lf (n : nat) : n + n = 2 * n." in prompts[-1]  # shown to the model
    ev = {(e.event, e.entry_id, e.problem_id) for e in store.events()}
    assert {("retrieved", lemma.id, "p2"), ("shown", lemma.id, "p2"), ("used", lemma.id, "p2")} <= ev
    assert not any(e[2] == "p1" and e[0] == "used" for e in ev)


def test_same_proof_without_the_library_fails(coq):
    """The baseline arm: no retrieval, nothing written; problem 2's proof needs the library lemma."""
    script, _ = by_problem({"p2": [P2_ANSWER]})
    out = run(LegoProver(sketch=False, repair_rounds=0, use_library=False),
              RunContext(backend=ScriptedLM(script), prover=coq, problem_id="p2"), "p2", P2)
    assert not out.proved and out.checks[-1].role == "main" and "double_lf" in out.checks[-1].summary


def test_wrong_helper_becomes_a_request(coq, store):
    script, _ = by_problem({"p1": [P1_ANSWER]})
    out = run(LegoProver(sketch=False, repair_rounds=0),
              RunContext(backend=ScriptedLM(script), prover=coq, store=store, problem_id="p1"), "p1", P1)
    assert out.proved and out.helpers_failed == ["wrong_lf"]
    req = store.get(out.requests[0])
    assert req.status == "requested" and req.name == "wrong_lf"
    assert req.statement == "Lemma wrong_lf (n : nat) : n + 1 = n." and "Coq error" in req.evidence
    assert [e.name for e in store.list(status="verified")] == ["double_lf"]


def test_repair_round_fixes_an_error_with_coqs_message(coq, store):
    wrong = coq_answer("Theorem p1 (a : nat) : a + a + 0 = 2 * a.\nProof. reflexivity. Qed.")
    script, prompts = by_problem({"p1": [wrong, P1_ANSWER]})
    out = run(LegoProver(sketch=True, repair_rounds=2),
              RunContext(backend=ScriptedLM(script), prover=coq, store=store, problem_id="p1"), "p1", P1)
    assert out.proved and out.rounds == 2
    assert [c.status for c in out.checks if c.role == "main"] == ["failed", "proved"]
    repair = prompts[-1]
    assert "did not check" in repair and "Proof. reflexivity. Qed." in repair and "p1: failed" in repair
    assert out.sketch  # the sketch prompt ran first and its answer went into the formal prompt
    assert "Informal proof sketch" in prompts[1]


def test_statement_comes_from_the_dataset_not_the_model(coq, store):
    weaker = coq_answer("Theorem p1 (a : nat) : 0 = 0.\nProof. reflexivity. Qed.")
    script, _ = by_problem({"p1": [weaker]})
    out = run(LegoProver(sketch=False, repair_rounds=0),
              RunContext(backend=ScriptedLM(script), prover=coq, store=store, problem_id="p1"), "p1", P1)
    assert not out.proved and "original statement" in out.checks[-1].summary


def test_helpers_build_on_helpers_and_carry_their_dependencies(coq, store):
    answer = coq_answer("""
Lemma base_lf (x : nat) : x + x = 2 * x.
Proof. simpl. rewrite Nat.add_0_r. reflexivity. Qed.
Lemma top_lf (x y : nat) : x + x + (y + y) = 2 * x + 2 * y.
Proof. rewrite !base_lf. reflexivity. Qed.
Theorem p2 (b c : nat) : b + b + (c + c) = 2 * b + 2 * c.
Proof. exact (top_lf b c). Qed.
""")
    script, _ = by_problem({"p2": [answer]})
    out = run(LegoProver(sketch=False, repair_rounds=0),
              RunContext(backend=ScriptedLM(script), prover=coq, store=store, problem_id="p2"), "p2", P2)
    assert out.proved and out.helpers_verified == ["base_lf", "top_lf"]
    base, top = (store.find_by_name(n)[0] for n in ("base_lf", "top_lf"))
    assert top.metadata["deps"] == [base.id]
    # replayed elsewhere, top_lf loads with its dependency (and fails to load without it)
    task = dict(name="q", statement="Theorem q : 2 + 2 + (3 + 3) = 2 * 2 + 2 * 3.", proof="Proof. apply top_lf. Qed.",
                header=ARITH)
    ok = coq.check(ProofTask(**task, context=tuple(lemma_context(e) for e in with_dependencies(store, [top]))))
    alone = coq.check(ProofTask(**task, context=(lemma_context(top),)))
    assert ok.proved, ok.summary()
    assert not alone.proved and "context" in alone.reason


def test_no_proof_in_the_answer_is_feedback_not_a_crash(coq, store):
    script, prompts = by_problem({"p1": ["I cannot do this.", P1_ANSWER]})
    out = run(LegoProver(sketch=False, repair_rounds=1),
              RunContext(backend=ScriptedLM(script), prover=coq, store=store, problem_id="p1"), "p1", P1)
    assert out.proved and out.rounds == 2
    assert "has no proof of the theorem p1" in prompts[-1] or "p1: failed" in prompts[-1]


def test_needs_a_prover_and_a_store(coq):
    with pytest.raises(RuntimeError, match="needs a prover"):
        run(LegoProver(), RunContext(backend=ScriptedLM(["x"])), "p1", P1)
    with pytest.raises(RuntimeError, match="needs a store"):
        run(LegoProver(), RunContext(backend=ScriptedLM(["x"]), prover=coq), "p1", P1)
