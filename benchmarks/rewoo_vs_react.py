"""Token use of ReWOO (arXiv 2305.18323) against ReAct (arXiv 2210.03629) on the same problems, side by side.

Run: ``.venv/bin/python benchmarks/rewoo_vs_react.py`` (both parts; ``--skip-embedded`` for the
simulated part only). Two parts, each printing ReAct / ReWOO ratios measured in the same run:

1. **Simulated (structure only).** A scripted model that follows each format exactly solves the
   same k-step chain (k = 1, 2, 4, 6 sympy calls, real sandboxed tools) both ways. ReWOO: one
   planner and one solver call whatever k; ReAct: k + 1 calls, each re-reading the growing
   transcript. Tokens are the scripted model's whitespace tokens: this shows the structural
   saving, never model quality.
2. **Embedded model.** ``--n-problems`` GSM8K test items (the registry's ``gsm8k``) through the
   built-in ``rewoo`` and ``react`` pipelines (``BatchRunner``, the embedded SmolLM2-135M, the
   fork-server sandbox, ``--max-tokens``), real token counts from the engine. The tiny model
   mostly cannot follow either format (0% accuracy is expected); the figures are what each
   protocol cost on identical problems, including failed plans.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ReAct, ReWOO

QUESTION = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for "
            "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per "
            "fresh duck egg. How much in dollars does she make every day at the farmers' market?")


def _inputs(k: int) -> list[str]:
    """The sympy input of step i (1-based); step i uses step i-1's result."""
    return ["16 - 3"] + [f"#E{i - 1} + {i}" for i in range(2, k + 1)]


def simulated_lm(k: int) -> ScriptedLM:
    """A model that writes a k-step ReWOO plan / a k-action ReAct trace with the same thoughts and inputs."""
    inputs = _inputs(k)

    def reply(prompt: str, i: int) -> str:
        if "make plans" in prompt:
            return "\n".join(f"Plan: Step {j + 1}: work out the next quantity from the last one.\n#E{j + 1} = Sympy[{x}]"
                             for j, x in enumerate(inputs))
        if "Now solve the task" in prompt:
            return "The last evidence is the amount she makes. \\boxed{done}"
        # ReAct: the observations in the model's own message so far tell which step this is.
        own = prompt.rsplit("<assistant>", 1)[-1]
        obs = [ln.split("Observation: ", 1)[1] for ln in own.splitlines() if ln.startswith("Observation: ")]
        done = len(obs)
        if done >= k:
            return "Thought: I now know the answer.\nFinal Answer: \\boxed{done}"
        x = inputs[done]
        if done:
            x = x.replace(f"#E{done}", obs[-1].strip())
        return f"Thought: Step {done + 1}: work out the next quantity from the last one.\nAction: Sympy[{x}]\n"
    return ScriptedLM(reply)


async def _one(node, k: int, executor) -> dict:
    lm = simulated_lm(k)
    ctx = RunContext(backend=lm, executor=executor)
    out = await node(ctx, question=QUESTION)
    steps = len(getattr(out, "steps", None) or getattr(out, "actions", None) or [])
    t = ctx.ledger.total
    return {"calls": t.llm_calls, "prompt": t.prompt_tokens, "completion": t.completion_tokens,
            "total": t.total_tokens, "tools": steps}


def simulated(executor) -> list[dict]:
    rows = []
    print("== simulated (scripted model, whitespace tokens, same k sympy steps both ways) ==")
    print(f"{'k':>2} {'ReWOO calls':>11} {'ReWOO tok':>9} {'ReAct calls':>11} {'ReAct tok':>9} {'ReAct/ReWOO':>11}")
    for k in (1, 2, 4, 6):
        rw = asyncio.run(_one(ReWOO(), k, executor))
        ra = asyncio.run(_one(ReAct(max_steps=k + 1), k, executor))
        assert rw["tools"] == ra["tools"] == k, (rw, ra)
        ratio = ra["total"] / rw["total"]
        rows.append({"k": k, "rewoo": rw, "react": ra, "ratio": ratio})
        print(f"{k:>2} {rw['calls']:>11} {rw['total']:>9} {ra['calls']:>11} {ra['total']:>9} {ratio:>11.2f}")
    return rows


