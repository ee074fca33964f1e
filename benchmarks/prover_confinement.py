"""What confinement costs the provers: the warm Coq pool (and one-shot ``coqc``) confined vs unconfined.

Same tasks as ``benchmarks/coq_pool.py`` (miniF2F-Coq statements, the hand-written
proof where there is one and the tactics a model tries first). Both pools are
started side by side (one session each) and every task is checked on both,
alternating which goes first, for ``--rounds`` rounds; the figures are medians
and sums of the per-check times, so load on a shared machine hits both alike.
Confinement acts when a session starts (bwrap, the read-only view, seccomp); a
check is XML over the session's pipes either way, so the pool's check latency
should not move (target: within 1.2x).

    .venv/bin/python benchmarks/prover_confinement.py [--problems 20] [--rounds 2] [--coqc 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from coq_pool import build_tasks  # noqa: E402 - the same tasks as the pool benchmark

from lemmaflow.tools.provers.coq import CoqProver  # noqa: E402
from lemmaflow.tools.provers.coqc import CoqcProver  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--coqc", type=int, default=6, help="tasks also checked by one-shot coqc, both ways")
    args = ap.parse_args()
    tasks = build_tasks(args.problems)
    print(f"{len(tasks)} checks on {args.problems} miniF2F-Coq (valid) statements, {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    starts: dict[bool, float] = {}
    pools: dict[bool, CoqProver] = {}
    for confine in (True, False):
        t0 = time.monotonic()
        pools[confine] = CoqProver(pool_size=1, timeout_s=120, confine=confine)
        pools[confine].start()
        starts[confine] = time.monotonic() - t0
    times: dict[bool, list[float]] = {True: [], False: []}
    verdicts: dict[bool, list[bool]] = {True: [], False: []}
    disagree = 0
    try:
        for rnd in range(args.rounds):
            for i, task in enumerate(tasks):
                order = (True, False) if (i + rnd) % 2 == 0 else (False, True)
                got = {}
                for confine in order:
                    r = pools[confine].check(task)
                    times[confine].append(r.time_s)
                    verdicts[confine].append(r.proved)
                    got[confine] = r.status
                disagree += got[True] != got[False]
    finally:
        for p in pools.values():
            p.close()

    print(f"session start-up (once): confined {starts[True]:.2f} s, unconfined {starts[False]:.2f} s")
    print(f"{'warm pool':28}{'confined':>11}{'unconfined':>12}{'ratio':>8}")
    proved = verdicts[False]
    for label, pick in [("median, all", lambda k: True), ("median, proved", lambda k: proved[k]),
                        ("median, not proved", lambda k: not proved[k])]:
        idx = [k for k in range(len(proved)) if pick(k)]
        if not idx:
            continue
        c = statistics.median(times[True][k] for k in idx)
        u = statistics.median(times[False][k] for k in idx)
        print(f"{label + f' ({len(idx)})':28}{c:>10.3f}s{u:>11.3f}s{c / u:>7.2f}x")
    c, u = sum(times[True]), sum(times[False])
    print(f"{'sum of check times':28}{c:>10.2f}s{u:>11.2f}s{c / u:>7.2f}x")

    if args.coqc:
        sub = tasks[: args.coqc]
        ct: dict[bool, list[float]] = {True: [], False: []}
        for i, task in enumerate(sub):
            for confine in ((True, False) if i % 2 == 0 else (False, True)):
                r = CoqcProver(timeout_s=120, confine=confine).check(task)
                ct[confine].append(r.time_s)
        c, u = statistics.median(ct[True]), statistics.median(ct[False])
        print(f"{f'one-shot coqc, median ({len(sub)})':28}{c:>10.3f}s{u:>11.3f}s{c / u:>7.2f}x")
    print(f"verdicts agree: {len(proved) - disagree}/{len(proved)}; proved: {sum(proved)}")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
