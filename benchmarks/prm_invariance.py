"""Are the stand-in PRM's step scores independent of batch shape and cache state?

Scores every request alone, then all of them in one engine pass, then repeats the
whole set (a second identical call: prefix-cache hits when caching is on). Prints
the largest difference per dtype / prefix-caching setting, all in one run on one
machine. This is the evidence behind the tolerances in
tests/agents/scorers/test_vllm_reward.py and test_http_reward_vllm_server.py.

    .venv/bin/python benchmarks/prm_invariance.py            # float32 (the CPU default) and bfloat16
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform

from lemmaflow.agents.scorers import StepScoreRequest as R
from lemmaflow.agents.scorers.vllm_reward import VLLMRewardModel, embedded_reward_config

REQS = [
    R(question="What is 2+2?", steps=("2+2=4.", "The answer is 4.")),
    R(question="What is 3*3?", steps=("3*3=9",)),
    R(question="Tom has 3 apples and buys 5 more. How many?", steps=("3+5=8.", "He has 8 apples.", "The answer is 8.")),
    R(question="A train goes 60 km/h for 2 h. How far?", steps=("60*2=120.", "The answer is 120 km.")),
]


def _cpu_flags() -> str:
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return "?"
    return ",".join(sorted({f for f in flags if f.startswith(("amx", "avx512_bf16"))})) or "none"


def measure(dtype: str, prefix_caching: bool, rounds: int) -> tuple[float, float]:
    prm = VLLMRewardModel(embedded_reward_config(dtype=dtype, enable_prefix_caching=prefix_caching))
    try:
        run = asyncio.run
        alone = [run(prm.score_steps([r]))[0].steps for r in REQS]
        batch_diff = repeat_diff = 0.0
        prm.config.burst_wait_s = 0.2

        async def together():
            return await asyncio.gather(*(prm.score_steps([r]) for r in REQS))

        for _ in range(rounds):
            outs = [o[0].steps for o in run(together())]
            batch_diff = max(batch_diff, *(abs(a - b) for o, ref in zip(outs, alone) for a, b in zip(o, ref)))
            again = [run(prm.score_steps([r]))[0].steps for r in REQS]
            repeat_diff = max(repeat_diff, *(abs(a - b) for o, ref in zip(again, alone) for a, b in zip(o, ref)))
        return batch_diff, repeat_diff
    finally:
        prm.close()
        gc.collect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dtypes", default="float32,bfloat16")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, CPU bf16/AMX flags: {_cpu_flags()}")
    print("| dtype | prefix caching | max |Δ| batch of 4 vs alone | max |Δ| repeated identical call |")
    print("|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        for pc in (False, True):
            b, r = measure(dtype, pc, args.rounds)
            print(f"| {dtype} | {'on' if pc else 'off'} | {b:.3g} | {r:.3g} |", flush=True)


if __name__ == "__main__":
    main()
