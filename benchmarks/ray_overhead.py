"""Overhead of the Ray path against the in-process runner, one worker, fake model of fixed latency.

The same problems go through :class:`BatchRunner` (in-process) and :class:`RayBatchRunner` with one
worker actor on a local Ray instance, with the same per-problem concurrency and a scripted model
that answers every request after a fixed latency — so the difference is the distribution's cost
(the driver's bookkeeping, one Ray call per problem, result serialization, the results file), not
the model's. The two alternate ``--repeats`` times on fresh results files; the median wall times
are compared. The pool's start (Ray and the actor) is a one-off cost, printed apart.
Goal: Ray/in-process wall time <= 1.05.

    .venv/bin/python benchmarks/ray_overhead.py
    .venv/bin/python benchmarks/ray_overhead.py --problems 2000 --latency-ms 50 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import tempfile
import time
from pathlib import Path

ANSWER = "The answer is \\boxed{4}."


def problems(n: int, tag: str):
    from lemmaflow.tools.datasets import Problem

    return [Problem(id=f"{tag}-{i}", question=f"What is {i} + {4 - i}? [{tag}]", gold="4", source="bench")
            for i in range(n)]


def measure(args) -> dict:
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.agents.distributed import RayBatchRunner, RayWorkerPool, WorkerSetup
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.answers import AnswerChecker

    latency = args.latency_ms / 1000
    pipeline = resolve_pipeline(args.pipeline, {})
    tmp = Path(tempfile.mkdtemp(prefix="lemmaflow-ray-overhead-"))
    t0 = time.perf_counter()
    pool = RayWorkerPool(WorkerSetup(generator=functools.partial(ScriptedLM, [ANSWER], latency_s=latency)),
                         workers=1, address="local", init_kwargs=dict(num_cpus=2, include_dashboard=False,
                                                     object_store_memory=100 * 2**20))
    pool.start()
    startup_s = time.perf_counter() - t0
    walls: dict[str, list[float]] = {"in_process": [], "ray": []}
    checker = AnswerChecker()

    async def local(ps, out):
        runner = BatchRunner(pipeline, ScriptedLM([ANSWER], latency_s=latency), checker, out_path=out,
                             concurrency=args.concurrency)
        return await runner.run(ps)

    async def distributed(ps, out):
        return await RayBatchRunner(pipeline, pool, out_path=out, concurrency=args.concurrency).run(ps)

    try:
        asyncio.run(distributed(problems(args.concurrency, "warm"), tmp / "warm.jsonl"))  # the actor builds the job
        for r in range(args.repeats):
            for name, fn in (("in_process", local), ("ray", distributed)):
                ps = problems(args.problems, f"{name}{r}")
                t = time.perf_counter()
                summary = asyncio.run(fn(ps, tmp / f"{name}{r}.jsonl"))
                walls[name].append(time.perf_counter() - t)
                assert summary.done == args.problems and summary.failed == 0, summary
    finally:
        pool.close()
        checker.close()
    local_s, ray_s = statistics.median(walls["in_process"]), statistics.median(walls["ray"])
    ideal_s = args.problems / args.concurrency * latency  # the model's latency alone, perfectly overlapped
    return dict(problems=args.problems, concurrency=args.concurrency, latency_ms=args.latency_ms,
                pipeline=args.pipeline, repeats=args.repeats, ray_startup_s=round(startup_s, 2),
                in_process_s=round(local_s, 3), ray_s=round(ray_s, 3), ideal_s=round(ideal_s, 3),
                in_process_per_s=round(args.problems / local_s, 1), ray_per_s=round(args.problems / ray_s, 1),
                ratio=round(ray_s / local_s, 4), walls={k: [round(w, 3) for w in v] for k, v in walls.items()})


def add_arguments(ap) -> None:
    ap.add_argument("--problems", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=100.0, help="the fake model's latency per request")
    ap.add_argument("--concurrency", type=int, default=32, help="problems in flight (per worker for Ray)")
    ap.add_argument("--pipeline", default="cot", help="built-in pipeline (cot: one request per problem)")
    ap.add_argument("--repeats", type=int, default=3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    res = measure(args)
    print(f"{res['problems']} problems, {res['pipeline']}, fake model {res['latency_ms']:.0f} ms/request, "
          f"{res['concurrency']} in flight, median of {res['repeats']}")
    print(f"  in-process BatchRunner : {res['in_process_s']:.3f} s  ({res['in_process_per_s']} problems/s)")
    print(f"  Ray, one worker        : {res['ray_s']:.3f} s  ({res['ray_per_s']} problems/s)")
    print(f"  latency alone (ideal)  : {res['ideal_s']:.3f} s")
    print(f"  Ray / in-process       : {res['ratio']:.3f}  (goal <= 1.05; overhead {100 * (res['ratio'] - 1):+.1f}%)")
    print(f"  Ray start (one-off)    : {res['ray_startup_s']:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
