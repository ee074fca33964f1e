"""LeanProver on a real leanprover-community/repl: runs when $LEMMAFLOW_LEAN_REPL names one (see the
README's "Lean 4" section). Core-Lean tests need no Mathlib; set LEMMAFLOW_LEAN_MATHLIB=1 when the REPL
runs in a Mathlib project to also check a miniF2F problem with its dataset header."""

from __future__ import annotations

import os

import pytest

from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_check import ALLOWED_AXIOMS

pytestmark = pytest.mark.skipif(
    not os.environ.get("LEMMAFLOW_LEAN_REPL"),
    reason="LEMMAFLOW_LEAN_REPL is not set: Lean cannot be installed here (elan downloads toolchains); "
           "build leanprover-community/repl and point LEMMAFLOW_LEAN_REPL at it",
)

ADD = "theorem lf_add_zero (n : Nat) : n + 0 = n := by\n"
DOUBLE = "theorem lf_double (x : Nat) (h : x = 1) : x + x = 2 := by\n"


def task(statement: str, proof: str, header: str = "") -> ProofTask:
    name = statement.split()[1]
    return ProofTask(name=name, statement=statement, proof=proof, header=header, timeout_s=120)


@pytest.fixture(scope="module")
def lean():
    with LeanProver(pool_size=1, timeout_s=120) as prover:
        yield prover


def test_core_lean_proofs_are_accepted(lean):
    for t in (task(ADD, "  simp"), task(DOUBLE, "  subst h\n  rfl"), task("theorem lf_lt : 10 < 20 := by\n", "  decide")):
        r = lean.check(t)
        assert r.proved, r.summary()
        assert set(r.axioms) <= ALLOWED_AXIOMS


def test_errors_have_positions_in_the_model_text(lean):
    r = lean.check(task(ADD, "  simp\n  exact foo"))
    assert r.status == "failed"
    assert any(m.severity == "error" and m.line == 2 for m in r.messages), r.messages


@pytest.mark.parametrize("proof,reason", [
    ("  sorry", "uses sorry"),
    ("  admit", "uses sorry"),
])
def test_sorry_and_admit_are_rejected(lean, proof, reason):
    r = lean.check(task(ADD, proof))
    assert r.status == "failed" and r.reason.startswith(reason), r.summary()


def test_native_decide_is_rejected_by_its_axiom(lean):
    r = lean.check(task("theorem lf_lt : 10 < 20 := by\n", "  native_decide"))
    assert r.status == "failed" and r.reason.startswith("trusts the compiler"), r.summary()


def test_a_new_axiom_is_rejected(lean):
    text = "axiom lfCheat : False\n" + ADD + "  exact lfCheat.elim"
    r = lean.check(task(ADD, text))
    assert r.status == "failed" and "lfCheat" in r.reason, r.summary()


def test_another_statement_under_the_same_name_is_rejected(lean):
    r = lean.check(task(ADD, "theorem lf_add_zero : True := trivial"))
    assert r.status == "failed" and "does not have the original statement" in r.reason, r.summary()


def test_a_redefined_instance_does_not_change_the_original_statement(lean):
    # under the model's own `+`, `x + x = 2` holds by rfl; the dataset's statement is about Nat's `+`
    text = "instance lfBad : HAdd Nat Nat Nat := ⟨fun _ _ => 2⟩\ntheorem lf_double (x : Nat) (h : x = 1) : x + x = 2 := rfl"
    r = lean.check(task(DOUBLE, text))
    assert r.status == "failed" and "does not have the original statement" in r.reason, r.summary()


def test_checks_are_isolated(lean):
    helper = "theorem lf_helper (n : Nat) : n + 0 = n := by simp\n" + ADD + "  exact lf_helper n"
    assert lean.check(task(ADD, helper)).proved
    leaked = lean.check(task(ADD, "  exact lf_helper n"))
    assert leaked.status == "failed" and "lf_helper" in leaked.messages[0].text
    assert lean.check(task(ADD, helper)).proved  # not "already declared"


def test_tactic_session(lean):
    t = task("theorem lf_and (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n", "")
    with lean.tactic_session(t) as s:
        split = s.run_tactic(s.root.proof_state, "constructor")
        assert split.status == "open" and len(split.goals) == 2
        assert s.run_tactic(split.proof_state, "exact hq").status == "error"
        left = s.run_tactic(split.proof_state, "exact hp")
        assert left.status == "open" and len(left.goals) == 1
        assert s.run_tactic(left.proof_state, "exact hq").status == "solved"
        assert s.run_tactic(s.root.proof_state, "sorry").status == "error"


