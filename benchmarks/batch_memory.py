"""Memory and CPU of a batch run against its number of problems: streaming keeps both flat.

Each size runs in a fresh child process (so peak RSS is that run's alone): the
``sc`` pipeline (n=1) through :class:`BatchRunner` over a lazy generator of
problems, against a fake engine of fixed latency (no model, and it keeps nothing per call:
the measure is the runner's, not an engine's). It reports the child's peak RSS
(``ru_maxrss``) and the CPU seconds per problem spent inside ``run``.

Goals (issue 21): peak RSS at 100k problems within 10% of the 1k run's; CPU per
problem flat within 20%.

    .venv/bin/python benchmarks/batch_memory.py                      # 1k, 10k, 100k, 3 runs each
    .venv/bin/python benchmarks/batch_memory.py --sizes 1000 10000 --latency-ms 2
    .venv/bin/python benchmarks/batch_memory.py --list               # the input as a list, not a generator
    .venv/bin/python benchmarks/batch_memory.py --cli                # `lemmaflow solve` on a JSONL file, as a subprocess

``--cli`` measures the whole command: ``lemmaflow solve --input FILE.jsonl`` (the lazy reader, the
runner, the progress bar, the final table) in a fresh process whose engine is the same fake (the
CLI's backend factory is replaced, nothing else); the answer checker is the real one.

The results file goes to a temporary folder (``/dev/shm`` when present, so the
per-result fsync is not the disk's speed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile


def fixed_latency_lm(latency_ms: float):
    """A fake engine: the same reply after a fixed sleep; keeps nothing per call (unlike ScriptedLM, which logs calls)."""
    import asyncio

    from lemmaflow.agents.backends import Completion, Generation

    class FixedLatencyLM:
        model_id = "fixed-latency"

        async def generate(self, prompts, params):
            await asyncio.sleep(latency_ms / 1000)
            return [Generation(completions=[Completion(text="The answer is \\boxed{4}.", completion_tokens=6,
                                                       finish_reason="stop")] * params.n, prompt_tokens=12)
                    for _ in prompts]

        async def aclose(self):
            pass

    return FixedLatencyLM()


def cli_child(argv: list[str], latency_ms: float, figures: str) -> None:
    """``lemmaflow solve ARGV`` in this process, its engine the fixed-latency fake (the only thing replaced:
    argument parsing, the lazy reader, the runner, progress and the final table are the CLI's own)."""
    import resource
    import time

    import lemmaflow.cli as cli

    cli._make_backend = lambda args: fixed_latency_lm(latency_ms)
    cpu0, t0 = time.process_time(), time.monotonic()
    code = cli.main(argv)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    with open(figures, "w") as f:
        json.dump(dict(code=code, cpu_s=cpu, wall_s=wall,
                       peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), f)


def cli_run(n: int, latency_ms: float, concurrency: int) -> dict:
    """``lemmaflow solve`` as a subprocess on a generated JSONL of ``n`` problems; its figures."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        inp, out, figures = (os.path.join(tmp, f) for f in ("p.jsonl", "r.jsonl", "figures.json"))
        with open(inp, "w") as f:
            for i in range(n):
                f.write(json.dumps({"id": f"p{i}", "question": f"What is {i} + 4 - {i}?", "answer": "4"}) + "\n")
        argv = ["solve", "--input", inp, "--out", out, "--pipeline", "sc", "--n", "1", "--max-tokens", "16",
                "--concurrency", str(concurrency)]
        cmd = [sys.executable, __file__, "--cli-child", json.dumps(argv), "--latency-ms", str(latency_ms),
               "--figures", figures]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = json.load(open(figures))
        lines = sum(1 for _ in open(out))
    assert r["code"] == 0 and lines == n, (r, lines)
    return dict(n=n, done=lines, peak_rss_mib=r["peak_rss_mib"], cpu_s=r["cpu_s"], wall_s=r["wall_s"],
                cpu_us_per_problem=r["cpu_s"] / n * 1e6, problems_per_s=n / r["wall_s"])


def child(n: int, latency_ms: float, concurrency: int, as_list: bool) -> dict:
    """One run of ``n`` problems in this process; its figures."""
    import asyncio
    import resource
    import time

    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.datasets import Problem

    class ExactChecker:  # the answer checker's subprocess pool is not what is measured here
        def equivalent(self, a, b):
            return a == b

        def extract(self, text):
            return text

    lm = fixed_latency_lm(latency_ms)
    pipe = resolve_pipeline("sc", {"n": 1, "max_tokens": 16})

    def problems():
        for i in range(n):
            yield Problem(id=f"p{i}", question=f"What is {i} + 4 - {i}?", gold="4", source="bench")

    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        runner = BatchRunner(pipe, lm, ExactChecker(), out_path=os.path.join(tmp, "r.jsonl"), concurrency=concurrency)
        src = list(problems()) if as_list else problems()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu0, t0 = time.process_time(), time.monotonic()
        s = asyncio.run(runner.run(src))
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        lines = sum(1 for _ in open(os.path.join(tmp, "r.jsonl")))
    assert s.done == n == lines, (s, lines)
    return dict(n=n, done=s.done, correct=s.correct, rss_start_mib=rss_before / 1024,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                cpu_s=cpu, wall_s=wall, cpu_us_per_problem=cpu / n * 1e6, problems_per_s=n / wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--latency-ms", type=float, default=5.0, help="the fake engine's fixed per-call latency")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3, help="runs per size (max RSS, median CPU reported)")
    ap.add_argument("--list", action="store_true", help="pass the problems as a list (materialised input)")
    ap.add_argument("--cli", action="store_true",
                    help="run `lemmaflow solve` as a subprocess on a generated JSONL file (the whole CLI path: "
                         "lazy reader, runner, progress, final table); the engine is the same fake")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cli-child", help=argparse.SUPPRESS)
    ap.add_argument("--figures", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.latency_ms, args.concurrency, args.list)))
        return
    if args.cli_child is not None:
        cli_child(json.loads(args.cli_child), args.latency_ms, args.figures)
        return
    runs: dict[int, list[dict]] = {n: [] for n in args.sizes}
    for rep in range(args.repeats):  # sizes interleaved, so load drifts hit every size alike
        for n in args.sizes:
            if args.cli:
                r = cli_run(n, args.latency_ms, args.concurrency)
            else:
                cmd = [sys.executable, __file__, "--child", str(n), "--latency-ms", str(args.latency_ms),
                       "--concurrency", str(args.concurrency)] + (["--list"] if args.list else [])
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
            runs[n].append(r)
            print(f"  round {rep + 1}: {n:>7} problems: peak RSS {r['peak_rss_mib']:.1f} MiB, "
                  f"{r['cpu_us_per_problem']:.0f} µs CPU/problem, {r['problems_per_s']:.0f} problems/s",
                  file=sys.stderr, flush=True)
    # Per size: the largest peak RSS (worst case) and the median CPU per problem (machine noise).
    rows = []
    for n, rs in runs.items():
        med = sorted(rs, key=lambda r: r["cpu_us_per_problem"])[len(rs) // 2]
        rows.append(dict(med, peak_rss_mib=max(r["peak_rss_mib"] for r in rs)))
    first = rows[0]
    print(f"\nlatency {args.latency_ms} ms, concurrency {args.concurrency}, input "
          f"{'`lemmaflow solve` on a JSONL file' if args.cli else 'list' if args.list else 'generator'}, "
          f"{args.repeats} runs per size (max peak RSS, median CPU)\n")
    print("| problems | peak RSS MiB | RSS vs first | CPU µs/problem | CPU vs first | problems/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['peak_rss_mib']:.1f} | {r['peak_rss_mib'] / first['peak_rss_mib']:.3f} | "
              f"{r['cpu_us_per_problem']:.0f} | {r['cpu_us_per_problem'] / first['cpu_us_per_problem']:.3f} | "
              f"{r['problems_per_s']:.0f} |")
    last = rows[-1]
    rss_ok = last["peak_rss_mib"] <= 1.10 * first["peak_rss_mib"]
    cpu_ok = abs(last["cpu_us_per_problem"] / first["cpu_us_per_problem"] - 1) <= 0.20
    print(f"\nRSS at {last['n']} within 10% of {first['n']}: {'met' if rss_ok else 'NOT met'}; "
          f"CPU per problem within 20%: {'met' if cpu_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
