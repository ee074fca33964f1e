"""The prove job: library vs baseline side by side, report, error isolation, resume after kill -9."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.budget import Budget
from lemmaflow.agents.backends.fake import FailingLM
from lemmaflow.agents.proving.job import JobMismatch, ProveJob, ProveJobConfig, load_rows
from lemmaflow.agents.proving.lego import LegoProver
from lemmaflow.skills_library import HashingEmbedder, open_store

from .prove_worker import answer, make_job, problems

WORKER = Path(__file__).with_name("prove_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def test_library_arm_reuses_what_the_baseline_cannot(coq, store, tmp_path):
    job = make_job(str(tmp_path / "out"), store, coq, n=3, attempts=2)
    state = asyncio.run(job.run())
    assert state.solved == {"library": 3, "baseline": 1} and state.errors == 0
    report = job.write_report()
    lib, base = report["arms"]["library"], report["arms"]["baseline"]
    assert lib["solved_over_attempts"] == [3, 3] and base["solved_over_attempts"] == [1, 1]
    assert lib["attempts_run"] == 3 and base["attempts_run"] == 1 + 2 * 2  # solved problems are not retried
    assert base["solved_problems"] == ["q0"]
    assert [(r["problem"], r["names"]) for r in report["reuse"]] == [("q1", ["double_lf"]), ("q2", ["double_lf"])]
    assert report["library"]["size"] == 1 and report["library"]["events"]["used"] == 2
    assert report["library"]["growth"][0]["verified"] == 1
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| solved | 3/3 | 1/3 |" in md and "| q1 | 1 | double_lf |" in md
    # problem outcomes recorded for library stats: all three solved, two of them with the library
    stats = store.stats()
    assert stats.problems_solved == 3 and stats.solved_using_library == 2


def test_concurrent_problems_grow_the_library_across_attempts(coq, store, tmp_path):
    """3 problems at once: q1/q2 may run before q0's helper is verified, but attempt 2 finds it."""
    job = make_job(str(tmp_path / "out"), store, coq, n=3, attempts=2, concurrency=3, evolve_every=0)
    state = asyncio.run(job.run())
    assert state.solved["library"] == 3 and state.errors == 0
    rows = load_rows(tmp_path / "out" / "attempts.jsonl")
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) and "library/1/q0" in keys
    assert job.write_report()["arms"]["library"]["solved_over_attempts"][1] == 3


def test_a_failing_problem_never_stops_the_job_and_is_retried(coq, store, tmp_path):
    out = tmp_path / "out"
    config = ProveJobConfig(baseline=False, evolve_every=0,
                            prover=LegoProver.Config(sketch=False, repair_rounds=0))
    flaky = FailingLM(ScriptedLM(answer), fail_if=lambda key: "Theorem q1 " in key)
    state = asyncio.run(ProveJob(problems(3), flaky, coq, store, out, config).run())
    assert state.errors == 1 and state.solved["library"] == 2
    rows = load_rows(out / "attempts.jsonl")
    bad = [r for r in rows if r["status"] == "error"]
    assert [r["problem"] for r in bad] == ["q1"] and "scripted failure" in bad[0]["error"]
    job = ProveJob(problems(3), ScriptedLM(answer), coq, store, out, config)
    assert job.pending() == 1
    state = asyncio.run(job.run())
    assert state.solved["library"] == 3 and job.pending() == 0


def test_an_output_folder_belongs_to_one_model_and_dataset(coq, store, tmp_path):
    ProveJob(problems(1), None, coq, store, tmp_path / "out", dataset="scripted")  # a probe: no model yet
    make_job(str(tmp_path / "out"), store, coq, n=1)
    other = ScriptedLM(answer, model_id="another-model")
    with pytest.raises(JobMismatch, match="another-model"):
        ProveJob(problems(1), other, coq, store, tmp_path / "out")
    with pytest.raises(JobMismatch, match="dataset"):
        ProveJob(problems(1), ScriptedLM(answer), coq, store, tmp_path / "out", dataset="minif2f-coq:test")


def test_an_attempt_out_of_budget_is_finished_not_retried(coq, store, tmp_path):
    config = ProveJobConfig(baseline=False, evolve_every=0, budget=Budget(max_llm_calls=1),
                            prover=LegoProver.Config(sketch=True, repair_rounds=0))
    job = ProveJob(problems(1), ScriptedLM(answer), coq, store, tmp_path / "out", config)
    asyncio.run(job.run())
    (row,) = load_rows(tmp_path / "out" / "attempts.jsonl")
    assert row["status"] == "ok" and not row["proved"] and "llm" in row["budget_exhausted"].lower()
    assert job.pending() == 0


def test_resume_after_kill_9_loses_nothing(tmp_path):
    out, lib = tmp_path / "out", tmp_path / "lib.db"
    rows_path = out / "attempts.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.agents.proving.prove_worker", str(out), str(lib)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if rows_path.exists() and len(rows_path.read_text().splitlines()) >= 3:
            break
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows_path.read_text()
    done_before = [json.loads(x)["key"] for x in before.splitlines() if x.strip().endswith("}")]
    assert 3 <= len(done_before) < 12, "killed too late to test resuming"
    run_id = json.loads((out / "job.json").read_text())["run_id"]

    r = subprocess.run([sys.executable, "-m", "tests.agents.proving.prove_worker", str(out), str(lib)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    after = rows_path.read_text()
    assert after.startswith(before.rstrip("\n"))  # nothing rewritten
    keys = [json.loads(x)["key"] for x in after.splitlines() if x.strip()]
    expected = {f"{arm}/1/q{i}" for arm in ("library", "baseline") for i in range(6)}
    assert sorted(keys) == sorted(expected)  # every attempt exactly once, finished ones not redone
    assert json.loads((out / "job.json").read_text())["run_id"] == run_id
    report = json.loads((out / "report.json").read_text())
    assert report["arms"]["library"]["solved"] == 6 and report["arms"]["baseline"]["solved"] == 1
    with open_store(lib, embedder=HashingEmbedder(256)) as store:
        assert [e.name for e in store.list()] == ["double_lf"]  # a redone step added nothing twice
