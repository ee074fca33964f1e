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

Hot path, this tree against an earlier one in the same run (``--hot-path``):
the sandbox package of ``--baseline-ref`` (default: the commit before the hot
path work) is checked out from git into a temporary package and both run side
by side, rounds interleaved so that load on a shared machine hits both alike::

    python benchmarks/sandbox.py --hot-path --backends forkserver,bwrap

It prints, per backend and implementation: round trip p50/p99 of a warm
``print(1+1)`` back-to-back and with jobs 30 ms apart, the time the server
itself spent on the job (p50) and the ratio of the two, then jobs/s with 8
one-shot jobs in flight and with 8 concurrent sessions running cells.
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


# ----------------------------------------------------------------- hot path
BASELINE_REF = "2366d10"  # main before the hot-path work (issue 21, section 4)


def load_baseline(ref: str):
    """The ``sandboxes`` package as of git ``ref``, imported as ``_lf_sandboxes_<ref>``."""
    import importlib
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    names = subprocess.run(["git", "-C", str(repo), "ls-tree", "--name-only", f"{ref}:sandboxes"],
                           check=True, capture_output=True, text=True).stdout.split()
    pkg = f"_lf_sandboxes_{ref.replace('/', '_').replace('-', '_')}"
    root = Path(tempfile.mkdtemp(prefix="lemmaflow-baseline-"))
    (root / pkg).mkdir()
    for name in names:
        if name.endswith(".py"):
            src = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:sandboxes/{name}"],
                                 check=True, capture_output=True).stdout
            (root / pkg / name).write_bytes(src)
    sys.path.insert(0, str(root))
    return importlib.import_module(pkg)


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    out += [int(child), *_descendants(int(child))]
    except OSError:
        pass
    return out


def sandbox_cpu_s(ex) -> float:
    """CPU seconds used so far by ``ex``'s server processes and the job processes they reaped.

    A live process's own time plus its reaped children's (``/proc/PID/stat``
    utime, stime, cutime, cstime) over the servers' process trees: this is
    where fork, copy-on-write faults and exit teardown of every job are paid.
    """
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for host_pid in ex.server_pids():
        for pid in [host_pid, *_descendants(host_pid)]:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])
            except (OSError, IndexError, ValueError):
                pass
    return total / tck


def _seq(run, n: int, gap_s: float) -> tuple[list[float], list[float]]:
    lat, srv = [], []
    for _ in range(n):
        t = time.perf_counter()
        r = run("print(1+1)")
        lat.append((time.perf_counter() - t) * 1e3)
        srv.append(r.duration_s * 1e3)
        assert r.ok and r.stdout == "2\n", r
        if gap_s:
            time.sleep(gap_s)
    return lat, srv


def _oneshot_rate(ex, jobs: int, concurrency: int) -> tuple[float, float]:
    """(jobs per second, host CPU ms per job: this process, all its threads)."""
    import asyncio

    async def flood() -> tuple[float, float]:
        sem = asyncio.Semaphore(concurrency)

        async def one():
            async with sem:
                r = await ex.arun("print(1+1)")
                assert r.ok, r

        t, c = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return jobs / (time.perf_counter() - t), (time.process_time() - c) * 1e3 / jobs

    return asyncio.run(flood())


