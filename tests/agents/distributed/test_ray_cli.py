"""``lemmaflow solve --ray`` end to end: a subprocess driver joins the test's Ray cluster; two workers each
talk to a real OpenAI-compatible HTTP server on 127.0.0.1; a rerun resumes; a bad address is a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.agents.backends.flaky_server import Script, serve

ROOT = Path(__file__).resolve().parents[3]


def _solve(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lemmaflow.cli", "solve", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_solve_ray_through_the_cli_writes_each_problem_once_and_resumes(ray_cluster, tmp_path):
    inp = tmp_path / "p.jsonl"
    inp.write_text("".join(json.dumps({"id": f"p{i}", "question": f"What is {i} + {4 - i}?", "answer": "4"}) + "\n"
                           for i in range(8)) + "not json\n")
    out = tmp_path / "r.jsonl"
    script = Script([])
    with serve(script) as url:
        args = ["--input", str(inp), "--out", str(out), "--pipeline", "cot", "--backend", "openai",
                "--base-url", url, "--model", "served-model", "--ray", ray_cluster["address"], "--workers", "2",
                "--worker-cpus", "0.25", "--concurrency", "2", "--no-progress"]
        r = _solve(*args)
        assert r.returncode == 0, r.stderr[-3000:]
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 8 and set(Counter(r["id"] for r in rows).values()) == {1}
        assert all(r["status"] == "ok" and r["correct"] and r["model"] == "served-model" for r in rows)
        assert len(script.requests) == 8  # one chain of thought per problem, from the workers
        assert "skipped" in r.stderr and ":9:" in r.stderr  # the bad input line is reported
        assert "lemmaflow results" in r.stdout and "100.0%" in r.stdout
        again = _solve(*args)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(out.read_text().splitlines()) == 8 and len(script.requests) == 8  # all skipped


def test_solve_ray_with_an_unreachable_cluster_is_a_clear_error(tmp_path):
    inp = tmp_path / "p.jsonl"
    inp.write_text(json.dumps({"id": "p", "question": "1+1?", "answer": "2"}) + "\n")
    r = _solve("--input", str(inp), "--out", str(tmp_path / "r.jsonl"), "--pipeline", "cot", "--backend", "openai",
               "--model", "m", "--ray", "127.0.0.1:9", "--no-progress", timeout=240)
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Ray cluster" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_bench_ray_runs_every_pipeline_and_the_matched_sc_on_the_workers(ray_cluster, tmp_path):
    inp = tmp_path / "p.jsonl"
    inp.write_text("".join(json.dumps({"id": f"p{i}", "question": f"What is {i} + {4 - i}?", "answer": "4"}) + "\n"
                           for i in range(4)))
    out = tmp_path / "bench"
    script = Script([])
    with serve(script) as url:
        r = subprocess.run(
            [sys.executable, "-m", "lemmaflow.cli", "bench", "--input", str(inp), "--out", str(out),
             "--pipelines", "cot,sc", "--n", "2", "--backend", "openai", "--base-url", url, "--model", "served-model",
             "--ray", ray_cluster["address"], "--workers", "2", "--worker-cpus", "0.25", "--no-progress"],
            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    assert report["model"] == "served-model"
    rows = {row["label"]: row for row in report["rows"]}
    assert rows["cot"]["problems"] == 4 and rows["cot"]["accuracy"] == 1.0
    assert rows["sc"]["problems"] == 4
    for f in (out / "results").glob("*.jsonl"):
        ids = [json.loads(line)["id"] for line in f.read_text().splitlines()]
        assert sorted(ids) == [f"p{i}" for i in range(4)], f.name
    assert script.requests  # the workers did the sampling


def test_prove_ray_runs_attempts_on_workers_with_their_own_coq(ray_cluster, tmp_path):
    """Real Coq in each worker, the served model's (non-proof) answers: every attempt ends once, unproved."""
    out, lib = tmp_path / "out", tmp_path / "lib.db"
    script = Script([])
    with serve(script) as url:
        args = [sys.executable, "-m", "lemmaflow.cli", "prove", "--dataset", "minif2f-coq:valid", "--attempts", "1",
                "--limit", "2", "--out", str(out), "--library", str(lib), "--embedder", "hashing-256",
                "--max-tokens", "32", "--repair-rounds", "0", "--no-sketch", "--evolve-every", "0", "--concurrency", "2",
                "--backend", "openai", "--base-url", url, "--model", "served-model", "--ray", ray_cluster["address"],
                "--workers", "2", "--worker-cpus", "0.25", "--pool-size", "1", "--no-progress"]
        r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if r.returncode == 2 and "data" in r.stderr.lower() and "not found" in r.stderr.lower():
            import pytest

            pytest.skip(f"no miniF2F Coq data here: {r.stderr[-300:]}")
        assert r.returncode == 0, r.stderr[-3000:]
        rows = [json.loads(line) for line in (out / "attempts.jsonl").read_text().splitlines()]
        assert sorted(r["key"] for r in rows) == sorted(f"{arm}/1/{p}" for arm in ("library", "baseline")
                                                      for p in {r["problem"] for r in rows})
        assert len(rows) == 4 and all(r["status"] == "ok" and not r["proved"] for r in rows)
        assert json.loads((out / "report.json").read_text())["model"] == "served-model"
        assert len(script.requests) >= 4  # the workers asked the served model
        again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "nothing to do" in again.stderr
