"""WholeProof (DeepSeek-Prover sampling + V1.5 truncate-and-resume) on a scripted model with real Coq and the
Lean REPL double: first-proved stop, resuming from the error point with the prover's goal state in the prompt,
budget cuts, cheats rejected, a batch whose bad item fails alone, and the prove job's whole_proof method."""

from __future__ import annotations

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.batch import BatchRunner
from lemmaflow.agents.budget import Budget
from lemmaflow.agents.proving.job import ProveJob, ProveJobConfig, load_rows, render_markdown
from lemmaflow.agents.proving.whole_proof import WholeProof, cut_at_error, split_problem
from lemmaflow.cli import resolve_pipeline
from lemmaflow.tools.datasets import Problem
from lemmaflow.tools.provers import ProofResult, ProverMessage
from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_repl import fake_repl_command

from .conftest import ARITH, problem

STMT = "Theorem t (a b : nat) (h : a = b) : b + 0 = a."
BROKEN = "Proof.\n  rewrite h.\n  simpl_bogus.\nQed."  # fails at line 3, after a prefix that runs


def run(node, backend, prover, budget=None, **inputs):
    ctx = RunContext.for_problem(backend, "p", budget, prover=prover)
    return asyncio.run(node(ctx, **inputs)), ctx


def test_stops_at_the_first_proved_sample(coq):
    lm = ScriptedLM(["Proof. reflexivity. Qed.", "Proof. rewrite h. lia. Qed.", "Proof. lia. Qed."])
    out, ctx = run(WholeProof(samples=6, parallel=1, resumes=0), lm, coq, statement=STMT, header=ARITH)
    assert out.proved and out.status == "proved" and out.answer == "Proof. rewrite h. lia. Qed."
    assert out.samples_used == 2 and out.checks == 2 and len(lm.calls) == 2  # the third sample never asked for
    assert [a.status for a in out.attempts] == ["failed", "proved"]
    assert ctx.ledger.total.samples == 2 and out.tokens == ctx.ledger.total.completion_tokens > 0
    events = [e for e in ctx.trace.events if e.data.get("event") == "whole_proof_check"]
    assert [e.data["status"] for e in events] == ["failed", "proved"]


def test_a_batch_of_samples_stops_at_the_proved_one(coq):
    lm = ScriptedLM(["Proof. reflexivity. Qed.", "Proof. rewrite h. lia. Qed.", "Proof. auto. Qed."])
    out, _ = run(WholeProof(samples=9, parallel=3, resumes=0), lm, coq, statement=STMT, header=ARITH)
    assert out.proved and out.samples_used == 3 and len(lm.calls) == 1  # one call of n=3, no second round


def test_truncate_and_resume_continues_from_the_error_with_the_goal_state(coq):
    prompts: list[str] = []

    def script(prompt: str, i: int) -> str:
        prompts.append(prompt)
        return "lia.\nQed." if "(* goals:" in prompt else BROKEN

    out, _ = run(WholeProof(samples=1, parallel=1, resumes=1), ScriptedLM(script), coq, statement=STMT, header=ARITH)
    assert out.proved, out
    first, resume = out.attempts
    assert first.kind == "sample" and first.status == "failed" and first.error_line == 3
    assert resume.kind == "resume" and resume.parent == 0 and resume.goals == 1
    assert resume.prefix_chars == len("Proof.\n  rewrite h.")
    # the model was asked to continue the verified prefix, with Coq's goal after `rewrite h.` as a comment
    assistant = prompts[-1].split("<assistant>")[1]
    assert assistant.startswith("```coq\n" + STMT + "\nProof.\n  rewrite h.\n(* goals:")
    assert "⊢ b + 0 = b" in assistant and "simpl_bogus" not in assistant
    assert out.proof.startswith("Proof.\n  rewrite h.\n(* goals:") and out.proof.endswith("lia.\nQed.")


