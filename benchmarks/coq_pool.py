"""Warm coqidetop pool vs a fresh ``coqc`` per proof, on miniF2F-Coq statements, side by side in one run.

The same tasks (statement from the dataset + a proof attempt) go through both
provers with the same parallelism; the verdicts must agree. Attempts per
problem: the hand-written proof where we have one, and the tactics a model
tries first (``intros; lra``, ``intros; lia``, ``intros; reflexivity``),
which mostly fail. Prints throughput ratios overall and split by verdict:
a proved check pays for ``Print Assumptions`` walking every library proof the
proof rests on, identical work in both modes; a failed attempt stops early.

    .venv/bin/python benchmarks/coq_pool.py [--problems 20] [--parallel 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from lemmaflow.tools.provers import ProofTask, acheck_many
from lemmaflow.tools.provers.coq import CoqProver
from lemmaflow.tools.provers.coqc import CoqcProver
from lemmaflow.tools.provers.minif2f import load_minif2f_coq

HAND = {
    "mathd_algebra_109": "Proof. intros. lra. Qed.",
    "mathd_algebra_119": "Proof. intros d e h0 h1. lra. Qed.",
    "mathd_algebra_123": "Proof. lia. Qed.",
    "mathd_algebra_104": "Proof. lra. Qed.",
    "mathd_numbertheory_102": "Proof. reflexivity. Qed.",
    "mathd_numbertheory_101": "Proof. reflexivity. Qed.",
}
ATTEMPTS = ["Proof. intros. lra. Qed.", "Proof. intros. lia. Qed.", "Proof. intros. reflexivity. Qed."]


def build_tasks(n: int) -> list[ProofTask]:
    problems = {p.name: p for p in load_minif2f_coq("valid")}
    names = list(HAND) + [k for k in sorted(problems) if k.startswith("mathd_") and k not in HAND][: max(0, n - len(HAND))]
    tasks = []
    for name in names[:n]:
        p = problems[name]
        if name in HAND:
            tasks.append(p.task(HAND[name]))
        tasks += [p.task(a) for a in ATTEMPTS]
    return tasks


async def timed(prover, tasks):
    t0 = time.monotonic()
    results = await acheck_many(prover, tasks)
    return results, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=2)
    args = ap.parse_args()
    tasks = build_tasks(args.problems)
    print(f"{len(tasks)} checks on {args.problems} miniF2F-Coq (valid) statements, parallel {args.parallel}")

    t0 = time.monotonic()
    pool = CoqProver(pool_size=args.parallel, timeout_s=120)
    pool.start()
    startup = time.monotonic() - t0
    try:
        warm, warm_wall = asyncio.run(timed(pool, tasks))
    finally:
        pool.close()
    cold, cold_wall = asyncio.run(timed(CoqcProver(timeout_s=120, max_parallel=args.parallel), tasks))

    disagree = [(t.name, t.proof, a.status, b.status) for t, a, b in zip(tasks, warm, cold) if a.status != b.status]
    for d in disagree:
        print("  DISAGREE", d)
    print(f"pool start-up (once): {startup:.2f} s")
    print(f"{'':22}{'warm pool':>12}{'coqc':>12}{'ratio':>8}")
    print(f"{'wall, all checks':22}{warm_wall:>11.2f}s{cold_wall:>11.2f}s{cold_wall / warm_wall:>7.1f}x")
    for label, pick in [("proved", lambda r: r.proved), ("not proved", lambda r: not r.proved)]:
        idx = [i for i, r in enumerate(cold) if pick(r)]
        if not idx:
            continue
        w = statistics.median(warm[i].time_s for i in idx)
        c = statistics.median(cold[i].time_s for i in idx)
        print(f"{'median, ' + label + f' ({len(idx)})':22}{w:>11.3f}s{c:>11.3f}s{c / w:>7.1f}x")
    w_all = sum(r.time_s for r in warm)
    c_all = sum(r.time_s for r in cold)
    print(f"{'sum of check times':22}{w_all:>11.2f}s{c_all:>11.2f}s{c_all / w_all:>7.1f}x")
    print(f"verdicts agree: {len(tasks) - len(disagree)}/{len(tasks)}; proved: {sum(r.proved for r in warm)}")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
