"""A prove job on scripted answers (real Coq, real SQLite) for the kill -9 test: python prove_worker.py OUT LIB."""

from __future__ import annotations

import asyncio
import sys

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.proving.job import ProveJob, ProveJobConfig
from lemmaflow.agents.proving.lego import LegoProver
from lemmaflow.skills_library import HashingEmbedder, open_store
from lemmaflow.tools.provers.coq import CoqProver
from lemmaflow.tools.provers.minif2f import CoqProblem

ARITH = "Require Import Arith.\n"
LEMMA = "Lemma double_lf (n : nat) : n + n = 2 * n.\nProof. simpl. rewrite Nat.add_0_r. reflexivity. Qed.\n"


def problems(n: int) -> list[CoqProblem]:
    out = [CoqProblem(name="q0", split="t", header=ARITH, path="",
                      statement="Theorem q0 (a : nat) : a + a + 0 = 2 * a.")]
    for i in range(1, n):
        out.append(CoqProblem(name=f"q{i}", split="t", header=ARITH, path="",
                              statement=f"Theorem q{i} (b : nat) : b + b + {i} = 2 * b + {i}."))
    return out


def answer(key: str, i: int) -> str:
    """q0 proves double_lf as a helper; every later problem only cites it (the library makes it available)."""
    if "Theorem q0 " in key:
        return f"```coq\n{LEMMA}Theorem q0 (a : nat) : a + a + 0 = 2 * a.\nProof. rewrite Nat.add_0_r. apply double_lf. Qed.\n```"
    for k in range(1, 20):
        if f"Theorem q{k} " in key:
            return f"```coq\nTheorem q{k} (b : nat) : b + b + {k} = 2 * b + {k}.\nProof. rewrite double_lf. reflexivity. Qed.\n```"
    return "no"


def make_job(out: str, store, coq, n: int = 4, latency_s: float = 0.0, **cfg) -> ProveJob:
    config = ProveJobConfig(prover=LegoProver.Config(sketch=False, repair_rounds=0, max_tokens=256), **cfg)
    return ProveJob(problems(n), ScriptedLM(answer, latency_s=latency_s), coq, store, out, config, dataset="scripted")


if __name__ == "__main__":
    out_dir, lib = sys.argv[1], sys.argv[2]
    with CoqProver(pool_size=1) as coq, open_store(lib, embedder=HashingEmbedder(256)) as store:
        job = make_job(out_dir, store, coq, n=6, latency_s=0.25, evolve_every=0)
        asyncio.run(job.run())
        job.write_report()
    print("done")
