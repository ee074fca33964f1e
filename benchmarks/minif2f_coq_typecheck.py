"""Do all miniF2F-Coq statements load and type-check on this machine's Coq?

For each of the 488 problems, the warm pool checks the statement with
``Proof. Admitted.``: a statement that type-checks comes back ``failed`` with the
reason "NAME itself is assumed (Admitted ...)" (the checker ran the header, the
statement as our goal definition, the model module, the closing definition and
Print Assumptions — so it also proves that the goal definition elaborates to
the theorem's type); anything else is listed with its error.

    .venv/bin/python benchmarks/minif2f_coq_typecheck.py [--split all] [--pool 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from lemmaflow.tools.provers import acheck_many
from lemmaflow.tools.provers.coq import CoqProver
from lemmaflow.tools.provers.minif2f import load_minif2f_coq


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--split", default="all", choices=["valid", "test", "all"])
    ap.add_argument("--pool", type=int, default=2)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json")
    args = ap.parse_args()

    problems = load_minif2f_coq(args.split, limit=args.limit)
    print(f"loaded {len(problems)} statements ({args.split})")
    t0 = time.monotonic()
    with CoqProver(pool_size=args.pool, timeout_s=args.timeout) as prover:
        results = asyncio.run(acheck_many(prover, [p.admitted_task() for p in problems]))
    wall = time.monotonic() - t0
    ok, bad = [], []
    for p, r in zip(problems, results):
        if r.status == "failed" and r.reason and r.reason.startswith(f"{p.name} itself is assumed"):
            ok.append(p.name)
        else:
            err = r.messages[0].text.splitlines()[0] if r.messages else ""
            bad.append({"name": p.name, "split": p.split, "status": r.status, "reason": r.reason, "error": err})
    print(f"type-check: {len(ok)}/{len(problems)} in {wall:.1f} s (pool {args.pool})")
    for b in bad:
        print(f"  FAIL {b['split']}/{b['name']}: {b['status']}: {b['reason']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ok": ok, "bad": bad, "wall_s": wall}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
