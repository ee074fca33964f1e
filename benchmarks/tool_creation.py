"""Tool creation and reuse on a real model (CRAFT, arXiv 2309.17428): how many tools are made, used, demoted.

One engine for both phases. Phase 1 runs ``ToolMaker`` on solved problems (a ``lemmaflow solve``
results file or a problems file with gold answers) and counts outcomes and why replies were
rejected. Phase 2 solves problems with the ``tool_user`` pipeline on that library and counts
retrieved / shown / called / used tools and use-time failures. ``--seed-tools`` first adds a few
hand-written, tested tools, so phase 2 measures whether the model calls a tool when one fits even if
phase 1 made none. All code runs in the fork-server sandbox.

    .venv/bin/python benchmarks/tool_creation.py --from examples/problems/easy_arithmetic.jsonl \\
        --solve examples/problems/easy_arithmetic.jsonl --max-tokens 384 --seed-tools
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from lemmaflow.agents.backends import make_embedded_backend
from lemmaflow.agents.batch import BatchRunner
from lemmaflow.agents.make_tools import load_solved, make_tools, summarize
from lemmaflow.agents.nodes import ToolMaker
from lemmaflow.cli import resolve_pipeline
from lemmaflow.sandboxes import make_executor
from lemmaflow.skills_library import Entry, open_store
from lemmaflow.tools.answers import AnswerChecker
from lemmaflow.tools.datasets import load_problems_jsonl

__all__ = ["SEED_TOOLS", "main"]

SEED_TOOLS = [
    Entry(kind="tool", name="add_numbers", language="python", status="verified",
          statement="add_numbers(a: float, b: float) -> float", docstring="The sum a + b of two numbers (addition, plus, more).",
          source="def add_numbers(a: float, b: float) -> float:\n    return a + b\n", tests=["assert add_numbers(7, 5) == 12"]),
    Entry(kind="tool", name="multiply_numbers", language="python", status="verified",
          statement="multiply_numbers(a: float, b: float) -> float",
          docstring="The product a * b of two numbers (times, multiplication, cost of several items).",
          source="def multiply_numbers(a: float, b: float) -> float:\n    return a * b\n",
          tests=["assert multiply_numbers(6, 4) == 24"]),
    Entry(kind="tool", name="subtract_numbers", language="python", status="verified",
          statement="subtract_numbers(a: float, b: float) -> float",
          docstring="The difference a - b (taken away, left, fewer).",
          source="def subtract_numbers(a: float, b: float) -> float:\n    return a - b\n",
          tests=["assert subtract_numbers(20, 8) == 12"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", required=True)
    ap.add_argument("--solve", required=True, help="problems for the tool_user phase")
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--seed-tools", action="store_true")
    ap.add_argument("--library", help="default: a fresh temporary file")
    args = ap.parse_args()
    lib = args.library or str(Path(tempfile.mkdtemp()) / "lib.db")
    backend = make_embedded_backend()
    try:
        with make_executor("forkserver", pool_size=2) as ex, open_store(lib) as store, AnswerChecker() as checker:
            solved = load_solved(args.source)
            t0 = time.monotonic()
            trace: list[dict] = []
            rows = asyncio.run(make_tools(solved.problems, ToolMaker(max_tokens=args.max_tokens), backend, ex, store,
                                          trace=trace))
            reasons = Counter(e["data"]["reason"].split(";")[0].split(", found")[0].split(" line ")[0][:80]
                              for e in trace if e["kind"] == "info" and e["data"].get("event") == "tool_rejected")
            tests = [e["data"]["passed"] for e in trace if e["kind"] == "info" and e["data"].get("event") == "tool_tests"]
            print(f"phase 1 make-tools: {len(rows)} problems in {time.monotonic() - t0:.1f} s: {summarize(rows)}")
            print(f"  replies rejected: {sum(reasons.values())}; sandbox test runs: {len(tests)} ({sum(tests)} passed)")
            for why, n in reasons.most_common():
                print(f"    {n:3d}  {why}")
            made = store.count(kind="tool")
            if args.seed_tools:
                for e in SEED_TOOLS:
                    store.add(e, force=True)
            problems = load_problems_jsonl(args.solve).problems
            t0 = time.monotonic()
            runner = BatchRunner(resolve_pipeline("tool_user", {"max_tokens": args.max_tokens}), backend, checker,
                                 out_path=Path(lib).with_suffix(".use.jsonl"), executor=ex, store=store)
            summary = asyncio.run(runner.run(problems))
            out = [json.loads(x) for x in Path(lib).with_suffix(".use.jsonl").read_text().splitlines()]
            o = [r.get("outputs") or {} for r in out]
            stats = store.stats()
            print(f"phase 2 tool_user: {len(problems)} problems in {time.monotonic() - t0:.1f} s, library of "
                  f"{made} made + {len(SEED_TOOLS) if args.seed_tools else 0} seeded tools; correct {summary.correct}/{summary.graded}")
            print(f"  problems with tools shown {sum(bool(x.get('shown')) for x in o)}, importing one "
                  f"{sum(bool(x.get('referenced')) for x in o)}, calling one {sum(bool(x.get('called')) for x in o)}, "
                  f"recorded used {sum(bool(x.get('used')) for x in o)}, tool raised {sum(bool(x.get('failed')) for x in o)}, "
                  f"misused {sum(bool(x.get('misused')) for x in o)}")
            print(f"  library stats: events {stats.events}; solved using the library {stats.solved_using_library}"
                  f"/{stats.problems_solved}; by status {stats.by_status}")
    finally:
        backend.close()


if __name__ == "__main__":
    main()
