"""LEGO, the evolver, ProofSearch and the prove job on Lean 4: scripted model, the shipped Lean REPL double
(a protocol double: it proves nothing; these tests check orchestration), real SQLite, real miniF2F-Lean4 rows."""

from __future__ import annotations

import asyncio
import json

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ProofSearch
from lemmaflow.agents.proving import Evolver, LegoProver
from lemmaflow.agents.proving.job import ProveJob, ProveJobConfig, load_rows
from lemmaflow.agents.proving.library import add_request, add_verified, retrieve_lemmas

from .conftest import ARITH, lean_answer
from .lean_script import HELPER, NAMES, answer_for


def lego(ctx, problem, **cfg):
    node = LegoProver(**{"sketch": False, "repair_rounds": 0, **cfg})
    return asyncio.run(node(ctx, name=problem.name, statement=problem.statement, header=problem.header))


def test_lego_on_lean_grows_a_lean_library_and_reuses_it(lean, store, lean_problems):
    first, second = lean_problems[NAMES[0]], lean_problems[NAMES[1]]
    prompts: list[str] = []
    lm = ScriptedLM(lambda key, i: (prompts.append(key), answer_for(key))[1])
    out = lego(RunContext(backend=lm, prover=lean, store=store, problem_id=first.name), first)
    assert out.proved and out.language == "lean4" and out.helpers_verified == [HELPER]
    assert "```lean4" in prompts[0] and ":= by" in prompts[0] and "Qed" not in prompts[0]
    (entry,) = store.list()
    assert entry.language == "lean4" and entry.name == HELPER and entry.status == "verified"
    assert entry.metadata["header"] == first.header and entry.metadata["versions"] == lean.versions()
    assert entry.statement == f"theorem {HELPER} (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14"
    assert "import" not in entry.source and entry.source.startswith("open Real")
    assert entry.evidence.startswith("lean4: proved")
    # the next problem only cites the helper: the library shows it, the proof uses it
    out2 = lego(RunContext(backend=lm, prover=lean, store=store, problem_id=second.name), second)
    assert out2.proved and out2.retrieved == [entry.id] and out2.used_names == [HELPER]
    assert f"theorem {HELPER}" in prompts[-1] and "Verified lemmas you may use" in prompts[-1]
    # the no-library baseline with the same answer fails: the helper is unknown
    base = lego(RunContext(backend=lm, prover=lean, problem_id=second.name), second, use_library=False)
    assert not base.proved and "unknown identifier" in base.checks[-1].summary.lower()  # Lean: `Unknown`


def test_lean_repair_round_gets_leans_message(lean, store, lean_problems):
    p = lean_problems[NAMES[0]]
    answers = [lean_answer(f"{p.statement}  not_a_tactic"), lean_answer("  ring")]
    prompts: list[str] = []
    lm = ScriptedLM(lambda key, i: (prompts.append(key), answers[min(len(prompts) - 1, 1)])[1])
    out = lego(RunContext(backend=lm, prover=lean, store=store, problem_id=p.name), p, repair_rounds=1)
    assert out.proved and out.rounds == 2
    assert "Lean said:" in prompts[1] and "not_a_tactic" in prompts[1] and "line 2" in prompts[1]


def test_a_lean_helper_with_sorry_becomes_a_request_and_the_evolver_proves_it(lean, store, lean_problems):
    p = lean_problems[NAMES[0]]
    helper = "theorem lf_open_step (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14"
    answer = lean_answer(f"{helper} := by\n  sorry\n\n{p.statement}  ring")
    out = lego(RunContext(backend=ScriptedLM([answer]), prover=lean, store=store, problem_id=p.name), p)
    assert out.proved and out.helpers_failed == ["lf_open_step"] and len(out.requests) == 1
    req = store.get(out.requests[0])
    assert req.status == "requested" and req.language == "lean4" and req.statement == helper
    prompts: list[str] = []
    proof = lean_answer("import Mathlib\n  ring")  # an import line (dropped) and a bare tactic block
    lm = ScriptedLM(lambda key, i: (prompts.append(key), proof)[1])
    ev = asyncio.run(Evolver(generalize_per_step=0)(RunContext(backend=lm, prover=lean, store=store)))
    assert ev.proved_requests == [req.id], ev.checks
    done = store.get(req.id)
    assert done.status == "verified" and done.metadata["versions"] == lean.versions()
    assert "import" not in done.source and done.source.startswith(helper + " := by")
    assert "Lean 4" in prompts[0] and "```lean4" in prompts[0]


def test_lean_generalization_enters_only_when_verified(lean, store, lean_problems):
    header = lean_problems[NAMES[0]].header
    base = add_verified(store, name="lf_two", statement="theorem lf_two : (2 : ℕ) + 2 = 4",
                        source="theorem lf_two : (2 : ℕ) + 2 = 4 := by\n  norm_num", header=header, evidence="",
                        language="lean4", versions=lean.versions())
    answer = lean_answer("theorem lf_two_gen (n : ℕ) : n + n = 2 * n := by\n  omega\n\n"
                         "theorem lf_bogus (n : ℕ) : n + n = n := by\n  bogus_tactic")
    ev = asyncio.run(Evolver(requests_per_step=0)(RunContext(backend=ScriptedLM([answer]), prover=lean, store=store)))
    assert ev.tried_generalize == [base] and len(ev.generalized) == 1
    new = store.get(ev.generalized[0])
    assert new.name == "lf_two_gen" and new.language == "lean4" and new.metadata["generalizes"] == base
    assert store.find_by_name("lf_bogus") == []