def test_resumes_are_bounded_and_counted(coq):
    out, ctx = run(WholeProof(samples=2, parallel=1, resumes=2), ScriptedLM(lambda p, i: "simpl_bogus. Qed."), coq,
                   statement=STMT, header=ARITH)
    assert not out.proved and out.samples_used == 2 and out.resumes_used == 4
    assert [a.kind for a in out.attempts] == ["sample", "resume", "resume"] * 2
    assert ctx.ledger.total.samples == 6 and out.reason.startswith("none of 6")


def test_budget_cuts_the_sampling(coq):
    lm = ScriptedLM(lambda p, i: "Proof. reflexivity. Qed.")
    out, ctx = run(WholeProof(samples=10, parallel=2, resumes=0), lm, coq, budget=Budget(max_samples=3),
                   statement=STMT, header=ARITH)
    assert not out.proved and out.budget_limited and out.samples_used == 3 and ctx.ledger.total.samples == 3
    assert "budget" in out.reason
    out, _ = run(WholeProof(samples=10, parallel=1, resumes=1, token_budget=3), lm, coq, statement=STMT, header=ARITH)
    assert out.budget_limited and out.samples_used == 1 and out.resumes_used == 0  # 3 tokens spent: no resume, no 2nd sample


@pytest.mark.parametrize("cheat", ["Proof. admit. Admitted.", "Proof. Admitted.",
                                   "Abort.\nTheorem t (a b : nat) (h : a = b) : b + 0 = b. Proof. lia. Qed."])
def test_a_cheating_proof_is_rejected(coq, cheat):
    out, _ = run(WholeProof(samples=1, parallel=1, resumes=1), ScriptedLM(lambda p, i: cheat), coq,
                 statement=STMT, header=ARITH)
    assert not out.proved and out.answer is None and all(a.status == "failed" for a in out.attempts)


def test_the_statement_may_carry_its_header(coq):
    header, stmt, name = split_problem("Require Import Arith.\n" + STMT, "coq")
    assert (header, stmt, name) == ("Require Import Arith.", STMT, "t")
    out, _ = run(WholeProof(samples=1, resumes=0), ScriptedLM(["Proof. rewrite h. lia. Qed."]), coq,
                 statement="Require Import Arith.\n" + STMT)
    assert out.proved


def test_cut_at_error_without_a_position_keeps_all_but_the_closing_sentence():
    res = ProofResult(status="failed", reason="the proof text leaves a proof, section or module open")
    assert cut_at_error("Proof. intros. simpl.", res, "coq") == ("Proof. intros. simpl.", "intros. simpl.")
    assert cut_at_error("Proof. intros. Qed.", res, "coq") == ("Proof. intros.", "intros.")
    res = ProofResult(status="failed", messages=[ProverMessage(text="x", line=2, column=2)])
    assert cut_at_error("  skip\n  bogus\n  rfl", res, "lean4") == ("  skip", "skip")


def test_solve_pipeline_isolates_a_bad_item(coq, tmp_path):
    pipeline = resolve_pipeline("whole_proof", {"n": None, "temperature": None, "max_tokens": None},
                                ["prove.samples=2", "prove.parallel=1", "prove.resumes=0"])
    problems = [Problem(id="good", question=ARITH + STMT, gold=None, source="t"),
                Problem(id="bad", question="not a theorem at all", gold=None, source="t")]
    runner = BatchRunner(pipeline, ScriptedLM(["Proof. rewrite h. lia. Qed."]), None, out_path=tmp_path / "r.jsonl",
                         prover=coq)
    summary = asyncio.run(runner.run(problems))
    from lemmaflow.agents.batch import ProblemResult, load_results

    rows = {r["id"]: ProblemResult.model_validate(r) for r in load_results(tmp_path / "r.jsonl").values()}
    assert rows["good"].status == "ok" and rows["good"].outputs["proved"] and rows["good"].answer
    assert rows["bad"].status == "error" and "Theorem" in (rows["bad"].error or "")
    assert summary.done == 2 and summary.failed == 1


