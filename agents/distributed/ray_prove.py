"""``lemmaflow prove --ray``: the LEGO-Prover job with its attempts run by Ray workers.

:class:`RayProveJob` is :class:`~lemmaflow.agents.proving.job.ProveJob` — same checkpoints
(``attempts.jsonl``, written by the driver only), same resume rules, same report — whose attempts
and evolver steps run on the workers of a :class:`~lemmaflow.agents.distributed.RayWorkerPool`.
Each worker holds its engine, its own pool of warm Coq sessions (``WorkerSetup.prover``) and its
own handle on the library, which must be one every worker reaches: PostgreSQL across machines
(workers add verified lemmas concurrently without duplicates and retrieve each other's). A worker
runs an attempt with ProveJob's own code (a ProveJob of its own, without checkpoints). When a
worker dies mid-attempt, the attempt runs again on another worker (its partial work was never
saved); after ``max_worker_losses`` losses it is recorded as an error, retried by the next run.

Example (a GPU cluster; ``tests/agents/distributed/test_ray_prove.py`` runs the same on a scripted model)::

    import asyncio
    from lemmaflow.agents.backends.factory import ModelSpec
    from lemmaflow.agents.distributed import RayProveJob, RayWorkerPool, WorkerSetup
    from lemmaflow.agents.proving.job import ProveJobConfig
    from lemmaflow.skills_library import open_store
    from lemmaflow.tools.provers.minif2f import load_minif2f_coq

    pool = RayWorkerPool(WorkerSetup(generator=ModelSpec(kind="vllm", model="deepseek-ai/DeepSeek-Prover-V1.5-RL"),
                                     library="postgresql://lemmaflow@db/lemmaflow", prover={"pool_size": 4}),
                         workers=8, address="auto", num_gpus_per_worker=1).start()
    job = RayProveJob(load_minif2f_coq("valid"), pool, open_store("postgresql://lemmaflow@db/lemmaflow"),
                      "runs/prove", ProveJobConfig(attempts=8, concurrency=64))
    asyncio.run(job.run()); job.write_report(); pool.close()
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Sequence

from pydantic import BaseModel

from ..proving.job import ProveJob, ProveJobConfig
from .ray_runner import RayUnavailable, RayWorkerPool, _actor_lost, _describe, _Slot, import_ray

__all__ = ["ProveSpec", "RayProveJob"]


class ProveSpec(BaseModel):
    """What a worker needs to run a job's attempts: the job's config and run id."""

    config: ProveJobConfig
    run_id: str
    dataset: str = ""


class RayProveJob(ProveJob):
    """A :class:`ProveJob` whose attempts run on Ray workers; see the module docstring.

    ``store``: the driver's handle on the same library (library size, report). ``config.concurrency``
    is the number of problems in flight across all workers.
    """

    def __init__(self, problems: Sequence, pool: RayWorkerPool, store, out_dir, config: ProveJobConfig | None = None,
                 *, dataset: str = "", on_step: Callable[[dict, Any], None] | None = None, max_worker_losses: int = 3):
        super().__init__(problems, pool, None, store, out_dir, config, dataset=dataset, on_step=on_step)
        self.pool = pool
        self.max_worker_losses = max_worker_losses
        self.spec = ProveSpec(config=self.config, run_id=self.run_id, dataset=dataset)
        self.job_id = f"prove-{self.run_id}"
        self.requeued = 0

    async def _remote(self, kind: str, args: list, base: dict) -> dict:
        ray = import_ray()
        losses = 0
        while True:
            live = [s for s in self.pool.slots if s.state != "dead"]
            if not live:
                raise RayUnavailable(f"every Ray worker died; finished attempts are saved in {self.rows_path}")
            slot: _Slot = min(live, key=lambda s: (s.state != "up", s.inflight))
            if slot.state == "recovering":
                try:
                    slot.info = await _describe(slot.handle)
                    slot.state = "up"
                except Exception:
                    slot.state = "dead"
                    continue
            slot.inflight += 1
            try:
                return await slot.handle.prove_step.remote(self.job_id, self.spec, kind, args)
            except Exception as e:
                if not _actor_lost(ray, e):
                    return {**base, "status": "error", "error": f"{type(e).__name__}: {e}"[:2000],
                            "finished_at": time.time()}
                losses += 1
                if slot.state == "up":
                    slot.state = "recovering"
                if losses > self.max_worker_losses:
                    return {**base, "status": "error", "finished_at": time.time(),
                            "error": f"WorkerLost: the worker running it died {losses} times ({type(e).__name__})"}
                self.requeued += 1
            finally:
                slot.inflight -= 1

    async def _attempt(self, arm, attempt, problem) -> dict:
        base = dict(key=f"{arm}/{attempt}/{problem.name}", kind="attempt", arm=arm, attempt=attempt,
                    problem=problem.name, proved=False, used=[], used_names=[])
        return await self._remote("attempt", [arm, attempt, problem], base)  # Ray pickles the problem as it is

    async def _evolve(self, key: str, attempt: int, after: str) -> dict:
        base = dict(key=key, kind="evolve", arm="library", attempt=attempt, after=after)
        row = await self._remote("evolve", [key, attempt, after], base)
        if "library_size" not in row:
            row["library_size"] = await asyncio.to_thread(self._library_size)
        return row
