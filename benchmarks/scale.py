"""Throughput against workers and endpoints: is the scheduler, not the CPU, the limit?

The model is fake on purpose: each endpoint is a local OpenAI-compatible HTTP
server (``tests/agents/backends/fleet_server.py``, in its own process) that
answers every request after a fixed latency and serves at most ``--capacity``
requests at once (an engine's batch slots; the rest queue). The ``sc`` pipeline
(n=1, one request per problem) runs through :class:`BatchRunner` and the real
:class:`OpenAIBackend` (one URL, or the :class:`EndpointRouter` over several).
So the ideal throughput is known exactly:

    ideal problems/s = min(workers, endpoints x capacity) / latency

and the table prints measured / ideal: how much of the fleet the runner and the
router actually use. Workers are in-process concurrency (``BatchRunner``'s
``concurrency``), 1/2/4/8 by default; endpoints 1/2/4.

    .venv/bin/python benchmarks/scale.py                    # workers x endpoints grid
    .venv/bin/python benchmarks/scale.py --problems 400 --latency-ms 50 --capacity 4

Each measurement is one function returning table rows (``SECTIONS``): a new one
(e.g. the Ray path against the in-process runner at one worker) is one more
function registered there, chosen with ``--sections``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
FLEET_SERVER = ROOT / "tests" / "agents" / "backends" / "fleet_server.py"


@contextmanager
def fake_fleet(count: int, latency_s: float, capacity: int) -> Iterator[list[str]]:
    """``count`` fake servers in a child process; their URLs."""
    proc = subprocess.Popen([sys.executable, str(FLEET_SERVER), str(count), str(latency_s), str(capacity)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=FLEET_SERVER.parent)
    try:
        urls = json.loads(proc.stdout.readline())
        yield urls
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class _ExactChecker:  # the answer checker's worker pool is not what is measured
    def equivalent(self, a, b):
        return a == b

    def extract(self, text):
        return text


def run_in_process(urls: list[str], workers: int, problems: int) -> tuple[float, int]:
    """``problems`` problems through BatchRunner with ``workers`` in flight over ``urls``: (seconds, done)."""
    from lemmaflow.agents.backends import OpenAIBackend, OpenAIConfig
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.datasets import Problem

    pipe = resolve_pipeline("sc", {"n": 1, "max_tokens": 16})
    backend = OpenAIBackend(OpenAIConfig(base_url=urls, model="m", health_interval_s=1.0))
    probs = (Problem(id=f"p{i}", question=f"What is {i} + 4 - {i}?", gold="4", source="scale")
             for i in range(problems))
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as tmp:
        runner = BatchRunner(pipe, backend, _ExactChecker(), out_path=Path(tmp) / "r.jsonl", concurrency=workers)

        async def go():
            try:
                return await runner.run(probs)
            finally:
                await backend.aclose()

        t = time.monotonic()
        s = asyncio.run(go())
        return time.monotonic() - t, s.done


def measure_workers_x_endpoints(args) -> list[dict]:
    """The grid: problems/s for each (workers, endpoints), against the ideal."""
    rows = []
    lat = args.latency_ms / 1000
    for e in args.endpoints:
        with fake_fleet(e, lat, args.capacity) as urls:
            for w in args.workers:
                secs, done = run_in_process(urls, w, args.problems)
                ideal = min(w, e * args.capacity) / lat
                rows.append(dict(section="in-process", workers=w, endpoints=e, problems=done,
                                 seconds=round(secs, 2), per_s=done / secs, ideal_per_s=ideal,
                                 efficiency=done / secs / ideal))
                print(f"  workers {w} endpoints {e}: {done / secs:.1f} problems/s (ideal {ideal:.0f})",
                      file=sys.stderr, flush=True)
    return rows


def measure_ray_overhead(args) -> list[dict]:
    """The Ray path against the in-process runner at one worker (``benchmarks/ray_overhead.py``): same fake
    latency, ``--ray-concurrency`` problems in flight (running per worker for Ray), ``--problems`` x 10 problems."""
    sys.path.insert(0, str(Path(__file__).parent))
    from ray_overhead import measure

    res = measure(argparse.Namespace(problems=args.problems * 10, latency_ms=args.latency_ms,
                                     concurrency=args.ray_concurrency, pipeline="cot", repeats=3))
    ideal = args.ray_concurrency / (args.latency_ms / 1000)
    rows = []
    for section, secs in (("ray: in-process", res["in_process_s"]), ("ray: 1 Ray worker", res["ray_s"])):
        rows.append(dict(section=section, workers=args.ray_concurrency, endpoints="-", problems=res["problems"],
                         seconds=secs, per_s=res["problems"] / secs, ideal_per_s=ideal,
                         efficiency=res["problems"] / secs / ideal))
    print(f"  Ray / in-process wall time: {res['ratio']:.3f} (goal <= 1.05); Ray start {res['ray_startup_s']} s",
          file=sys.stderr, flush=True)
    return rows


# name -> measurement; each takes the parsed args and returns rows with a "section" key.
SECTIONS: dict[str, Callable[[argparse.Namespace], list[dict]]] = {
    "grid": measure_workers_x_endpoints,
    "ray": measure_ray_overhead,
}


def render(rows: list[dict]) -> str:
    out = ["| section | workers | endpoints | problems | seconds | problems/s | ideal/s | measured/ideal |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['section']} | {r.get('workers', '')} | {r.get('endpoints', '')} | {r['problems']} | "
                   f"{r['seconds']} | {r['per_s']:.1f} | {r.get('ideal_per_s', float('nan')):.0f} | "
                   f"{r.get('efficiency', float('nan')):.2f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", nargs="+", default=["grid"], choices=sorted(SECTIONS))
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--endpoints", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--problems", type=int, default=100, help="problems per measurement")
    ap.add_argument("--latency-ms", type=float, default=200.0, help="the fake model's fixed per-request latency")
    ap.add_argument("--capacity", type=int, default=2, help="requests each fake endpoint serves at once")
    ap.add_argument("--ray-concurrency", type=int, default=32, help="problems in flight for the ray section")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args()
    rows = [r for name in args.sections for r in SECTIONS[name](args)]
    print(f"\nfake model: {args.latency_ms} ms per request, {args.capacity} at once per endpoint; "
          f"{args.problems} problems per cell\n")
    print(render(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