def test_tactic_session_reads_proof_status(lean):
    # as the REPL's own test/name_generator: closing a `have ... := by sorry` goal leaves a metavariable
    t = task("theorem lf_mv (x : Int) (h0 : x > 0) : False := by\n", "")
    with lean.tactic_session(t) as s:
        raw = s.repl.tactic(s.root.proof_state, "have h : x > 0 := by sorry")
        if raw.proof_status is None:
            pytest.skip("this REPL release predates proofStatus (the goals rule applies)")
        assert raw.proof_status == "Incomplete: open goals remain" and raw.uses_sorry
        r = s.run_tactic(raw.sorries[0].proof_state, "exact h0")
        assert r.status == "error" and r.goals == [], r
        assert r.proof_status == "Incomplete: contains metavariable(s)"
    t = task("theorem lf_and2 (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n", "")
    with lean.tactic_session(t) as s:
        done = s.run_tactic(s.root.proof_state, "constructor\n  exact hp\n  exact hq")
        assert done.status == "solved" and done.proof_status == "Completed"


def test_versions_as_the_repl_reports_them(lean):
    import re

    from lemmaflow.tools.provers.lean_versions import lean_versions

    with lean.pool.session("") as (repl, _env):
        v = lean_versions(repl)
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", v["lean"]), v
    assert set(v) == {"lean", "mathlib", "repl"} and all(v.values())


@pytest.mark.skipif(not os.environ.get("LEMMAFLOW_LEAN_MATHLIB"), reason="LEMMAFLOW_LEAN_MATHLIB is not set (REPL without Mathlib)")
def test_a_minif2f_problem_with_its_mathlib_header(lean):
    from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean
    p = next(x for x in load_minif2f_lean("valid") if x.name == "mathd_algebra_182")
    r = lean.check(p.task("  ring", timeout_s=600))
    assert r.proved, r.summary()
    assert lean.check(p.task("  norm_num [sq]\n  sorry", timeout_s=600)).status == "failed"


def test_versions_as_the_repl_reports_them(lean):
    import re

    v = lean.versions()
    assert set(v) == {"lean", "mathlib", "repl"} and re.match(r"\d+\.\d+\.\d+", v["lean"]), v


@pytest.mark.skipif(not os.environ.get("LEMMAFLOW_LEAN_MATHLIB"), reason="LEMMAFLOW_LEAN_MATHLIB is not set (REPL without Mathlib)")
def test_prove_job_on_two_minif2f_lean_problems(lean, tmp_path):
    """The prove job (library + baseline arms, LEGO helpers, a repair round) on real Lean + Mathlib, scripted
    model: mathd_algebra_182 through a helper lemma, mathd_numbertheory_132 after one failed answer."""
    import asyncio
    import json

    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.proving.job import ProveJob, ProveJobConfig
    from lemmaflow.agents.proving.lego import LegoProver
    from lemmaflow.skills_library import HashingEmbedder, open_store
    from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean

    names = ["mathd_algebra_182", "mathd_numbertheory_132"]
    problems = [p for p in load_minif2f_lean("valid") if p.name in names]
    helper = ("theorem lf_expand182 (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  ring\n\n"
              "theorem mathd_algebra_182 (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  exact lf_expand182 y")

    def answer(prompt: str, i: int) -> str:
        if "mathd_algebra_182" in prompt.split("Theorem to prove:")[-1]:
            return f"```lean4\nimport Mathlib\n{helper}\n```"
        if "Lean said:" in prompt:
            return "```lean4\n  norm_num\n```"
        return "```lean4\n  exact lf_no_such_lemma\n```"

    config = ProveJobConfig(evolve_every=0, prover=LegoProver.Config(sketch=False, repair_rounds=1,
                                                                     check_timeout_s=600))
    with open_store(tmp_path / "lib.db", embedder=HashingEmbedder(256)) as store:
        job = ProveJob(problems, ScriptedLM(answer), lean, store, tmp_path / "out", config,
                       dataset="minif2f-lean4:valid")
        state = asyncio.run(job.run())
        report = job.write_report()
        (entry,) = store.list()
    assert state.errors == 0 and state.solved == {"library": 2, "baseline": 2}, report
    assert report["language"] == "lean4" and report["versions"] == lean.versions()
    assert entry.name == "lf_expand182" and entry.language == "lean4"
    assert entry.metadata["versions"] == lean.versions() and entry.metadata["header"] == problems[0].header
    rows = [json.loads(x) for x in (tmp_path / "out" / "attempts.jsonl").read_text().splitlines()]
    nt = next(r for r in rows if r["key"] == "library/1/mathd_numbertheory_132")
    assert nt["rounds"] == 2 and nt["checks"][0]["status"] == "failed"
