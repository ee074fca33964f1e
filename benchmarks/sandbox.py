"""Sandbox latency and throughput, per backend, against a cold interpreter.

For each backend: p50/p95 round-trip latency (host ``run()`` call to result)
of ``print(1+1)`` and of a small sympy job, sequentially; then throughput with
N jobs in flight.  In the same run, the baseline: a cold
``python -c "import sympy; ..."`` subprocess (what running model code without
a warm sandbox costs), and the speed-up of each backend over it.

Usage (root; the docker column starts a private dockerd unless --docker-url)::

    python benchmarks/sandbox.py                          # all backends
    python benchmarks/sandbox.py --backends forkserver,bwrap -n 300 --concurrency 8
    python benchmarks/sandbox.py --json results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time

from lemmaflow.sandboxes import Job, Limits, SandboxUnavailable, make_executor

TRIVIAL = "print(1+1)"
SYMPY = "import sympy as sp\nx = sp.Symbol('x')\nprint(sp.factor(x**4 - 1), sp.solve(x**2 - 2, x))"
COLD_SYMPY = "import sympy as sp; x = sp.Symbol('x'); print(sp.factor(x**4 - 1), sp.solve(x**2 - 2, x))"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return xs[k]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def cold_baseline(n: int) -> dict:
    py = sys.executable
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}

    def run(code: str) -> None:
        subprocess.run([py, "-I", "-c", code], check=True, capture_output=True, env=env)

    trivial = timed(lambda: run("print(1+1)"), n)
    sym = timed(lambda: run(COLD_SYMPY), n)
    return {"trivial_ms": [x * 1e3 for x in trivial], "sympy_ms": [x * 1e3 for x in sym]}


def bench_backend(kind: str, args, docker_url: str | None) -> dict:
    kw: dict = {"limits": Limits(timeout_s=30)}
    if kind != "subprocess":
        kw["pool_size"] = args.pool_size
    if kind == "docker":
        kw["base_url"] = docker_url
    ex = make_executor(kind, **kw)
    t0 = time.perf_counter()
    ex.start()
    start_s = time.perf_counter() - t0
    n = args.n if kind != "subprocess" else max(5, args.n // 20)
    try:
        for _ in range(5):  # warm caches, fill the spares
            ex.run(TRIVIAL)
        res = {"start_s": start_s}
        for name, code, reps in (("trivial", TRIVIAL, n), ("sympy", SYMPY, max(5, n // 2))):
            lat, srv = [], []
            for _ in range(reps):
                t = time.perf_counter()
                r = ex.run(Job(code=code))
                lat.append((time.perf_counter() - t) * 1e3)
                srv.append(r.duration_s * 1e3)
                assert r.ok, r
                if args.gap_ms:
                    time.sleep(args.gap_ms / 1e3)
            res[f"{name}_ms"] = lat
            res[f"{name}_job_ms"] = srv
        jobs = [Job(code=TRIVIAL) for _ in range(args.throughput_jobs if kind != "subprocess" else 20)]
        t = time.perf_counter()
        if kind == "subprocess":
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(args.concurrency) as tp:
                done = list(tp.map(ex.run, jobs))
        else:
            import asyncio

            async def flood():
                sem = asyncio.Semaphore(args.concurrency)

                async def one(j):
                    async with sem:
                        return await ex.arun(j)

                return await asyncio.gather(*(one(j) for j in jobs))

            done = asyncio.run(flood())
        elapsed = time.perf_counter() - t
        assert all(r.ok for r in done)
        res["throughput_jobs_s"] = len(jobs) / elapsed
        return res
    finally:
        ex.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="forkserver,bwrap,docker,subprocess")
    ap.add_argument("-n", type=int, default=200, help="sequential runs of the trivial job (sympy: n/2)")
    ap.add_argument("--cold-n", type=int, default=15, help="cold subprocess runs")
    ap.add_argument("--pool-size", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--concurrency", type=int, default=8, help="jobs in flight for the throughput test")
    ap.add_argument("--throughput-jobs", type=int, default=400)
    ap.add_argument("--gap-ms", type=float, default=0.0, help="pause between sequential runs")
    ap.add_argument("--docker-url", default=None, help="use this daemon instead of starting a private one")
    ap.add_argument("--json", default=None, help="also write the raw figures here")
    args = ap.parse_args()
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]

    print(f"# {platform.node()} {platform.machine()} cpus={os.cpu_count()} python={platform.python_version()} "
          f"pool_size={args.pool_size} concurrency={args.concurrency}")
    cold = cold_baseline(args.cold_n)
    cold_sym_p50 = pct(cold["sympy_ms"], 50)
    results: dict = {"cold_subprocess": cold}
    with contextlib.ExitStack() as stack:
        docker_url = args.docker_url
        if "docker" in kinds and docker_url is None:
            from lemmaflow.sandboxes.docker_backend import PrivateDockerd

            try:
                docker_url = stack.enter_context(PrivateDockerd()).url
            except SandboxUnavailable as exc:
                print(f"docker: unavailable: {exc}")
                kinds.remove("docker")
        for kind in kinds:
            try:
                results[kind] = bench_backend(kind, args, docker_url)
            except SandboxUnavailable as exc:
                print(f"{kind}: unavailable: {exc}")

    hdr = (f"{'backend':<18}{'start s':>8}{'trivial p50':>12}{'p95':>8}{'sympy p50':>11}{'p95':>8}"
           f"{'job p50':>9}{'x cold':>8}{'jobs/s':>9}")
    print(hdr)
    print("-" * len(hdr))
    print(f"{'cold python -c':<18}{'':>8}{pct(cold['trivial_ms'], 50):>10.1f}ms{pct(cold['trivial_ms'], 95):>6.1f}ms"
          f"{cold_sym_p50:>9.1f}ms{pct(cold['sympy_ms'], 95):>6.1f}ms{'':>9}{1.0:>7.1f}x{'':>9}")
    for kind in kinds:
        r = results.get(kind)
        if r is None:
            continue
        t50 = pct(r["trivial_ms"], 50)
        print(f"{kind:<18}{r['start_s']:>8.2f}{t50:>10.2f}ms{pct(r['trivial_ms'], 95):>6.1f}ms"
              f"{pct(r['sympy_ms'], 50):>9.1f}ms{pct(r['sympy_ms'], 95):>6.1f}ms"
              f"{pct(r['trivial_job_ms'], 50):>7.2f}ms{cold_sym_p50 / t50:>7.0f}x{r['throughput_jobs_s']:>9.0f}")
    print("\nx cold = p50 of the cold `python -c \"import sympy; ...\"` subprocess / p50 of print(1+1) on the backend;")
    print("job p50 = time inside the server (fork-server side), the rest is the host<->server round trip.")
    for kind in kinds:
        r = results.get(kind)
        if r:
            print(f"{kind}: sympy job speed-up over the cold sympy subprocess: "
                  f"{cold_sym_p50 / pct(r['sympy_ms'], 50):.0f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