def test_prove_job_whole_proof_method(coq, tmp_path):
    probs = [problem("w0", "Theorem w0 (a : nat) : a + 0 = a."), problem("w1", "Theorem w1 : 2 + 2 = 5.")]
    config = ProveJobConfig(method="whole_proof", attempts=2,
                            whole_proof=WholeProof.Config(samples=2, parallel=2, resumes=0, max_tokens=64))
    job = ProveJob(probs, ScriptedLM(lambda p, i: "Proof. lia. Qed."), coq, None, tmp_path / "out", config)
    state = asyncio.run(job.run())
    assert state.solved == {"whole_proof": 1}
    report = job.write_report()
    arm = report["arms"]["whole_proof"]
    assert list(report["arms"]) == ["whole_proof"] and report["method"] == "whole_proof"
    assert arm["solved_problems"] == ["w0"] and arm["attempts_run"] == 3  # w0 once, w1 twice
    assert arm["completion_tokens"] == 3 * 2 * 3  # 3 attempts x 2 samples x "Proof. lia. Qed."
    md = render_markdown(report)
    assert "method whole_proof" in md and "| solved per 1k tokens |" in md


# -- Lean, on the REPL double ---------------------------------------------------------------------------
LEAN_STMT = "theorem t : 1 + 1 = 2 := by"


@pytest.fixture(scope="module")
def lean():
    with LeanProver(command=tuple(fake_repl_command()), pool_size=1, timeout_s=30.0) as p:
        yield p


def test_lean_first_proved_and_cheats(lean):
    lm = ScriptedLM(["  sorry", "  bogus", "  norm_num"])
    out, _ = run(WholeProof(samples=5, parallel=1, resumes=0), lm, lean, statement=LEAN_STMT, header="import Mathlib")
    assert out.proved and out.samples_used == 3 and out.answer == "  norm_num"
    assert [a.status for a in out.attempts] == ["failed", "failed", "proved"]


def test_lean_truncate_and_resume_from_the_tactic_state(lean):
    prompts: list[str] = []

    def script(prompt: str, i: int) -> str:
        prompts.append(prompt)
        return "  norm_num" if "/- tactic state:" in prompt else "  skip\n  bogus\n  rfl"

    out, _ = run(WholeProof(samples=1, resumes=1), ScriptedLM(script), lean, statement=LEAN_STMT, header="import Mathlib")
    assert out.proved, out
    assert out.attempts[0].error_line == 2 and out.attempts[1].goals == 1
    assistant = prompts[-1].split("<assistant>")[1]
    assert assistant.startswith("```lean4\n" + LEAN_STMT + "\n  skip\n/- tactic state:\n")
    assert "⊢ 1 + 1 = 2" in assistant and "bogus" not in assistant


def test_prove_job_whole_proof_method_on_lean(lean, tmp_path):
    from lemmaflow.tools.provers.minif2f_lean import LeanProblem

    probs = [LeanProblem(name="l0", split="valid", header="import Mathlib", statement="theorem l0 : 1 + 1 = 2 := by"),
             LeanProblem(name="l1", split="valid", header="import Mathlib", statement="theorem l1 : 2 + 2 = 5 := by")]

    def script(prompt: str, i: int) -> str:
        return "  norm_num" if "theorem l0" in prompt else "  sorry"

    config = ProveJobConfig(method="whole_proof", whole_proof=WholeProof.Config(samples=2, parallel=1, resumes=1))
    job = ProveJob(probs, ScriptedLM(script), lean, None, tmp_path / "out", config)
    asyncio.run(job.run())
    report = job.write_report()
    assert report["language"] == "lean4" and report["arms"]["whole_proof"]["solved_problems"] == ["l0"]
    rows = {r["problem"]: r for r in load_rows(tmp_path / "out" / "attempts.jsonl")}
    assert rows["l1"]["samples_used"] == 2 and not rows["l1"]["proved"]  # sorry is never accepted


def test_solve_starts_a_prover_only_for_proof_pipelines():
    from lemmaflow.cli import pipeline_needs_prover, start_prover

    knobs = {"n": None, "temperature": None, "max_tokens": None}
    assert pipeline_needs_prover(resolve_pipeline("whole_proof", knobs, []))
    assert not pipeline_needs_prover(resolve_pipeline("sc", knobs, []))
    prover = start_prover("coq", 1, 30.0)
    try:
        assert prover.language == "coq" and prover.session_pids()[0] is not None
    finally:
        prover.close()
