"""Warm coqidetop pool vs a fresh ``coqc`` per proof, on miniF2F-Coq statements, side by side in one run.

The same tasks (statement from the dataset + a proof attempt) go through both
provers with the same parallelism; the verdicts must agree. Attempts per
problem: the hand-written proof where we have one, and the tactics a model
tries first (``intros; lra``, ``intros; lia``, ``intros; reflexivity``),
which mostly fail. Prints throughput ratios overall and split by verdict, for
the pool with its assumption memo (the default: the preloaded libraries'
proofs are walked once per session, see tools/provers/coq_memo.py) and, in the
same run, the pool with plain ``Print Assumptions`` (which walks every library
proof the proof rests on, on every check, as ``coqc`` does).

    .venv/bin/python benchmarks/coq_pool.py [--problems 20] [--parallel 2] [--profile]

``--profile`` times each step of one successful check inside a warm session
(header, statement, module, model text, Qed, the closing check, the assumption
walk) with the memo off and on.
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
    ap.add_argument("--profile", action="store_true", help="time each step of one successful check first")
    args = ap.parse_args()
    tasks = build_tasks(args.problems)
    print(f"{len(tasks)} checks on {args.problems} miniF2F-Coq (valid) statements, parallel {args.parallel}")

    if args.profile:
        profile(tasks[0])

    runs, startup = {}, {}
    for label, memo in (("pool+memo", True), ("pool, plain", False)):
        t0 = time.monotonic()
        pool = CoqProver(pool_size=args.parallel, timeout_s=120, assumption_memo=memo)
        pool.start()
        startup[label] = time.monotonic() - t0
        if memo and not pool.assumption_memo:
            print("WARNING: the memo plugin could not be built (ocaml-findlib, libcoq-core-ocaml-dev)")
        try:
            runs[label] = asyncio.run(timed(pool, tasks))
        finally:
            pool.close()
    runs["coqc"] = asyncio.run(timed(CoqcProver(timeout_s=120, max_parallel=args.parallel), tasks))
    cold, cold_wall = runs["coqc"]

    disagree = [(t.name, t.proof, *(runs[k][0][i].status for k in runs)) for i, t in enumerate(tasks)
                if len({runs[k][0][i].status for k in runs}) > 1]
    for d in disagree:
        print("  DISAGREE", d)
    print("pool start-up (once): " + ", ".join(f"{k} {v:.2f} s" for k, v in startup.items()))
    heads = list(runs)
    print(f"{'':24}" + "".join(f"{h:>13}" for h in heads) + "".join(f"{'coqc÷' + h.split(',')[0]:>15}" for h in heads[:2]))

    def row(label, values):
        return f"{label:24}" + "".join(f"{v:>12.3f}s" for v in values) + "".join(
            f"{values[-1] / v:>14.1f}x" for v in values[:2])

    print(row("wall, all checks", [runs[k][1] for k in heads]))
    for label, pick in [("proved", lambda r: r.proved), ("not proved", lambda r: not r.proved)]:
        idx = [i for i, r in enumerate(cold) if pick(r)]
        if idx:
            print(row(f"median, {label} ({len(idx)})", [statistics.median(runs[k][0][i].time_s for i in idx) for k in heads]))
    print(row("sum of check times", [sum(r.time_s for r in runs[k][0]) for k in heads]))
    print(f"verdicts agree: {len(tasks) - len(disagree)}/{len(tasks)}; proved: {sum(r.proved for r in cold)}")
    return 1 if disagree else 0


def profile(task: ProofTask) -> None:
    """Each step of one successful check, in a warm session, memo off then on (first and second walk)."""
    from lemmaflow.tools.provers.coq import CoqConfig, _Session
    from lemmaflow.tools.provers.coq_check import build_plan
    from lemmaflow.tools.provers.coq_memo import plugin_path

    print(f"profile of one successful check: {task.name}: {task.proof}")
    for memo in (False, True):
        session = _Session(CoqConfig(), plugin_path() if memo else None)
        session.start()
        ide = session.ide
        try:
            for attempt in (1, 2):
                plan = build_plan(task, assumptions_command="Lemmaflow Print Assumptions" if memo else "Print Assumptions")
                ide.edit_at(session.base)
                state, steps = session.base, []
                for s in plan.header + plan.body:
                    state = ide.add(s.text, state)
                    t = time.monotonic()
                    ok = ide.status().ok
                    steps.append((s.role if s.role != "model" else s.text.split()[0], time.monotonic() - t, ok))
                total = sum(t for _, t, _ in steps)
                merged: dict[str, float] = {}
                for role, t, _ in steps:
                    merged[role] = merged.get(role, 0.0) + t
                print(f"  memo {'on ' if memo else 'off'} check {attempt}: {total:.3f} s = " +
                      ", ".join(f"{k} {v:.3f}" for k, v in merged.items()))
        finally:
            ide.kill()


if __name__ == "__main__":
    sys.exit(main())
