"""ToRA with continuous batching across rounds vs the reference's round-synchronous loop.

Tool-integrated reasoning alternates generation and code execution.  Two ways
to run many problems on one engine, same prompts, sampling, stop sequences,
sandbox and problems:

1. **continuous** (ours): every problem is its own :class:`~lemmaflow.agents.nodes.ToRA`
   chain; the in-process vLLM backend batches all pending generations
   continuously, so a chain whose code just ran goes on at once, whatever the
   other chains are doing;
2. **round-synchronous** (the ToRA reference, ``tora/infer/inference.py``): for
   each round, ONE batched generate call over all unfinished chains, then all
   their code blocks executed (concurrently, like the reference's batch
   executor), then the next round.  Every chain waits for the slowest
   generation and the slowest execution of its round.

The baseline below is that loop, written over the same building blocks as
the node (prompt, ``SamplingParams``, ``TIR_STOPS``, output formatting, the
per-step rules for code, non-code fences, answers and lengths), so the two
runs differ only in scheduling.  Greedy decoding (temperature 0), so both runs
write (nearly) the same chains; the table shows their rounds and tokens to
prove equal work.  Runs alternate (continuous, sync, sync, continuous, ...:
the first big run after start-up is slower, whichever it is) after a warm-up,
on a fresh set of sessions each.  By default each question
ends with a request for a python block (``CODE_HINT``): the embedded 135M
model writes code only when asked, and a run without code rounds measures
nothing of tool-integrated reasoning.

    .venv/bin/python benchmarks/tora_batching.py                 # embedded CPU model, 8 GSM8K problems
    .venv/bin/python benchmarks/tora_batching.py --n-problems 16 --max-tokens 96 --repeats 2
    .venv/bin/python benchmarks/tora_batching.py --backend vllm --model Qwen/Qwen2.5-Math-1.5B-Instruct

Data: GSM8K through ``lemmaflow.tools.datasets`` ($LEMMAFLOW_DATA or the data dir).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class _Chain:
    """One problem's state in the round-synchronous loop."""

    question: str
    session: object
    chain: str = ""
    executions: int = 0
    failures: int = 0
    tokens: int = 0
    finish: str | None = None
    code: str | None = None
    steps: int = 0
    history: list = field(default_factory=list)


async def round_synchronous(backend, executor, questions: list[str], cfg) -> list[dict]:
    """The ToRA reference's loop: all chains generate, then all execute, then all continue."""
    from lemmaflow.agents.backends import ChatPrompt, SamplingParams
    from lemmaflow.agents.nodes.tora import _BOXED, TIR_STOPS
    from lemmaflow.sandboxes import Job
    from lemmaflow.tools.interpreter import format_output, last_code_block

    params = SamplingParams(n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                            stop=TIR_STOPS, include_stop_str_in_output=True)
    chains = [_Chain(q, executor.session()) for q in questions]
    bases = {id(c): ChatPrompt.user(c.question, system=cfg.system) for c in chains}
    try:
        for _step in range(2 * cfg.max_rounds + 1):
            remain = [c for c in chains if c.finish is None]
            if not remain:
                break
            gens = await backend.generate([bases[id(c)].continued(c.chain) for c in remain], params)
            to_run = []
            for c, gen in zip(remain, gens):  # the node's per-step rules, verbatim
                comp = gen.completions[0]
                c.tokens += comp.completion_tokens
                text = comp.text
                if text.endswith("```output"):
                    text = text[: -len("```output")]
                    if last_code_block(text, require_closed=True) is None and last_code_block(text) is not None:
                        text = text.rstrip("\n") + "\n```\n"
                c.chain += text
                code = last_code_block(text, require_closed=True)
                if code is None:
                    if comp.finish_reason == "length":
                        c.finish = "length"
                    elif comp.stop_reason == "\n```\n" and not _BOXED.search(text):
                        pass  # a non-python fence closed; the chain goes on next round
                    else:
                        c.finish = "answer" if _BOXED.search(text) else "no_code"
                    continue
                if c.executions >= cfg.max_rounds:
                    c.finish = "max_rounds"
                    continue
                to_run.append((c, code))
            # All of this round's blocks, concurrently (the reference's batch executor).
            results = await asyncio.gather(*(c.session.arun(Job(code=code, timeout_s=cfg.timeout_s))
                                             for c, code in to_run))
            for (c, _code), res in zip(to_run, results):
                shown = format_output(res, max_chars=cfg.output_max_chars)
                c.executions += 1
                if not c.chain.endswith("\n"):
                    c.chain += "\n"
                c.chain += f"```output\n{shown}\n```\n"
                if not res.ok:
                    c.failures += 1
                    if cfg.max_corrections is not None and c.failures > cfg.max_corrections:
                        c.finish = "corrections"
        for c in chains:
            c.finish = c.finish or "max_rounds"
    finally:
        for c in chains:
            c.session.close()
    return [{"rounds": c.executions, "tokens": c.tokens, "finish": c.finish, "chain": c.chain} for c in chains]