def _session_rate(ex, cells: int, sessions: int) -> tuple[float, float]:
    import asyncio

    async def chains() -> tuple[float, float]:
        ss = [ex.session() for _ in range(sessions)]
        try:
            for s in ss:
                await s.arun("x = 0")

            async def chain(s):
                for _ in range(cells // sessions):
                    r = await s.arun("x += 1\nprint(1+1)")
                    assert r.ok, r

            t, c = time.perf_counter(), time.process_time()
            await asyncio.gather(*(chain(s) for s in ss))
            done = (cells // sessions) * sessions
            return done / (time.perf_counter() - t), (time.process_time() - c) * 1e3 / done
        finally:
            for s in ss:
                s.close()

    return asyncio.run(chains())


def hot_path(args, kinds: list[str]) -> dict:
    impls = {"new": sys.modules["lemmaflow.sandboxes"], f"old ({args.baseline_ref})": load_baseline(args.baseline_ref)}
    out: dict = {}
    for kind in kinds:
        if kind not in ("forkserver", "bwrap"):
            continue
        exs = {}
        try:
            for name, mod in impls.items():
                ex = mod.make_executor(kind, pool_size=args.pool_size, limits=mod.Limits(timeout_s=30))
                ex.start()
                for _ in range(10):
                    ex.run("print(1+1)")
                exs[name] = ex
            acc = {name: {"b2b": [], "b2b_srv": [], "gap": [], "gap_srv": [], "oneshot": [], "session": [],
                          "oneshot_cpu": [], "session_cpu": [], "sandbox_cpu_s": 0.0, "sandbox_jobs": 0}
                   for name in exs}
            for _ in range(args.rounds):  # interleaved: noise hits both alike
                for name, ex in exs.items():
                    a = acc[name]
                    cpu0 = sandbox_cpu_s(ex)
                    lat, srv = _seq(ex.run, args.n // args.rounds, 0.0)
                    a["sandbox_cpu_s"] += sandbox_cpu_s(ex) - cpu0
                    a["sandbox_jobs"] += len(lat)
                    a["b2b"] += lat
                    a["b2b_srv"] += srv
                    lat, srv = _seq(ex.run, max(5, args.n // (4 * args.rounds)), 0.03)
                    a["gap"] += lat
                    a["gap_srv"] += srv
                    rate, cpu = _oneshot_rate(ex, args.throughput_jobs // args.rounds, args.concurrency)
                    a["oneshot"].append(rate)
                    a["oneshot_cpu"].append(cpu)
                    rate, cpu = _session_rate(ex, 4 * args.throughput_jobs // args.rounds, args.concurrency)
                    a["session"].append(rate)
                    a["session_cpu"].append(cpu)
            out[kind] = acc
        finally:
            for ex in exs.values():
                ex.close()
    hdr = (f"{'backend':<11}{'impl':<16}{'b2b p50':>9}{'p99':>8}{'in-srv':>8}{'ratio':>7}"
           f"{'gap p50':>9}{'p99':>8}{'in-srv':>8}{'ratio':>7}{'1-shot/s':>10}{'cells/s':>9}{'host CPU/job':>16}"
           f"{'sandbox CPU/job':>17}")
    print(f"\n# hot path: print(1+1), pool_size={args.pool_size}, {args.concurrency} in flight / sessions, "
          f"{args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.2f}")
    print(hdr)
    print("-" * len(hdr))
    for kind, acc in out.items():
        for name, a in acc.items():
            b, bs, g, gs = (pct(a[k], 50) for k in ("b2b", "b2b_srv", "gap", "gap_srv"))
            print(f"{kind:<11}{name:<16}{b:>7.2f}ms{pct(a['b2b'], 99):>6.1f}ms{bs:>6.2f}ms{b / bs:>6.2f}x"
                  f"{g:>7.2f}ms{pct(a['gap'], 99):>6.1f}ms{gs:>6.2f}ms{g / gs:>6.2f}x"
                  f"{sum(a['oneshot']) / len(a['oneshot']):>10.0f}{sum(a['session']) / len(a['session']):>9.0f}"
                  f"{pct(a['oneshot_cpu'], 50):>8.3f}/{pct(a['session_cpu'], 50):.3f}ms"
                  f"{a['sandbox_cpu_s'] * 1e3 / max(1, a['sandbox_jobs']):>15.2f}ms")
    print("b2b = back-to-back from one thread; gap = jobs 30 ms apart; in-srv = the job's time inside the server;")
    print("ratio = round trip / in-server (p50s); 1-shot/s = fresh confined process per job, cells/s = session cells,")
    print("both from asyncio (arun) with the stated number in flight; host CPU/job = CPU time of this process")
    print("(every thread) per one-shot job / per session cell during those runs; sandbox CPU/job = CPU time of the")
    print("servers and their job processes (fork, copy-on-write faults, the job, exit teardown) per b2b job.")
    return out


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
    ap.add_argument("--hot-path", action="store_true", help="only the side-by-side hot-path table (see above)")
    ap.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the old implementation (--hot-path)")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (--hot-path)")
    args = ap.parse_args()
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    if args.hot_path:
        res = hot_path(args, kinds)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f)
        return

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
