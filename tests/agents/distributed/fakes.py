"""Fake models and a driver run in Ray workers and subprocesses by the Ray tests (importable by workers)."""

from __future__ import annotations

import asyncio
import functools
import sys

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.backends.base import BackendError
from lemmaflow.tools.datasets import Problem

ANSWER = "The answer is \\boxed{4}."


def fixed(latency_s: float = 0.0):
    """A worker's generator: always answers 4, after ``latency_s`` per request."""
    return functools.partial(ScriptedLM, [ANSWER], latency_s=latency_s)


def _poisoned(prompt: str, i: int) -> str:
    if "poison" in prompt:
        raise BackendError("scripted failure for a poisoned question")
    return ANSWER


def poisoned():
    """Answers 4, except to questions containing 'poison' (the request fails)."""
    return ScriptedLM(_poisoned)


def problems(n: int, prefix: str = "q") -> list[Problem]:
    return [Problem(id=f"{prefix}{i}", question=f"What is {i} + {4 - i}? ({prefix}{i})", gold="4", source="test")
            for i in range(n)]


def drive(address: str, out: str, n: int, latency_s: float) -> None:
    """A driver of its own (killed by the resume test): prints one line per result it wrote."""
    from lemmaflow.agents.distributed import RayBatchRunner, RayWorkerPool, WorkerSetup
    from lemmaflow.cli import resolve_pipeline

    pool = RayWorkerPool(WorkerSetup(generator=fixed(latency_s)), workers=1, address=address,
                         num_cpus_per_worker=0.25).start()
    runner = RayBatchRunner(resolve_pipeline("cot", {}), pool, out_path=out, concurrency=2,
                            on_result=lambda res, s: print(res.key, flush=True))
    asyncio.run(runner.run(problems(n)))
    print("done", flush=True)


if __name__ == "__main__":
    drive(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
