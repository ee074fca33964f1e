"""Batched tree-search expansion vs one problem at a time, side by side on one engine.

Beam search (``beam_size`` x ``width``, ``max_steps`` steps of at most
``max_tokens`` tokens, valued by the sympy step verifier: no model calls
besides generation) over N GSM8K problems, twice on the same engine:

1. batched: every problem in flight, their generate calls merged by a
   :class:`CoalescingBackend`, so each search round is ONE engine call carrying
   every problem's whole frontier;
2. one at a time: the same search, problem after problem (each round still
   batches that problem's own beams).

Sampling makes the two runs write different texts, so throughput (completion
tokens per second) is compared, and the ratio printed. A warm-up call runs first.

    .venv/bin/python benchmarks/search_batching.py                       # embedded CPU model (gsm8k: the cache, or $LEMMAFLOW_DATA)
    .venv/bin/python benchmarks/search_batching.py --backend vllm --model Qwen/Qwen2.5-Math-1.5B-Instruct
"""

from __future__ import annotations

import argparse
import asyncio
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-problems", type=int, default=8)
    ap.add_argument("--beam-size", type=int, default=2)
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=48, help="max tokens per step")
    ap.add_argument("--backend", choices=["embedded", "vllm"], default="embedded")
    ap.add_argument("--model", help="model for --backend vllm")
    args = ap.parse_args()

    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import (ChatPrompt, CoalescingBackend, SamplingParams, VLLMBackend, VLLMConfig,
                                           make_embedded_backend)
    from lemmaflow.agents.scorers import build_scorer
    from lemmaflow.agents.search import BeamSearch, MathStepProblem
    from lemmaflow.tools.datasets import load_gsm8k

    problems = load_gsm8k(limit=args.n_problems)
    backend = make_embedded_backend(seed=0) if args.backend == "embedded" else VLLMBackend(VLLMConfig(model=args.model, seed=0))
    scorer = build_scorer({"type": "step_verifier", "judge": False, "aggregate": "min"})
    algo = BeamSearch(beam_size=args.beam_size, width=args.width, max_tokens=args.max_tokens)
    step_cfg = {"max_steps": args.max_steps, "max_tokens": args.max_tokens}

    async def one(lm, p):
        ctx = RunContext(backend=lm, problem_id=p.id)
        res = await algo.search(MathStepProblem(p.question, step_cfg, scorer=scorer), ctx)
        return ctx.ledger.total.completion_tokens, res.rounds

    async def batched():
        lm = CoalescingBackend(backend, window_s=0.005)
        outs = await asyncio.gather(*(one(lm, p) for p in problems))
        return outs, lm.stats["backend_calls"]

    async def sequential():
        outs = []
        for p in problems:
            outs.append(await one(backend, p))
        return outs, sum(r for _, r in outs)

    # Warm-up: the first steps of a fresh engine are much slower than steady state.
    asyncio.run(backend.generate([ChatPrompt.user("What is 2+2?")] * 4, SamplingParams(max_tokens=16)))

    print(f"beam search {args.beam_size}x{args.width}, {len(problems)} GSM8K problems, max_steps={args.max_steps}, "
          f"max_tokens={args.max_tokens}, model={backend.model_id}")
    rates = {}
    for label, fn in (("batched", batched), ("one-by-one", sequential)):
        t = time.perf_counter()
        outs, calls = asyncio.run(fn())
        dt = time.perf_counter() - t
        toks = sum(x for x, _ in outs)
        rounds = sum(r for _, r in outs)
        rates[label] = toks / dt
        print(f"  {label:10s} {toks:6d} tokens {dt:7.1f} s {toks / dt:7.1f} tok/s  "
              f"{rounds} problem-rounds in {calls} engine calls")
    print(f"batched / one-by-one throughput: {rates['batched'] / rates['one-by-one']:.2f}x")
    backend.close()


if __name__ == "__main__":
    main()
