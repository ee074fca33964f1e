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
on a fresh set of sessions each.  By default (``--prompt fewshot``) the node gets
``FEW_SHOT_SYSTEM`` and three worked examples as chat turns (``ToRA.Config.examples``):
without them the embedded 135M model seldom closes a code block, and a run
without code rounds measures nothing of tool-integrated reasoning.

``--engine sim`` is a scheduler measure, never a model result: both loops run
over :class:`~lemmaflow.agents.backends.SteppedLM`, an engine double that steps
like a continuous-batching engine (one token per running sequence per step, a
step costing ``--step-ms`` plus, for ``--cost cpu``, a per-sequence part
scaled from the CPU engine's measured fit), serving scripted chains whose
rounds and tokens per generation are drawn from a seeded distribution (the
same in both arms); every code block runs in the real sandbox.

    .venv/bin/python benchmarks/tora_batching.py                 # embedded CPU model, 8 GSM8K problems
    .venv/bin/python benchmarks/tora_batching.py --n-problems 32 --max-tokens 96 --max-rounds 4 --repeats 3
    .venv/bin/python benchmarks/tora_batching.py --backend vllm --model Qwen/Qwen2.5-Math-1.5B-Instruct --prompt plain
    .venv/bin/python benchmarks/tora_batching.py --engine sim --n-problems 64 --max-tokens 512   # gpu and cpu cost models
    .venv/bin/python benchmarks/tora_batching.py --n-problems 32 --max-tokens 96 --max-rounds 4 --record shapes.json
    .venv/bin/python benchmarks/tora_batching.py --engine sim --replay shapes.json --max-tokens 512  # the real run's chains

Data: GSM8K through ``lemmaflow.tools.datasets`` ($LEMMAFLOW_DATA or the data dir).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
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
    gens: list = field(default_factory=list)  # completion tokens of each generation


async def round_synchronous(backend, executor, questions: list[str], node) -> list[dict]:
    """The ToRA reference's loop: all chains generate, then all execute, then all continue."""
    from lemmaflow.agents.backends import SamplingParams
    from lemmaflow.agents.nodes.tora import _BOXED, TIR_STOPS
    from lemmaflow.sandboxes import Job
    from lemmaflow.tools.interpreter import format_output, last_code_block

    cfg = node.config
    params = SamplingParams(n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                            stop=TIR_STOPS, include_stop_str_in_output=True)
    chains = [_Chain(q, executor.session()) for q in questions]
    bases = {id(c): node.prompt(c.question) for c in chains}  # the node's own prompt (system, few-shot)
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
                c.gens.append(comp.completion_tokens)
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
    return [{"rounds": c.executions, "tokens": c.tokens, "finish": c.finish, "chain": c.chain, "gens": c.gens}
            for c in chains]


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


#: ``--prompt fewshot`` (the default): short steps, each one line of text and a
#: short closed block, shown as three worked examples in earlier chat turns
#: (``ToRA.Config.examples``).  Without them the 135M model rarely closes a
#: code block (13 of 16 chains of the ``code`` prompt ran into the token limit
#: in their first generation), so chains had no rounds to overlap.
FEW_SHOT_SYSTEM = ("Solve the problem in short steps. Each step is one line of text and a short ```python block; "
                   "you will see its result in an ```output block. End with \\boxed{answer}.")
FEW_SHOT = [
    ("Ann has 3 bags with 4 apples each. She eats 2 apples. How many apples are left?",
     "Apples in the bags:\n```python\na = 3 * 4\nprint(a)\n```\n```output\n12\n```\n"
     "After eating 2:\n```python\nprint(a - 2)\n```\n```output\n10\n```\nThe answer is \\boxed{10}."),
    ("A pen costs $2 and a book costs $5. Tom buys 3 pens and 2 books. How much does he pay?",
     "Cost of the pens:\n```python\npens = 3 * 2\nprint(pens)\n```\n```output\n6\n```\n"
     "Cost of the books:\n```python\nbooks = 2 * 5\nprint(books)\n```\n```output\n10\n```\n"
     "Total:\n```python\nprint(pens + books)\n```\n```output\n16\n```\nThe answer is \\boxed{16}."),
    ("A train travels 60 km per hour for 3 hours, then 40 km per hour for 2 hours. How far does it travel?",
     "First part:\n```python\nd1 = 60 * 3\nprint(d1)\n```\n```output\n180\n```\n"
     "Second part:\n```python\nd2 = 40 * 2\nprint(d2)\n```\n```output\n80\n```\n"
     "Total distance:\n```python\nprint(d1 + d2)\n```\n```output\n260\n```\nThe answer is \\boxed{260}."),
]


def _count_engine_steps(backend) -> list:
    """Record the in-process engine's decoding steps as (sequences in flight, seconds).

    A list, so the caller sees it grow; the records give the engine's step-cost
    model (``--engine sim --cost cpu`` replays a fit of it).
    """
    steps: list[tuple[int, float]] = []
    engine = getattr(backend, "_engine", None)
    if engine is not None:
        step = engine.step

        def counted():
            n, t = len(backend._pending), time.perf_counter()
            out = step()
            steps.append((n, time.perf_counter() - t))
            return out

        engine.step = counted
    return steps


def _fit_step_cost(steps: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``seconds = a + b * sequences`` over recorded steps."""
    n = len(steps)
    if n < 2:
        return (0.0, 0.0)
    mx = sum(k for k, _ in steps) / n
    my = sum(t for _, t in steps) / n
    var = sum((k - mx) ** 2 for k, _ in steps)
    b = sum((k - mx) * (t - my) for k, t in steps) / var if var else 0.0
    return (my - b * mx, b)


# -- simulation: an engine double serving scripted chains (never a model result) --------------

#: ``--cost cpu`` per-sequence step cost, as a fraction of the base step cost: the
#: fit over the embedded CPU engine's steps (64.9 ms + 8.9 ms per sequence in flight
#: over 672 steps of 32 few-shot chains, 2026-12-03; every real-engine run of this
#: benchmark prints its own fit).
CPU_PER_SEQ_FRACTION = 8.9 / 64.9


@dataclass
class ChainPlan:
    """One scripted chain: tokens of each generation; all but the last end in a code block."""

    gen_tokens: list[int]
    loop_n: int  # size of the sum each block computes (a few ms in the sandbox)

    @property
    def rounds(self) -> int:
        return len(self.gen_tokens) - 1


def plan_chain(question: str, seed: int, round_weights: list[float], median_tokens: float, sigma: float,
               max_tokens: int) -> ChainPlan:
    """Draw a chain's shape from a seeded RNG keyed by the question (the same in both arms)."""
    import math
    import random

    rng = random.Random(f"{seed}|{question}")
    rounds = rng.choices(range(len(round_weights)), weights=round_weights)[0]
    draw = lambda: max(12, min(max_tokens, round(rng.lognormvariate(math.log(median_tokens), sigma))))  # noqa: E731
    final = max(4, draw() // 4)  # the answer step is short
    return ChainPlan([draw() for _ in range(rounds)] + [final], rng.randint(20_000, 200_000))


def replayed_plans(path: str, seed: int) -> list[ChainPlan]:
    """Chain shapes recorded by a real-engine run (``--record``): its code rounds and generation lengths.

    A chain of r rounds replays its first r generations as code generations and the
    rest (answer, prose up to the token limit, non-code fences) as one final one.
    """
    import json
    import random

    rng = random.Random(seed)
    plans = []
    for rec in json.loads(open(path, encoding="utf-8").read()):
        gens, r = [max(12, g) for g in rec["gens"]], rec["rounds"]
        plans.append(ChainPlan(gens[:r] + [max(4, sum(gens[r:]))], rng.randint(20_000, 200_000)))
    return plans


def scripted_tora(plans: dict[str, ChainPlan]):
    """A ScriptedLM script writing each chain's next generation from its plan.

    The chain's progress is read from the prompt (the ```output blocks already in
    the model's own message), exactly as a real model would see it.
    """
    def words(n: int) -> str:
        return " ".join(f"w{j}" for j in range(max(1, n)))

    def script(prompt: str, i: int) -> str:
        head, prefix = prompt.rsplit("<assistant>", 1)
        plan = plans[head.rsplit("<user>", 1)[1]]
        k = prefix.count("```output\n")
        n = plan.gen_tokens[min(k, plan.rounds)]
        if k < plan.rounds:
            code = f"print(sum(i * i for i in range({plan.loop_n + k})))"  # 7 whitespace tokens
            return f"{words(n - 9)}\n```python\n{code}\n```\nnever seen: the stop ends the generation"
        return f"{words(n - 3)} the answer: \\boxed{{{plan.loop_n % 97}}}"  # n whitespace tokens

    return script


def run_simulation(args) -> None:
    from lemmaflow.agents.backends import SteppedLM
    from lemmaflow.agents.nodes import ToRA
    from lemmaflow.sandboxes import make_executor

    weights = [float(x) for x in args.round_weights.split(",")]
    if args.replay:
        recorded = replayed_plans(args.replay, args.seed)
        questions = [f"Simulated problem {i}." for i in range(len(recorded))]
        plans = dict(zip(questions, recorded))
        weights = [0.0] * (1 + max(p.rounds for p in recorded))
    else:
        questions = [f"Simulated problem {i}." for i in range(args.n_problems)]
        plans = {q: plan_chain(q, args.seed, weights, args.median_tokens, args.sigma, args.max_tokens)
                 for q in questions}
    step_s = args.step_ms / 1e3
    costs = {"gpu": 0.0, "cpu": CPU_PER_SEQ_FRACTION * step_s}
    max_rounds = max(1, len(weights))
    node = ToRA(max_rounds=max_rounds, max_tokens=args.max_tokens, temperature=0.0)
    gens = [t for p in plans.values() for t in p.gen_tokens]
    rounds = Counter(p.rounds for p in plans.values())
    print(f"SIMULATION (engine double, scripted chains; not a model result): {len(questions)} chains, "
          f"rounds per chain {dict(sorted(rounds.items()))}, {len(gens)} generations, tokens per generation "
          f"median {sorted(gens)[len(gens) // 2]} max {max(gens)}, total {sum(gens)}; code blocks run in the "
          f"{args.sandbox} sandbox; " + (f"lengths replayed from {args.replay}" if args.replay else f"seed {args.seed}"))
    executor = make_executor(args.sandbox, pool_size=2)
    executor.start()
    try:
        for cost in args.cost:
            per_seq = costs[cost] if args.per_seq_ms is None else args.per_seq_ms / 1e3
            print(f"  cost model {cost}: step = {step_s * 1e3:.1f} ms + {per_seq * 1e3:.2f} ms per sequence "
                  f"(max_num_seqs {args.max_num_seqs})")
            runs: dict[str, list[tuple[float, list[dict], object]]] = {"continuous": [], "round-sync": []}
            for rep in range(args.repeats):
                for label in (list(runs) if rep % 2 == 0 else list(runs)[::-1]):
                    lm = SteppedLM(scripted_tora(plans), step_s=step_s, per_seq_s=per_seq,
                                   max_num_seqs=args.max_num_seqs, model_id=f"stepped-{cost}")
                    t = time.perf_counter()
                    if label == "continuous":
                        outs = asyncio.run(continuous(lm, executor, questions, node))
                    else:
                        outs = asyncio.run(round_synchronous(lm, executor, questions, node))
                    runs[label].append((time.perf_counter() - t, outs, lm.stats))
            rate = {}
            for label, rs in runs.items():
                secs = [dt for dt, _, _ in rs]
                _, outs, st = rs[-1]
                rate[label] = len(questions) * len(rs) / sum(secs)
                bad = sum(o["rounds"] != plans[q].rounds or o["finish"] != "answer" for o, q in zip(outs, questions))
                print(f"    {label:11s} {', '.join(f'{x:.2f}' for x in secs)} s  {rate[label]:7.2f} problems/s  "
                      f"steps {st.steps}  mean batch {st.mean_batch:5.1f}  engine busy {st.busy_s:5.1f} s  "
                      f"code rounds {sum(o['rounds'] for o in outs)}  tokens {sum(o['tokens'] for o in outs)}"
                      + (f"  CHAINS OFF PLAN: {bad}" if bad else ""))
            print(f"    continuous / round-synchronous ({cost}): {rate['continuous'] / rate['round-sync']:.2f}x")
    finally:
        executor.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-problems", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128, help="new tokens per generation step")
    ap.add_argument("--max-rounds", type=int, default=3, help="code executions per chain")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each mode")
    ap.add_argument("--backend", choices=["embedded", "vllm"], default="embedded")
    ap.add_argument("--model", help="model for --backend vllm")
    ap.add_argument("--sandbox", default="forkserver", help="sandbox backend for the code blocks")
    ap.add_argument("--prompt", choices=["fewshot", "code", "plain"], default="fewshot",
                    help="fewshot: FEW_SHOT_SYSTEM and three worked examples as chat turns; code: each question "
                         "ends asking for a python block (CODE_HINT); plain: the question as is")
    sim = ap.add_argument_group("simulation (--engine sim): an engine double, never a model result")
    sim.add_argument("--engine", choices=["real", "sim"], default="real",
                     help="real: a vLLM engine (--backend); sim: SteppedLM serving scripted chains")
    sim.add_argument("--cost", nargs="+", choices=["gpu", "cpu"], default=["gpu", "cpu"],
                     help="gpu: a step costs the same for any batch; cpu: it grows with the batch like the CPU engine")
    sim.add_argument("--step-ms", type=float, default=20.0, help="one engine step with one sequence")
    sim.add_argument("--per-seq-ms", type=float, help="override the cost model's per-sequence step cost")
    sim.add_argument("--max-num-seqs", type=int, default=256, help="sequences per engine step")
    sim.add_argument("--round-weights", default="0.1,0.35,0.3,0.15,0.1",
                     help="probability of a chain having 0, 1, 2, ... code rounds")
    sim.add_argument("--median-tokens", type=float, default=100, help="median tokens of a generation (lognormal)")
    sim.add_argument("--sigma", type=float, default=0.6, help="lognormal sigma of tokens per generation")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--replay", help="chain shapes recorded by a real run's --record (instead of drawing them)")
    ap.add_argument("--record", help="real engine: write the last round-synchronous run's chain shapes "
                                     "(rounds, tokens per generation) to this JSON file, for --engine sim --replay")
    args = ap.parse_args()
    if args.engine == "sim":
        run_simulation(args)
        return

    from lemmaflow.agents.backends import ChatPrompt, SamplingParams, VLLMBackend, VLLMConfig, make_embedded_backend
    from lemmaflow.agents.nodes import ToRA, ToRAExample
    from lemmaflow.sandboxes import make_executor
    from lemmaflow.tools.datasets import load_gsm8k

    problems = load_gsm8k(limit=args.n_problems)
    questions = [p.question + (CODE_HINT if args.prompt == "code" else "") for p in problems]
    few = dict(system=FEW_SHOT_SYSTEM, examples=[ToRAExample(question=q, solution=a) for q, a in FEW_SHOT])
    node = ToRA(max_rounds=args.max_rounds, max_tokens=args.max_tokens, temperature=0.0,
                **(few if args.prompt == "fewshot" else {}))
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
                t, s0 = time.perf_counter(), len(steps)
                if label == "continuous":
                    outs = asyncio.run(continuous(backend, executor, questions, node))
                else:
                    outs = asyncio.run(round_synchronous(backend, executor, questions, node))
                runs[label].append((time.perf_counter() - t, outs))
                print(f"    {label:11s} run: {runs[label][-1][0]:6.1f} s, {len(steps) - s0} engine steps", flush=True)
        rate = {}
        for label, rs in runs.items():
            secs = [dt for dt, _ in rs]
            outs = rs[-1][1]
            rate[label] = len(questions) * len(rs) / sum(secs)
            finishes = dict(sorted(Counter(o["finish"] for o in outs).items()))
            per_chain = dict(sorted(Counter(o["rounds"] for o in outs).items()))
            print(f"  {label:11s} {sum(secs) / len(secs):7.1f} s/run  {rate[label]:6.3f} problems/s  "
                  f"code rounds {sum(o['rounds'] for o in outs):3d}  tokens {sum(o['tokens'] for o in outs):5d}  "
                  f"finish {finishes}  chains by rounds {per_chain}")
        if args.record:
            import json

            with open(args.record, "w", encoding="utf-8") as f:
                json.dump([{"rounds": o["rounds"], "gens": o["gens"], "finish": o["finish"]}
                           for o in runs["round-sync"][-1][1]], f)
        same = sum(a["chain"] == b["chain"] for a, b in zip(runs["continuous"][-1][1], runs["round-sync"][-1][1]))
        print(f"  identical chains in the last runs: {same}/{len(questions)}")
        if steps:
            a, b = _fit_step_cost(steps)
            print(f"  engine step cost (fit over {len(steps)} steps): {a * 1e3:.1f} ms + {b * 1e3:.2f} ms per sequence "
                  f"in flight (mean batch {sum(k for k, _ in steps) / len(steps):.1f})")
        print(f"continuous / round-synchronous problems per second: {rate['continuous'] / rate['round-sync']:.2f}x")
    finally:
        executor.close()
        backend.close()


if __name__ == "__main__":
    main()
