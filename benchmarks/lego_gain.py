"""Library gain of ``lemmaflow prove`` against theory: a simulated proof model with known odds, real Coq.

For several seeds, the real prove job (library arm + no-library baseline, one attempt per problem, equal
generated tokens) runs on a suite of Coq problems that share key lemmas; the model proves a problem with
probability ``p_shown`` when its key lemma is in the prompt, ``p_hidden`` otherwise (see
``lemmaflow.agents.backends.simulated_prover``). Prints measured gain vs the predicted mean and sd per run,
the z-scores, and the same with ``p_shown == p_hidden`` (no gain to find). The model is a fake: these
figures calibrate the measurement, they say nothing about any real model.

    .venv/bin/python benchmarks/lego_gain.py [--seeds 5] [--lemmas 4] [--per-lemma 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from lemmaflow.agents.backends.simulated_prover import SimulatedProofModel
from lemmaflow.agents.proving.job import ProveJob, ProveJobConfig
from lemmaflow.agents.proving.lego import LegoProver
from lemmaflow.skills_library import HashingEmbedder, open_store
from lemmaflow.tools.provers.coq import CoqProver


def run(sim: SimulatedProofModel, coq, out: Path) -> dict:
    config = ProveJobConfig(attempts=1, evolve_every=0, prover=LegoProver.Config(
        sketch=False, repair_rounds=0, retrieve_k=2 * len(sim.groups()), max_tokens=sim.tokens))
    with open_store(out / "lib.db", embedder=HashingEmbedder(256)) as store:
        job = ProveJob(sim.problems, sim.backend(), coq, store, out / "job", config, dataset="simulated")
        asyncio.run(job.run())
        return job.write_report()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--lemmas", type=int, default=4)
    ap.add_argument("--per-lemma", type=int, default=20)
    ap.add_argument("--p-shown", type=float, default=0.85)
    ap.add_argument("--p-hidden", type=float, default=0.25)
    args = ap.parse_args()
    print("| odds (shown / hidden) | seed | library | baseline | gain | predicted | sd | z | gen. tokens lib = base | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with CoqProver(pool_size=2) as coq, tempfile.TemporaryDirectory() as tmp:
        for shown in (args.p_shown, args.p_hidden):
            zs = []
            for seed in range(args.seeds):
                sim = SimulatedProofModel.coq_suite(args.lemmas, args.per_lemma, shown, args.p_hidden,
                                                    seed=f"bench-{seed}")
                t0 = time.time()
                r = run(sim, coq, Path(tmp) / f"{shown}-{seed}")
                mean, var = sim.predicted_gain()
                gain, sd = r["equal_compute"]["gain"], var ** 0.5
                z = (gain - mean) / sd if sd else 0.0
                zs.append(z)
                eq = r["arms"]["library"]["completion_tokens"] == r["arms"]["baseline"]["completion_tokens"]
                print(f"| {shown} / {args.p_hidden} | {seed} | {r['arms']['library']['solved']} | "
                      f"{r['arms']['baseline']['solved']} | {gain:+d} | {mean:+.1f} | {sd:.1f} | {z:+.2f} | {eq} | "
                      f"{time.time() - t0:.1f} |")
            print(f"\nmean z {statistics.mean(zs):+.2f} over {len(zs)} seeds ({len(sim.problems)} problems each)\n")


if __name__ == "__main__":
    main()