async def continuous(backend, executor, questions: list[str], node) -> list[dict]:
    """Ours: one ToRA node run per problem, all in flight on the shared engine."""
    from lemmaflow.agents import RunContext

    async def one(i: int, q: str) -> dict:
        ctx = RunContext(backend=backend, executor=executor, problem_id=f"p{i}")
        out = await node(ctx, question=q)
        return {"rounds": out.rounds, "tokens": ctx.ledger.total.completion_tokens, "finish": out.finish,
                "chain": out.chain}

    return list(await asyncio.gather(*(one(i, q) for i, q in enumerate(questions))))


#: Appended to every question (both runs) unless ``--prompt plain``: the embedded
#: 135M model never writes code from the system prompt alone (it reasons in
#: prose until the token limit), but does when the question asks for code.
CODE_HINT = "\n\nWrite Python code in a ```python block to compute the answer."


def _count_engine_steps(backend) -> list[int]:
    """Count the in-process engine's decoding steps (a list, so the caller sees it grow)."""
    count = [0]
    engine = getattr(backend, "_engine", None)
    if engine is not None:
        step = engine.step

        def counted():
            count[0] += 1
            return step()

        engine.step = counted
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-problems", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128, help="new tokens per generation step")
    ap.add_argument("--max-rounds", type=int, default=3, help="code executions per chain")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each mode")
    ap.add_argument("--backend", choices=["embedded", "vllm"], default="embedded")
    ap.add_argument("--model", help="model for --backend vllm")
    ap.add_argument("--sandbox", default="forkserver", help="sandbox backend for the code blocks")
    ap.add_argument("--prompt", choices=["code", "plain"], default="code",
                    help="code: each question ends asking for a python block (see CODE_HINT); plain: as is")
    args = ap.parse_args()

    from lemmaflow.agents.backends import ChatPrompt, SamplingParams, VLLMBackend, VLLMConfig, make_embedded_backend
    from lemmaflow.agents.nodes import ToRA
    from lemmaflow.sandboxes import make_executor
    from lemmaflow.tools.datasets import load_gsm8k

    problems = load_gsm8k(limit=args.n_problems)
    questions = [p.question + (CODE_HINT if args.prompt == "code" else "") for p in problems]
    node = ToRA(max_rounds=args.max_rounds, max_tokens=args.max_tokens, temperature=0.0)
    backend = make_embedded_backend(seed=0) if args.backend == "embedded" else VLLMBackend(VLLMConfig(model=args.model, seed=0))
    executor = make_executor(args.sandbox, pool_size=2)
    executor.start()
    try:
        # Warm-up: the first steps of a fresh engine are much slower than steady state.
        asyncio.run(backend.generate([ChatPrompt.user("What is 2+2?")] * 4, SamplingParams(max_tokens=16)))
        print(f"ToRA on {len(questions)} GSM8K problems, max_rounds={args.max_rounds}, max_tokens={args.max_tokens}, "
              f"greedy, {args.prompt} prompt, model={backend.model_id}, sandbox={args.sandbox}")
        steps = _count_engine_steps(backend)
        runs: dict[str, list[tuple[float, list[dict]]]] = {"continuous": [], "round-sync": []}
        for rep in range(args.repeats):
            # The first big run after start-up is slower whatever it is: alternate who goes first.
            for label in (list(runs) if rep % 2 == 0 else list(runs)[::-1]):
                t, s0 = time.perf_counter(), steps[0]
                if label == "continuous":
                    outs = asyncio.run(continuous(backend, executor, questions, node))
                else:
                    outs = asyncio.run(round_synchronous(backend, executor, questions, node.config))
                runs[label].append((time.perf_counter() - t, outs))
                print(f"    {label:11s} run: {runs[label][-1][0]:6.1f} s, {steps[0] - s0} engine steps", flush=True)
        rate = {}
        for label, rs in runs.items():
            secs = [dt for dt, _ in rs]
            outs = rs[-1][1]
            rate[label] = len(questions) * len(rs) / sum(secs)
            finishes: dict[str, int] = {}
            for o in outs:
                finishes[o["finish"]] = finishes.get(o["finish"], 0) + 1
            print(f"  {label:11s} {sum(secs) / len(secs):7.1f} s/run  {rate[label]:6.3f} problems/s  "
                  f"code rounds {sum(o['rounds'] for o in outs):3d}  tokens {sum(o['tokens'] for o in outs):5d}  "
                  f"finish {finishes}")
        same = sum(a["chain"] == b["chain"] for a, b in zip(runs["continuous"][-1][1], runs["round-sync"][-1][1]))
        print(f"  identical chains in the last runs: {same}/{len(questions)}")
        print(f"continuous / round-synchronous problems per second: {rate['continuous'] / rate['round-sync']:.2f}x")
    finally:
        executor.close()
        backend.close()


if __name__ == "__main__":
    main()
