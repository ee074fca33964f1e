"""Solve GSM8K problems with self-consistency from Python, on the embedded CPU model.

    .venv/bin/python examples/solve_gsm8k.py --limit 4 --n 4

Results stream to runs/gsm8k_sc.jsonl; rerunning resumes. The embedded model is tiny
(~0% on GSM8K): this shows the path, not accuracy. On a GPU, pass --model to use vLLM.
"""

import argparse
import asyncio

import lemmaflow as lf


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=192)
    ap.add_argument("--model", help="a model for in-process vLLM on a GPU (default: embedded CPU model)")
    ap.add_argument("--out", default="runs/gsm8k_sc.jsonl")
    args = ap.parse_args()

    problems = lf.load_gsm8k(limit=args.limit)  # downloaded into ~/.cache/lemmaflow/data and verified on first use
    pipe = lf.Pipeline(inputs={"question": str}, name="sc")
    pipe.add("sc", lf.SelfConsistency(n=args.n, max_tokens=args.max_tokens))
    pipe.connect("input.question", "sc.question")

    backend = lf.VLLMBackend(lf.VLLMConfig(model=args.model)) if args.model else lf.make_embedded_backend()
    try:
        with lf.AnswerChecker() as checker:
            runner = lf.BatchRunner(
                pipe, backend, checker, out_path=args.out, budget=lf.Budget(max_samples=2 * args.n),
                on_result=lambda r, s: print(f"{r.id}: answer={r.answer!r} gold={r.gold!r} correct={r.correct}"),
            )
            summary = asyncio.run(runner.run(problems))
    finally:
        backend.close()
    print(f"accuracy {summary.accuracy}, {summary.completion_tokens} completion tokens, "
          f"{summary.completion_tok_per_s:.0f} tok/s, {summary.skipped} resumed")


if __name__ == "__main__":
    main()
