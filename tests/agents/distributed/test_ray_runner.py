"""RayBatchRunner on a local Ray cluster: same results and keys as in-process, resume, dead workers, dead driver."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.batch import BatchRunner, load_results
from lemmaflow.cli import resolve_pipeline
from lemmaflow.tools.answers import AnswerChecker

from .fakes import ANSWER, fixed, poisoned, problems

ROOT = Path(__file__).resolve().parents[3]


def _pool(ray_cluster, generator, workers=1, **kw):
    from lemmaflow.agents.distributed import RayWorkerPool, WorkerSetup

    return RayWorkerPool(WorkerSetup(generator=generator), workers=workers, num_cpus_per_worker=0.25, **kw).start()


def _runner(pool, out, **kw):
    from lemmaflow.agents.distributed import RayBatchRunner

    return RayBatchRunner(resolve_pipeline("cot", {}), pool, out_path=out, **kw)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def test_same_results_and_keys_as_in_process_and_each_resumes_the_other(ray_cluster, tmp_path):
    probs = problems(12)
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    with AnswerChecker() as checker:
        local = BatchRunner(resolve_pipeline("cot", {}), ScriptedLM([ANSWER]), checker, out_path=local_out)
        asyncio.run(local.run(probs))
    pool = _pool(ray_cluster, fixed(0.01), workers=2)
    try:
        seen = []
        runner = _runner(pool, ray_out, concurrency=3, trace_path=tmp_path / "trace.jsonl",
                         on_result=lambda res, s: seen.append((res.key, s.done)))
        summary = asyncio.run(runner.run(iter(probs)))  # a lazy input, counted as it is read
        assert (summary.total, summary.done, summary.failed, summary.correct) == (12, 12, 0, 12)
        assert [d for _, d in seen] == list(range(1, 13))  # streamed one by one to the driver
        a, b = load_results(local_out), load_results(ray_out)
        assert set(a) == set(b) == {runner.key(p) for p in probs} == {local.key(p) for p in probs}
        for k in a:
            for field in ("id", "answer", "correct", "status", "model", "pipeline", "question"):
                assert a[k][field] == b[k][field], field
        assert b[next(iter(b))]["usage"]["total"]["completion_tokens"] > 0
        problems_traced = {e.get("problem_id") for e in _lines(tmp_path / "trace.jsonl")}
        assert {p.id for p in probs} <= problems_traced
        # The Ray path skips what the in-process runner finished, and the other way round.
        again = asyncio.run(_runner(pool, local_out, concurrency=3).run(probs))
        assert (again.skipped, again.done) == (12, 0)
        with AnswerChecker() as checker:
            back = BatchRunner(resolve_pipeline("cot", {}), ScriptedLM([ANSWER]), checker, out_path=ray_out)
            assert asyncio.run(back.run(probs)).skipped == 12
    finally:
        pool.close()


def test_failed_items_are_recorded_and_retried_by_the_next_run(ray_cluster, tmp_path):
    from lemmaflow.tools.datasets import Problem

    probs = problems(6) + [Problem(id="bad", question="poison pill", gold="4", source="test")]
    out = tmp_path / "r.jsonl"
    pool = _pool(ray_cluster, poisoned)
    try:
        s = asyncio.run(_runner(pool, out).run(probs))
        assert (s.done, s.failed) == (7, 1)
        rows = load_results(out)
        bad = [r for r in rows.values() if r["id"] == "bad"][0]
        assert bad["status"] == "error" and "poison" in bad["error"]
        s2 = asyncio.run(_runner(pool, out).run(probs))
        assert (s2.skipped, s2.done, s2.failed) == (6, 1, 1)  # only the failed one ran again
    finally:
        pool.close()


def test_a_worker_killed_mid_run_loses_nothing_and_solves_nothing_twice(ray_cluster, tmp_path):
    probs = problems(30)
    out = tmp_path / "r.jsonl"
    pool = _pool(ray_cluster, fixed(0.15), workers=2, max_restarts=2)
    try:
        victim = pool.slots[0]
        old_pid = victim.info["pid"]
        killed = []

        def on_result(res, s):
            if s.done == 3 and not killed:  # the victim holds problems in flight now
                os.kill(old_pid, signal.SIGKILL)
                killed.append(time.monotonic())

        runner = _runner(pool, out, concurrency=3, on_result=on_result)
        summary = asyncio.run(runner.run(probs))
        assert killed and runner.requeued >= 1
        rows = _lines(out)
        counts = Counter(r["key"] for r in rows)
        assert set(counts) == {runner.key(p) for p in probs}
        assert set(counts.values()) == {1}  # every problem exactly once
        assert all(r["status"] == "ok" and r["correct"] for r in rows)
        assert (summary.done, summary.failed) == (30, 0)
        # Ray restarted the actor (a new process); the driver takes it back once it answers.
        assert pool.pids()[0] != old_pid
        more = _runner(pool, out, concurrency=3)
        assert asyncio.run(more.run(problems(12, prefix="more"))).done == 12
        assert victim.state == "up"
    finally:
        pool.close()


def test_when_every_worker_is_dead_the_run_stops_with_what_it_finished_saved(ray_cluster, tmp_path):
    from lemmaflow.agents.distributed import RayUnavailable

    out = tmp_path / "r.jsonl"
    pool = _pool(ray_cluster, fixed(0.1), max_restarts=0)
    try:
        pid = pool.slots[0].info["pid"]

        def on_result(res, s):
            if s.done == 2:
                os.kill(pid, signal.SIGKILL)

        runner = _runner(pool, out, concurrency=2, on_result=on_result)
        with pytest.raises(RayUnavailable, match="every Ray worker died"):
            asyncio.run(runner.run(problems(10)))
        assert pool.slots[0].state == "dead"
        rows = _lines(out)
        assert len(rows) == runner.summary.done >= 2 and len({r["key"] for r in rows}) == len(rows)
    finally:
        pool.close()


def test_a_killed_driver_resumes_where_it_stopped(ray_cluster, tmp_path):
    out = tmp_path / "r.jsonl"
    n = 16
    proc = subprocess.Popen([sys.executable, "-m", "tests.agents.distributed.fakes", ray_cluster["address"], str(out),
                             str(n), "0.3"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    written = []
    try:
        deadline = time.monotonic() + 120
        while len(written) < 4 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            written.append(line.split()[0])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(written) == 4, proc.stderr.read()[-3000:]
    before = load_results(out)
    assert set(written) <= set(before) and len(before) < n
    pool = _pool(ray_cluster, fixed(0.0))
    try:
        runner = _runner(pool, out, concurrency=4)
        s = asyncio.run(runner.run(problems(n)))
        assert s.skipped == len(before) and s.done == n - len(before)
        counts = Counter(r["key"] for r in _lines(out))
        assert set(counts) == {runner.key(p) for p in problems(n)} and set(counts.values()) == {1}
    finally:
        pool.close()
