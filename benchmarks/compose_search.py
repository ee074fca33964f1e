"""How often the compose search finds the known-best configuration of the simulated world, by budget.

The world (tests/agents/compose_sim.py): 360 configurations of known accuracy and token cost, a dev
set of 200 problems; nothing is text or a model. For each search (TPE; TPE + successive halving) and
each budget (a share of a full sweep: every configuration on the whole dev set), run seeds 0..S-1
and print how many found the best configuration, the mean trials, and the mean share actually spent.

    .venv/bin/python benchmarks/compose_search.py --seeds 10
"""

import argparse
import asyncio
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lemmaflow.agents.compose import Composer  # noqa: E402
from tests.agents.compose_sim import SPACE, SearchSpace, SimulatedEvaluator, accuracy, all_specs, problems, tokens  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--dev", type=int, default=200)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    specs = all_specs(SearchSpace.model_validate(SPACE))
    best = max(specs, key=accuracy)
    sweep = sum(tokens(s) for s in specs) * args.dev
    print(f"{len(specs)} configurations, full sweep {sweep} tokens, best accuracy {accuracy(best):.2f}")
    print("| search | budget (share of a full sweep) | found best | mean trials | mean share spent | s/run |")
    print("|---|---|---|---|---|---|")
    for search, shares in (("tpe", (0.1, 0.2, 0.3)), ("halving", (0.1, 0.15, 0.2))):
        for share in shares:
            found, trials, spent, t0 = 0, 0, 0.0, time.time()
            for seed in range(args.seeds):
                sp = SearchSpace.model_validate({**SPACE, "seed": seed, "search": search, "max_trials": 400,
                                                 "halving": {"min_problems": 25, "eta": 2}})
                rep = asyncio.run(Composer(sp, SimulatedEvaluator(), problems(args.dev),
                                           budget_tokens=int(sweep * share)).run())
                found += rep.best_trial().spec == best
                trials += len(rep.trials)
                spent += rep.spent_tokens / sweep
            n = args.seeds
            print(f"| {search} | {share:.0%} | {found}/{n} | {trials / n:.0f} | {spent / n:.1%} | "
                  f"{(time.time() - t0) / n:.1f} |", flush=True)


if __name__ == "__main__":
    main()
