"""RayProveJob: LEGO-Prover attempts on Ray workers (scripted model, real Coq in each worker, one shared library)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections import Counter

import pytest

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.proving.job import ProveJobConfig, load_rows
from lemmaflow.agents.proving.lego import LegoProver
from lemmaflow.skills_library import HashingEmbedder, open_store

from ..proving.prove_worker import answer, problems


@pytest.fixture
def library(tmp_path):
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    open_store(url, embedder=HashingEmbedder(256)).close()
    return url


def _pool(library, latency_s=0.0, workers=2):
    from lemmaflow.agents.distributed import RayWorkerPool, WorkerSetup

    setup = WorkerSetup(generator=functools.partial(ScriptedLM, answer, latency_s=latency_s), library=library,
                        prover={"pool_size": 1, "timeout_s": 60})
    return RayWorkerPool(setup, workers=workers, num_cpus_per_worker=0.25).start()


def _config(**kw) -> ProveJobConfig:
    return ProveJobConfig(prover=LegoProver.Config(sketch=False, repair_rounds=0, max_tokens=256), **kw)


def test_prove_on_ray_workers_matches_the_in_process_job(ray_cluster, library, tmp_path):
    from lemmaflow.agents.distributed import RayProveJob

    pool = _pool(library)
    try:
        with open_store(library) as store:
            job = RayProveJob(problems(3), pool, store, tmp_path / "out", _config(attempts=2), dataset="scripted")
            state = asyncio.run(job.run())
            # As in-process (tests/agents/proving/test_job.py): q0's verified helper, added by a worker to the
            # shared library, proves q1 and q2 in the library arm; the baseline proves q0 only.
            assert state.solved == {"library": 3, "baseline": 1} and state.errors == 0
            report = job.write_report()
            assert report["model"] == "scripted" and report["library"]["size"] == 1
            assert [(r["problem"], r["names"]) for r in report["reuse"]] == [("q1", ["double_lf"]), ("q2", ["double_lf"])]
            rows = load_rows(tmp_path / "out" / "attempts.jsonl")
            assert set(Counter(r["key"] for r in rows).values()) == {1}
            assert store.stats().problems_solved == 3
            # A rerun has nothing to do.
            again = RayProveJob(problems(3), pool, store, tmp_path / "out", _config(attempts=2), dataset="scripted")
            assert again.pending() == 0
    finally:
        pool.close()


def test_a_worker_killed_mid_attempt_has_its_attempt_rerun_elsewhere(ray_cluster, library, tmp_path):
    from lemmaflow.agents.distributed import RayProveJob

    pool = _pool(library, latency_s=0.5)
    try:
        victim = pool.slots[0].info["pid"]
        with open_store(library) as store:
            job = RayProveJob(problems(4), pool, store, tmp_path / "out", _config(attempts=1, baseline=False,
                              evolve_every=0, concurrency=2), dataset="scripted")

            async def run_and_kill():
                task = asyncio.ensure_future(job.run())
                await asyncio.sleep(0.2)  # both workers hold an attempt now (0.5 s of model latency each)
                os.kill(victim, signal.SIGKILL)
                return await task

            state = asyncio.run(run_and_kill())
            assert job.requeued >= 1 and state.errors == 0
            rows = load_rows(tmp_path / "out" / "attempts.jsonl")
            counts = Counter(r["key"] for r in rows)
            assert set(counts) == {f"library/1/q{i}" for i in range(4)} and set(counts.values()) == {1}
    finally:
        pool.close()