def embedded(n: int, max_tokens: int, executor, data_dir: str | None = None) -> dict:
    from lemmaflow.agents.backends import make_embedded_backend
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.answers import AnswerChecker
    from lemmaflow.tools.datasets import load_gsm8k

    problems = load_gsm8k(data_dir=data_dir, limit=n)
    backend = make_embedded_backend(seed=0, engine_args={"use_tqdm_on_load": False})
    res: dict[str, dict] = {}
    try:
        with AnswerChecker() as checker, tempfile.TemporaryDirectory() as tmp:
            for name in ("rewoo", "react"):
                pipe = resolve_pipeline(name, {"n": None, "temperature": None, "max_tokens": max_tokens})
                out = Path(tmp) / f"{name}.jsonl"
                t0 = time.monotonic()
                asyncio.run(BatchRunner(pipe, backend, checker, out_path=out, executor=executor).run(problems))
                wall = time.monotonic() - t0
                rows = [json.loads(x) for x in out.read_text().splitlines()]
                tot = [r["usage"].get("total", {}) for r in rows]
                res[name] = {
                    "problems": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
                    "errors": sum(r["status"] == "error" for r in rows),
                    "correct": sum(bool(r.get("correct")) for r in rows),
                    "calls": sum(t.get("llm_calls", 0) for t in tot),
                    "prompt": sum(t.get("prompt_tokens", 0) for t in tot),
                    "completion": sum(t.get("completion_tokens", 0) for t in tot), "wall_s": round(wall, 1),
                    "tools": sum(len(r["outputs"].get("steps") or r["outputs"].get("actions") or []) for r in rows),
                    "finish": [r["outputs"].get("finish") or (r["error"] or "")[:40] for r in rows],
                }
    finally:
        backend.close()
    rw, ra = res["rewoo"], res["react"]
    print(f"\n== embedded SmolLM2-135M, {n} GSM8K test problems, max_tokens {max_tokens} ==")
    print(f"{'':8} {'ok':>3} {'err':>3} {'right':>5} {'calls':>5} {'tools':>5} {'prompt':>7} {'compl':>6} {'total':>7} {'wall s':>6}")
    for name, r in res.items():
        print(f"{name:8} {r['ok']:>3} {r['errors']:>3} {r['correct']:>5} {r['calls']:>5} {r['tools']:>5} "
              f"{r['prompt']:>7} {r['completion']:>6} {r['prompt'] + r['completion']:>7} {r['wall_s']:>6}")
    ratio = (ra["prompt"] + ra["completion"]) / max(1, rw["prompt"] + rw["completion"])
    def per_tool(r):
        return f"{(r['prompt'] + r['completion']) / r['tools']:.0f}" if r["tools"] else "n/a (no tool ran)"
    print(f"ReAct/ReWOO total tokens: {ratio:.2f}  (prompt {ra['prompt'] / max(1, rw['prompt']):.2f}, "
          f"completion {ra['completion'] / max(1, rw['completion']):.2f}; tokens per tool call: "
          f"ReAct {per_tool(ra)}, ReWOO {per_tool(rw)})")
    print("react finishes:", res["react"]["finish"])
    print("rewoo finishes:", res["rewoo"]["finish"])
    return {"results": res, "ratio": ratio}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-problems", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--skip-embedded", action="store_true")
    ap.add_argument("--data-dir", help="an offline copy of the datasets (default: $LEMMAFLOW_DATA, else the cache)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    from lemmaflow.engine_logs import quiet_engine_logs

    quiet_engine_logs(False)
    from lemmaflow.sandboxes import make_executor

    with make_executor("forkserver", pool_size=2) as executor:
        figures = {"simulated": simulated(executor)}
        if not args.skip_embedded:
            figures["embedded"] = embedded(args.n_problems, args.max_tokens, executor, args.data_dir)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
