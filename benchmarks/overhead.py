"""Orchestration overhead and cross-problem batching, measured side by side in one run.

For N GSM8K problems and SC@k it times, on one engine:

1. raw: ``vllm.LLM.generate`` on the identical rendered prompts and sampling params
   (the best a hand-written script can do);
2. lemmaflow: the ``sc`` pipeline through :class:`BatchRunner` (all problems in flight);
3. one at a time: the same pipeline with ``concurrency=1`` on the first M problems;
4. single stream: one sequence at a time (n=1), for scale.

Sampling makes chains differ in length, so throughput (completion tokens per
second) is compared, not wall time. Raw and lemmaflow alternate ``--repeats``
times and the median ratio is printed. Goals: lemmaflow/raw >= 0.95;
batched/one-at-a-time >= 4x at N=32.

    .venv/bin/python benchmarks/overhead.py                      # embedded CPU model
    .venv/bin/python benchmarks/overhead.py --backend vllm --model Qwen/Qwen2.5-Math-1.5B-Instruct
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-problems", type=int, default=32)
    ap.add_argument("--k", type=int, default=8, help="samples per problem (SC@k)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--sequential-problems", type=int, default=4, help="M problems for the one-at-a-time run")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--backend", choices=["embedded", "vllm"], default="embedded")
    ap.add_argument("--model", help="model for --backend vllm")
    args = ap.parse_args()

    from lemmaflow.agents.backends import SamplingParams, VLLMBackend, VLLMConfig, make_embedded_backend
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.agents.nodes.prompts import build_prompt
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.answers import AnswerChecker
    from lemmaflow.tools.datasets import load_gsm8k

    problems = load_gsm8k(limit=args.n_problems)
    if args.backend == "embedded":
        backend = make_embedded_backend(seed=0)
    else:
        backend = VLLMBackend(VLLMConfig(model=args.model, seed=0))
    pipe = resolve_pipeline("sc", {"n": args.k, "max_tokens": args.max_tokens})
    node = pipe.graph.nodes["sc"]["node"]
    c = node.config
    params = SamplingParams(n=args.k, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens)
    rendered = [backend.render(build_prompt(c.prompt, p.question, c.system, c.chat)) for p in problems]
    llm = backend._llm  # the very engine lemmaflow drives
    vparams = backend.to_vllm_params(params)

    # Warm-up: the first steps of a fresh engine are much slower than steady state.
    llm.generate(rendered[:4], vparams, use_tqdm=False)

    def raw() -> float:
        t = time.perf_counter()
        outs = llm.generate(rendered, vparams, use_tqdm=False)
        dt = time.perf_counter() - t
        toks = sum(len(o.token_ids) for r in outs for o in r.outputs)
        print(f"  raw        {toks:7d} tokens {dt:7.1f} s {toks / dt:7.1f} tok/s")
        return toks / dt

    def flow(probs, concurrency: int, label: str) -> float:
        with tempfile.TemporaryDirectory() as d, AnswerChecker() as checker:
            runner = BatchRunner(pipe, backend, checker, out_path=Path(d) / "r.jsonl", concurrency=concurrency)
            t = time.perf_counter()
            s = asyncio.run(runner.run(probs))
            dt = time.perf_counter() - t
        print(f"  {label:10s} {s.completion_tokens:7d} tokens {dt:7.1f} s {s.completion_tokens / dt:7.1f} tok/s")
        return s.completion_tokens / dt

    print(f"SC@{args.k}, {len(problems)} GSM8K problems, max_tokens={args.max_tokens}, model={backend.model_id}")
    ratios, flows = [], []
    for i in range(args.repeats):
        print(f"round {i + 1}/{args.repeats}")
        r = raw()
        f = flow(problems, 256, "lemmaflow")
        ratios.append(f / r)
        flows.append(f)
    seq = flow(problems[: args.sequential_problems], 1, "one-by-one")
    # Single stream: one sequence at a time, no batching at all.
    single = backend.to_vllm_params(SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens))
    t, toks = time.perf_counter(), 0
    for prompt in rendered[:3]:
        toks += sum(len(o.token_ids) for o in llm.generate([prompt], single, use_tqdm=False)[0].outputs)
    stream = toks / (time.perf_counter() - t)
    print(f"  single     {toks:7d} tokens {time.perf_counter() - t:7.1f} s {stream:7.1f} tok/s")
    backend.close()
    print()
    print(f"throughput ratio lemmaflow/raw (median of {args.repeats}): {statistics.median(ratios):.3f}  "
          f"(each: {', '.join(f'{x:.3f}' for x in ratios)}; goal >= 0.95)")
    print(f"cross-problem batching speedup vs one problem at a time: {statistics.median(flows) / seq:.2f}x  (goal >= 4x)")
    print(f"batched lemmaflow vs single stream (one sequence at a time): {statistics.median(flows) / stream:.2f}x")


if __name__ == "__main__":
    main()
