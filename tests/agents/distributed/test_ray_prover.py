"""Proof-checking pipelines (whole_proof) on Ray workers: each worker checks on its own warm prover pool.

Real Coq (coqidetop) in the worker actors of the session's local Ray cluster, a scripted model (in the
workers) or a real OpenAI-compatible HTTP server on 127.0.0.1 (through ``lemmaflow solve --ray``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.cli import resolve_pipeline
from lemmaflow.tools.datasets import Problem
from tests.agents.backends.flaky_server import Script, serve

ROOT = Path(__file__).resolve().parents[3]
ARITH = "Require Import Arith.\n"  # nat goals check in ~10 ms
PROOF = "Proof. rewrite h. lia. Qed."
KNOBS = {"n": None, "temperature": None, "max_tokens": None}
SMALL = ["prove.samples=2", "prove.parallel=1", "prove.resumes=0"]


def _problems() -> list[Problem]:
    return [Problem(id=f"t{i}", question=ARITH + f"Theorem t{i} (a b : nat) (h : a = b) : b + {i} = a + {i}.",
                    gold=None, source="test") for i in range(2)]


def _ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid
        out.add(pid)
    return out


def test_whole_proof_on_a_worker_checks_on_the_workers_own_warm_coq_pool(ray_cluster, tmp_path):
    from lemmaflow.agents.batch import load_results
    from lemmaflow.agents.distributed import RayBatchRunner, RayWorkerPool, WorkerSetup

    setup = WorkerSetup(generator=functools.partial(ScriptedLM, [PROOF]),
                        prover={"language": "coq", "pool_size": 1, "timeout_s": 60.0})
    pool = RayWorkerPool(setup, workers=1, num_cpus_per_worker=0.25).start()
    try:
        assert pool.slots[0].info["prover"] is None  # started by the first job that needs it, not before
        runner = RayBatchRunner(resolve_pipeline("whole_proof", KNOBS, SMALL), pool, out_path=tmp_path / "r.jsonl",
                                trace_path=tmp_path / "trace.jsonl", concurrency=2)
        summary = asyncio.run(runner.run(_problems()))
        assert (summary.done, summary.failed) == (2, 0)
        rows = load_results(tmp_path / "r.jsonl")
        assert sorted(r["id"] for r in rows.values()) == ["t0", "t1"]
        assert all(r["status"] == "ok" and r["outputs"]["proved"] and "lia" in r["answer"] for r in rows.values())
        checks = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
        checks = [e for e in checks if e.get("data", {}).get("event") == "whole_proof_check"]
        assert {e["problem_id"] for e in checks} == {"t0", "t1"}
        # The worker holds one warm Coq pool of the configured size, its own child processes, alive after the job.
        info = asyncio.run(_describe(pool))
        assert info["prover"]["kind"] == "CoqProver" and len(info["prover"]["pids"]) == 1
        coq_pid = info["prover"]["pids"][0]
        assert info["pid"] in _ancestors(coq_pid)  # a child of the worker actor, not of the driver
        # A second job on the same pool reuses that pool (no new prover processes).
        again = RayBatchRunner(resolve_pipeline("whole_proof", KNOBS, [*SMALL, "prove.samples=1"]), pool,
                               out_path=tmp_path / "r2.jsonl")
        assert asyncio.run(again.run(_problems())).done == 2
        assert asyncio.run(_describe(pool))["prover"]["pids"] == [coq_pid]
    finally:
        pool.close()


async def _describe(pool) -> dict:
    return await pool.slots[0].handle.describe.remote()


def _proof_reply(path: str, body: dict) -> dict:
    n = body.get("n", 1)
    chat = "messages" in body
    text = PROOF  # the prompt opened the code block; the server stops at its closing fence (stop=```)
    choices = [{"index": i, "finish_reason": "stop",
                **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})} for i in range(n)]
    return {"choices": choices, "usage": {"prompt_tokens": 11, "completion_tokens": 9 * n}}


def test_solve_ray_whole_proof_through_the_cli_proves_with_coq_on_the_workers(ray_cluster, tmp_path):
    inp = tmp_path / "p.jsonl"
    inp.write_text("".join(json.dumps({"id": p.id, "question": p.question}) + "\n" for p in _problems()))
    out, trace = tmp_path / "r.jsonl", tmp_path / "trace.jsonl"
    script = Script([], respond=_proof_reply)
    with serve(script) as url:
        r = subprocess.run(
            [sys.executable, "-m", "lemmaflow.cli", "solve", "--input", str(inp), "--out", str(out), "--trace", str(trace),
             "--pipeline", "whole_proof", *[a for s in SMALL for a in ("--set", s)], "--prover", "coq",
             "--prover-pool-size", "1", "--backend", "openai", "--base-url", url, "--model", "served-model",
             "--ray", ray_cluster["address"], "--workers", "2", "--worker-cpus", "0.25", "--no-progress"],
            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["t0", "t1"]
    assert all(r["status"] == "ok" and r["outputs"]["proved"] for r in rows), rows
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    proved = [e for e in events if e.get("data", {}).get("event") == "whole_proof_check" and e["data"]["status"] == "proved"]
    assert {e["problem_id"] for e in proved} == {"t0", "t1"}
    assert script.requests  # the workers asked the served model


def test_solve_ray_with_a_prover_that_cannot_start_is_a_clear_error(ray_cluster, tmp_path):
    """--prover lean4 without a Lean REPL: the workers cannot start it; one line, no traceback."""
    inp = tmp_path / "p.jsonl"
    inp.write_text(json.dumps({"id": "l0", "question": "import Mathlib\ntheorem x : 1 = 1 := by"}) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "LEMMAFLOW_LEAN_REPL"}
    with serve(Script([], respond=_proof_reply)) as url:
        r = subprocess.run(
            [sys.executable, "-m", "lemmaflow.cli", "solve", "--input", str(inp), "--out", str(tmp_path / "r.jsonl"),
             "--pipeline", "whole_proof", "--prover", "lean4", "--backend", "openai", "--base-url", url,
             "--model", "served-model", "--ray", ray_cluster["address"], "--worker-cpus", "0.25", "--no-progress"],
            cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode != 0
    assert "could not prepare the job" in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
