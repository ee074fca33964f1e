"""The Lean check plan: statement splitting, bare vs full proofs, positions, comment blanking,
forbidden constructs, '#print axioms' parsing and the axiom verdict (pure text, no REPL)."""

from __future__ import annotations

import pytest

from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers.lean_check import (
    LeanPlanError,
    axioms_verdict,
    blank_comments,
    build_plan,
    parse_print_axioms,
    scan_proof,
    statement_parts,
)

STMT = "theorem foo (n : ℕ) (h₀ : 10 ≤ n) :\n    64 ≤ n := by\n"


def test_statement_parts_drop_the_trailing_by_and_keep_the_signature():
    before, sig = statement_parts("/-- doc -/\n" + STMT, "foo")
    assert before == "/-- doc -/\n" and sig == " (n : ℕ) (h₀ : 10 ≤ n) :\n    64 ≤ n"
    with pytest.raises(LeanPlanError, match="declares 'foo'"):
        statement_parts(STMT, "bar")
    with pytest.raises(LeanPlanError, match="no ':'"):
        statement_parts("theorem foo := by", "foo")
    # a name that only starts like the task's is another theorem
    with pytest.raises(LeanPlanError):
        statement_parts("theorem foo' : True := by", "foo")


def test_plan_for_a_bare_proof_and_positions_map_back():
    plan = build_plan(ProofTask(name="foo", statement=STMT, proof="  omega\n  simp"), nonce="N")
    assert [s.role for s in plan.steps] == ["goal", "model", "check", "axioms"]
    goal, model, check, axioms = (s.text for s in plan.steps)
    assert goal == "theorem __lf_goal_N (n : ℕ) (h₀ : 10 ≤ n) :\n    64 ≤ n := sorry"
    assert model == "theorem foo (n : ℕ) (h₀ : 10 ≤ n) :\n    64 ≤ n := by\n  omega\n  simp"
    assert check == "theorem __lf_check_N : type_of% @__lf_goal_N := @foo"
    assert axioms == "#print axioms __lf_check_N"
    assert plan.position(plan.steps[1], 4, 2) == (2, 2)  # 'simp' is line 2 of the model's text
    assert plan.position(plan.steps[1], 1, 3) == (None, None)  # inside the statement we prepended
    assert plan.position(plan.steps[2], 1, 0) == (None, None)  # our own command


def test_plan_for_a_full_text_and_a_by_continuation():
    full = "theorem helper : True := trivial\n" + STMT + "  omega"
    plan = build_plan(ProofTask(name="foo", statement=STMT, proof=full, context=("theorem c : True := trivial",)))
    assert [s.role for s in plan.steps] == ["goal", "context", "model", "check", "axioms"]
    assert plan.steps[2].text == full and plan.text_offset == 0
    assert plan.position(plan.steps[2], 4, 2) == (4, 2)
    by = build_plan(ProofTask(name="foo", statement=STMT, proof="by omega"))
    assert by.steps[1].text.endswith("64 ≤ n := by omega")
    # two plans never share a nonce
    assert build_plan(ProofTask(name="foo", statement=STMT, proof="")).nonce != by.nonce


def test_blank_comments_keeps_offsets_and_lines():
    text = 'a -- native_decide\nb /- x /- nested -/ macro -/ c "sorry \\" s" d'
    out = blank_comments(text)
    assert len(out) == len(text) and out.count("\n") == 1
    assert out.split() == ["a", "b", "c", "d"]


@pytest.mark.parametrize("text", ["  norm_num\nelab \"x\" : tactic => pure ()", "  set_option debug.skipKernelTC true in simp",
                                  "@[extern \"f\"] opaque f : Nat", "include h", "  decide\ninitialize pure ()",
                                  "  run_tac Lean.Elab.Tactic.evalTactic (← `(tactic| rfl))",
                                  "@[tactic Lean.Parser.Tactic.decide] def myDecide : Lean.Elab.Tactic.Tactic := fun _ => pure ()",
                                  "attribute [local macro Lean.Parser.Tactic.decide] foo",
                                  "def f : Lean.MetaM Unit := pure ()", "def g : Lean.CoreM Unit := Lean.modifyEnv id"])
def test_scan_refuses(text):
    with pytest.raises(LeanPlanError, match="forbidden"):
        scan_proof(text)


@pytest.mark.parametrize("text", ["  simp [variable_lemma]", "  exact h.elim -- variable", "  nlinarith [sq_nonneg (a - b)]",
                                  "@[simp] theorem h : True := trivial", "  interval_cases x <;> simp_all",
                                  "  have h : IsLeast {x | 0 < x} 1 := by sorry"])
def test_scan_accepts_ordinary_text(text):
    scan_proof(text)


def test_print_axioms_parsing_and_verdict():
    out = "'__lf_check_N' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]"
    assert parse_print_axioms(out, "__lf_check_N") == ["propext", "Classical.choice", "Quot.sound"]
    assert parse_print_axioms("'Foo.__lf_check_N' does not depend on any axioms", "__lf_check_N") == []
    assert parse_print_axioms("'other' does not depend on any axioms", "__lf_check_N") is None
    assert axioms_verdict(["propext", "Classical.choice", "Quot.sound"]) is None
    assert axioms_verdict(["propext", "sorryAx"]) == "uses sorry (sorryAx)"
    assert axioms_verdict(["Lean.ofReduceBool"]).startswith("trusts the compiler")
    assert axioms_verdict(["cheat"]) == "depends on axioms that are not allowed: cheat"