def test_proof_search_on_two_minif2f_lean_problems(lean, lean_problems):
    tactics = ["nonsense_tactic", "norm_num"]
    for name in NAMES[:2]:
        p = lean_problems[name]
        node = ProofSearch(width=2, prover=lean)
        lm = ScriptedLM(lambda key, i: tactics[i % 2])
        out = asyncio.run(node(RunContext(backend=lm), name=p.name, statement=p.statement, header=p.header))
        assert out.proved and out.check == "proved" and out.proof.strip() == "norm_num", out.reason
        assert any(n.status == "error" and n.tactic == "nonsense_tactic" for n in out.tree)
        assert lean.check(p.task(out.proof)).proved


def test_proof_search_says_when_a_prover_has_no_tactic_mode():
    class WholeProofsOnly:
        language = "lean4"

        async def acheck(self, task):
            raise AssertionError("never called")

    with pytest.raises(TypeError, match="tactic sessions"):
        ProofSearch(prover=WholeProofsOnly())


def test_mixed_language_library_never_crosses_languages(lean, coq, store, lean_problems):
    p = lean_problems[NAMES[0]]
    coq_id = add_verified(store, name="lf_add0", statement="Lemma lf_add0 (n : nat) : n + 0 = n.",
                          source="Lemma lf_add0 (n : nat) : n + 0 = n.\nProof. apply Nat.add_0_r. Qed.",
                          header=ARITH, evidence="", versions=coq.versions())
    lean_id = add_verified(store, name="lf_add0", statement="theorem lf_add0 (n : ℕ) : n + 0 = n",
                           source="theorem lf_add0 (n : ℕ) : n + 0 = n := by\n  simp", header=p.header,
                           evidence="", language="lean4", versions=lean.versions())
    assert coq_id != lean_id and len(store) == 2  # same name and shape, two languages: two entries
    query = "lf_add0 n + 0 = n"
    assert [e.id for e in retrieve_lemmas(store, query, p.header, 5, language="lean4")] == [lean_id]
    assert [e.id for e in retrieve_lemmas(store, query, ARITH, 5, language="coq")] == [coq_id]
    # through the nodes: a Lean proof is shown (and replays) only the Lean lemma, a Coq proof only the Coq one
    lean_prompts: list[str] = []
    lm = ScriptedLM(lambda key, i: (lean_prompts.append(key), lean_answer("  apply lf_add0"))[1])
    out = lego(RunContext(backend=lm, prover=lean, store=store, problem_id=p.name), p)
    assert out.retrieved == [lean_id] and out.proved and "Lemma lf_add0" not in lean_prompts[0]
    coq_prompts: list[str] = []
    stmt = "Theorem q (m : nat) : m + 0 + 0 = m."
    lm = ScriptedLM(lambda key, i: (coq_prompts.append(key),
                                    f"```coq\n{stmt}\nProof. rewrite !lf_add0. reflexivity. Qed.\n```")[1])
    out = asyncio.run(LegoProver(sketch=False, repair_rounds=0)(
        RunContext(backend=lm, prover=coq, store=store, problem_id="q"), name="q", statement=stmt, header=ARITH))
    assert out.retrieved == [coq_id] and out.proved and "theorem lf_add0" not in coq_prompts[0]


def make_lean_job(out, store, lean, problems, **cfg) -> ProveJob:
    config = ProveJobConfig(prover=LegoProver.Config(sketch=False, repair_rounds=0, max_tokens=256), **cfg)
    return ProveJob(problems, ScriptedLM(answer_for), lean, store, out, config, dataset="minif2f-lean4:valid")


def test_prove_job_on_lean_library_vs_baseline_report_and_trace(lean, store, lean_problems, tmp_path):
    problems = [lean_problems[n] for n in NAMES]
    job = make_lean_job(tmp_path / "out", store, lean, problems, attempts=2, evolve_every=1)
    state = asyncio.run(job.run())
    assert state.solved == {"library": 3, "baseline": 1} and state.errors == 0
    report = job.write_report()
    assert report["language"] == "lean4" and report["versions"] == lean.versions()
    assert report["arms"]["library"]["solved_over_attempts"] == [3, 3]
    assert report["arms"]["baseline"]["solved_problems"] == [NAMES[0]]
    assert [r["names"] for r in report["reuse"]] == [[HELPER], [HELPER]]
    assert report["evolver"]["steps"] == 3  # one step after each library attempt, on the Lean library
    assert report["evolver"]["generalized"] == []  # the script answers no generalization: nothing enters
    md = (tmp_path / "out" / "report.md").read_text()
    said = ", ".join(f"{k} {v}" for k, v in lean.versions().items())
    assert f"Prover: lean4, {said}" in md and "| solved | 3/3 | 1/3 |" in md
    events = [json.loads(x) for x in (tmp_path / "out" / "trace.jsonl").read_text().splitlines()]
    start = events[0]["data"]
    assert start["event"] == "prove_start" and start["language"] == "lean4" and start["versions"] == lean.versions()
    assert any(e["kind"] == "llm_call" and e["data"].get("step") == f"library/1/{NAMES[1]}" for e in events)
    assert json.loads((tmp_path / "out" / "job.json").read_text())["language"] == "lean4"
    assert store.count(kind="lemma", language="lean4", status="verified") == 1
    rows = load_rows(tmp_path / "out" / "attempts.jsonl")
    assert all(r["language"] == "lean4" for r in rows if r["kind"] == "attempt")
    helper_id = store.find_by_name(HELPER)[0].id
    assert any(helper_id in r["tried_generalize"] for r in rows if r["kind"] == "evolve")  # the Lean lemma
