"""LeanProver on the fake REPL (a protocol test double whose "types" are signature texts, not a Lean):
accepted and rejected proofs with positions, every adversarial kind, isolation between checks,
header reuse, crash/hang -> crashed/timeout + restart. Real-Lean checks are in test_lean_real.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from lemmaflow.tools.provers import ProofTask, Prover, acheck_many
from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_repl import fake_repl_command
from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean

FAKE = tuple(fake_repl_command())


@pytest.fixture(scope="module")
def problems():
    return {p.name: p for p in load_minif2f_lean("all")}


@pytest.fixture
def prover():
    with LeanProver(command=FAKE, pool_size=1, timeout_s=30.0) as p:
        yield p


def test_is_a_prover_and_accepts_a_proof_of_the_dataset_statement(prover, problems):
    assert isinstance(prover, Prover) and prover.language == "lean4"
    r = prover.check(problems["mathd_algebra_182"].task("  norm_num"))
    assert r.proved, r.summary()
    assert r.axioms == [] and r.reason is None
    # a full text restating the theorem, and a 'by' continuation, are accepted too
    full = problems["amc12a_2015_p10"].statement + "  omega"
    assert prover.check(problems["amc12a_2015_p10"].task(full)).proved
    assert prover.check(problems["amc12a_2015_p10"].task("by omega")).proved


def test_wrong_proofs_fail_with_positions_in_the_model_text(prover, problems):
    p = problems["mathd_algebra_182"]
    r = prover.check(p.task("  norm_num\n  linarith"))
    assert r.status == "failed" and r.reason == "Lean error: No goals to be solved"
    err = r.messages[0]
    assert (err.line, err.column) == (2, 2)
    r = prover.check(p.task("  not_a_tactic"))
    assert r.status == "failed" and (r.messages[0].line, r.messages[0].column) == (1, 2)
    r = prover.check(p.task("  skip"))
    assert r.status == "failed" and "unsolved goals" in r.reason


@pytest.mark.parametrize("proof,reason", [
    ("  sorry", "uses sorry"),
    ("  admit", "uses sorry"),
    ("  native_decide", "trusts the compiler (Lean.ofReduceBool"),
])
def test_sorry_admit_and_native_decide_are_rejected(prover, problems, proof, reason):
    r = prover.check(problems["mathd_algebra_182"].task(proof))
    assert r.status == "failed" and r.reason.startswith(reason), r.summary()


def test_sorry_in_an_unused_helper_is_rejected(prover, problems):
    p = problems["mathd_algebra_182"]
    text = "theorem helper : 1 = 2 := by\n  sorry\n" + p.statement + "  norm_num"
    r = prover.check(p.task(text))
    assert r.status == "failed" and r.reason == "uses sorry"
    assert any(m.line == 2 and m.column == 2 for m in r.messages), r.messages


def test_a_new_axiom_is_rejected_by_print_axioms(prover, problems):
    p = problems["mathd_algebra_182"]
    text = "axiom cheat : False\n" + p.statement + "  exact cheat"
    r = prover.check(p.task(text))
    assert r.status == "failed" and r.axioms == ["cheat"]
    assert r.reason == "depends on axioms that are not allowed: cheat"


@pytest.mark.parametrize("text", [
    "theorem mathd_algebra_182 : 1 = 1 := by\n  rfl",  # the same name, another statement
    "theorem mathd_algebra_182 (y : ℂ) (h : False) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  norm_num",  # extra hypothesis
    "theorem mathd_algebra_182 (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 15 := by\n  norm_num",  # another constant
])
def test_a_different_statement_under_the_same_name_is_rejected(prover, problems, text):
    r = prover.check(problems["mathd_algebra_182"].task(text))
    assert r.status == "failed" and r.reason == "mathd_algebra_182 in the proof text does not have the original statement"


@pytest.mark.parametrize("proof,word,line", [
    ("  norm_num\nmacro \"norm_num\" : tactic => `(tactic| sorry)", "macro", 2),
    ("  norm_num\nnotation \"type_of%\" x => True", "notation", 2),
    ("  set_option debug.skipKernelTC true in\n  norm_num", "debug.skipKernelTC", 1),
    ("  norm_num\n@[implemented_by foo] def bar : Bool := true", "implemented_by", 2),
    ("  norm_num\n#eval IO.println \"'x' does not depend on any axioms\"", "#eval", 2),
    ("  norm_num\nrun_cmd pure ()", "run_cmd", 2),
    ("variable (h : False)\ntheorem mathd_algebra_182 (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  exact h.elim", "variable", 1),
    ("import Mathlib.Tactic\n  norm_num", "import", 1),
    ("  norm_num\ntheorem __lf_check_0 : True := trivial", "__lf_", 2),
    ("  norm_num\nunsafe def f : Nat := 1", "unsafe", 2),
])
def test_forbidden_constructs_are_refused_before_running(prover, problems, proof, word, line):
    before = prover.pool._procs[0].repl.requests
    r = prover.check(problems["mathd_algebra_182"].task(proof))
    assert r.status == "failed" and r.reason.startswith("forbidden in a proof") and word in r.reason, r.reason
    assert r.messages[0].line == line
    assert prover.pool._procs[0].repl.requests == before  # nothing reached the REPL


def test_forbidden_words_in_comments_and_strings_are_harmless(prover, problems):
    proof = "  -- native_decide or a macro would be cheating; so would `variable`\n  /- #eval -/ norm_num"
    r = prover.check(problems["mathd_algebra_182"].task(proof))
    assert r.proved, r.summary()


def test_each_check_starts_from_the_header_env_never_a_previous_proof(prover, problems):
    p = problems["mathd_algebra_182"]
    with_helper = "theorem helper (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  ring\n" + p.statement + "  exact helper"
    pid = prover.pool.pids()[0]
    assert prover.check(p.task(with_helper)).proved
    leaked = prover.check(p.task("  exact helper"))  # helper was declared by the previous check only
    assert leaked.status == "failed" and leaked.reason == "Lean error: Unknown identifier `helper`"
    again = prover.check(p.task(with_helper))  # no "'helper' has already been declared"
    assert again.proved, again.summary()
    assert prover.pool.pids()[0] == pid and prover.restarts == 0  # same process throughout


def test_the_header_runs_once_per_process(prover, problems):
    ps = [problems[n] for n in ("mathd_algebra_182", "amc12a_2015_p10", "mathd_algebra_10")]
    for p in ps:
        prover.check(p.task("  norm_num"))
    proc = prover.pool._procs[0]
    assert list(proc.headers) == [ps[0].header]
    # 1 header + 4 commands (goal, model, check, axioms) per check
    assert proc.repl.requests == 1 + 4 * len(ps)


def test_context_lemmas_are_available_and_checked(prover, problems):
    p = problems["mathd_algebra_182"]
    lemma = "theorem helper (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  ring"
    assert prover.check(p.task("  exact helper", context=(lemma,))).proved
    bad = prover.check(p.task("  exact helper", context=(lemma.replace("ring", "sorry"),)))
    assert bad.status == "failed" and bad.reason.startswith("a context lemma does not check")


def test_a_bad_header_fails_the_check_and_the_next_one_still_runs(prover, problems):
    p = problems["mathd_algebra_182"]
    bad = ProofTask(name=p.name, statement=p.statement, proof="  norm_num", header="garbage\nimport Mathlib\n")
    r = prover.check(bad)
    assert r.status == "failed" and r.reason.startswith("the task's header does not load")
    assert prover.check(p.task("  norm_num")).proved


def test_a_statement_naming_another_theorem_is_a_plan_error(prover, problems):
    p = problems["mathd_algebra_182"]
    r = prover.check(ProofTask(name="other", statement=p.statement, proof="  norm_num", header=p.header))
    assert r.status == "failed" and "declares 'mathd_algebra_182'" in r.reason


def test_crash_gives_crashed_and_the_process_restarts(prover, problems):
    p = problems["mathd_algebra_182"]
    r = prover.check(p.task("  #fake_crash"))
    assert r.status == "crashed" and "died" in r.reason
    assert prover.check(p.task("  norm_num")).proved
    assert prover.restarts == 1


def test_hang_gives_timeout_then_restart(prover, problems):
    p = problems["mathd_algebra_182"]
    pid = prover.pool.pids()[0]
    t0 = time.monotonic()
    r = prover.check(p.task("  #fake_hang", timeout_s=0.5))
    assert r.status == "timeout" and time.monotonic() - t0 < 8  # not the prover's 30 s
    assert prover.check(p.task("  norm_num")).proved
    assert prover.restarts == 1 and prover.pool.pids()[0] != pid


def test_garbage_output_gives_crashed(prover, problems):
    r = prover.check(problems["mathd_algebra_182"].task("  #fake_garbage"))
    assert r.status == "crashed"


def test_parallel_checks_on_two_processes_keep_verdicts_apart(problems):
    p, q = problems["mathd_algebra_182"], problems["amc12a_2015_p10"]
    tasks = [p.task("  norm_num"), q.task("  sorry"), p.task("  bogus"), q.task("  omega"),
             p.task("  #fake_crash"), q.task("  linarith")]
    with LeanProver(command=FAKE, pool_size=2, timeout_s=10.0) as prover:
        results = asyncio.run(acheck_many(prover, tasks))
    assert [r.status for r in results] == ["proved", "failed", "failed", "proved", "crashed", "proved"]


def test_missing_repl_is_prover_unavailable(monkeypatch):
    from lemmaflow.tools.provers import ProverUnavailable
    monkeypatch.delenv("LEMMAFLOW_LEAN_REPL", raising=False)
    with pytest.raises(ProverUnavailable, match="LEMMAFLOW_LEAN_REPL"):
        LeanProver().start()
