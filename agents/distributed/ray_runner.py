"""Batch solving over a Ray cluster: worker actors hold engines, the driver owns the results file.

Each worker actor (:class:`RayWorker`) builds, once, what an in-process run builds: the generator
(in-process vLLM on its GPU, the embedded model, or an OpenAI-compatible endpoint — any
:class:`~lemmaflow.agents.backends.factory.ModelSpec`), the named models of the pipeline, its own
sandbox executor (only if a pipeline runs model-written code), its own warm prover pool (only if a
pipeline checks formal proofs, e.g. ``whole_proof``; ``WorkerSetup.prover``), an answer checker and a handle on
the skill library (use PostgreSQL when workers run on several machines). It solves a problem with
:meth:`BatchRunner.solve_one <lemmaflow.agents.batch.BatchRunner.solve_one>` — the same code as
the in-process runner — and sends the result back.

The driver (:class:`RayBatchRunner`) has BatchRunner's interface and rules: the same result keys
(problem, pipeline spec, models), the same results JSONL (one fsynced line per finished problem,
written by the driver only), the same resume index (finished problems are skipped on a rerun,
failed ones retried). The driver owns the assignment: it keeps ``concurrency`` problems in flight
per worker, and when a worker dies (a crash, an OOM kill, a lost node) the problems it held go
back to the queue and run on another worker — Ray restarts the actor (``max_restarts``) and the
driver gives it work again once it answers. Ray never retries a call on its own
(``max_task_retries=0``), so a problem's result is written once: a key already written in this
run is never written again. A problem whose worker died ``max_problem_retries`` times is recorded
as an error (retried by the next run), so one poisonous problem cannot loop forever.

Why actors and not ``ray.data.llm``: its processors stream one pass over a dataset, which fits
plain sampling but not multi-round pipelines (tree search, tool-integrated reasoning, FOBAR's
backward pass) whose next request depends on the last answer; an actor holding an engine serves
them all.

Example (a local cluster and the scripted fake model; on a real cluster pass ``address="auto"``
and ``ModelSpec(kind="vllm", model=...)`` with ``num_gpus_per_worker=1``)::

    import asyncio, functools
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.distributed import RayBatchRunner, RayWorkerPool, WorkerSetup
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.datasets import Problem

    fake = functools.partial(ScriptedLM, ["The answer is \\\\boxed{4}."])  # built inside each actor
    pipeline = resolve_pipeline("cot", {})
    problems = [Problem(id=str(i), question=f"{i}+{4 - i}?", gold="4", source="demo") for i in range(5)]
    with RayWorkerPool(WorkerSetup(generator=fake), workers=2, num_cpus_per_worker=0.5, address="local",
                       init_kwargs=dict(num_cpus=2, include_dashboard=False)) as pool:
        summary = asyncio.run(RayBatchRunner(pipeline, pool, out_path="runs/ray.jsonl").run(problems))
    print(summary.done, summary.accuracy)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict

from ...tools.datasets import Problem
from ..backends.factory import ModelSpec, make_model
from ..batch import BatchRunner, BatchSummary, KeySet, ProblemResult, finished_keys, model_label, problem_key
from ..budget import Budget
from ..graph import Pipeline
from ..trace import append_jsonl

__all__ = ["JobSpec", "RayBatchRunner", "RayUnavailable", "RayWorker", "RayWorkerPool", "UnknownJob", "WorkerSetup"]

INSTALL_HINT = "Ray is not installed: pip install 'lemmaflow[ray]'"


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached, or no worker could start."""


def import_ray():
    """``ray``, imported on first use (a heavy import), with an install hint."""
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(INSTALL_HINT) from e
    return ray


class UnknownJob(RuntimeError):
    """A worker was asked to solve a problem of a job it has not prepared."""


class WorkerSetup(BaseModel):
    """What every worker actor builds once.

    ``generator``: a :class:`ModelSpec` (``vllm`` on the actor's GPU, ``embedded``, ``openai`` with
    one or more endpoints), or a picklable zero-argument factory returning a backend (fakes in
    tests). ``sandbox``: the executor kind, started only when a pipeline needs one. ``library``:
    the skill library URL every worker opens (PostgreSQL when workers span machines).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    generator: ModelSpec | Callable[[], Any]
    sandbox: Literal["forkserver", "bwrap", "docker", "subprocess"] = "forkserver"
    library: str | None = None
    # The worker's warm prover pool, shared by its prove jobs and by solve jobs whose pipeline checks proofs
    # (whole_proof): CoqConfig / LeanConfig fields plus ``language`` ("coq" default, "lean4"), e.g.
    # {"language": "coq", "pool_size": 2, "timeout_s": 30}. Started once, on first use; None: Coq's defaults.
    prover: dict[str, Any] | None = None


class JobSpec(BaseModel):
    """One pipeline's run, as the actors need it (sent once per worker through Ray's object store)."""

    pipeline: dict
    models: dict[str, ModelSpec] = {}
    budget: Budget | None = None
    concurrency: int = 256
    coalesce_s: float | None = None
    run_id: str
    with_trace: bool = False

    def job_id(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _needs_executor(pipeline: Pipeline) -> bool:
    return any(getattr(d["node"], "needs_executor", False) for _, d in pipeline.graph.nodes(data=True))


def _needs_prover(pipeline: Pipeline) -> bool:
    return any(getattr(d["node"], "needs_prover", False) for _, d in pipeline.graph.nodes(data=True))


class RayWorker:
    """One worker: an engine, a checker, maybe an executor and a library; solves problems of any job.

    A plain class: :class:`RayWorkerPool` makes it a Ray actor (``ray.remote``). Its methods are
    coroutines, so the actor solves up to ``max_concurrency`` problems at once on one event loop and
    their requests share the engine's batch, as in-process.
    """

    def __init__(self, setup: WorkerSetup):
        from ...tools.answers import AnswerChecker

        self.setup = setup
        gen = setup.generator
        self.backend = make_model(gen) if isinstance(gen, ModelSpec) else gen()
        self.checker = AnswerChecker()
        self.store = None
        if setup.library:
            from ...skills_library import open_store

            self.store = open_store(setup.library)
        self.executor = None
        self._prover = None
        self._prove_jobs: dict[str, Any] = {}  # job id -> a ProveJob of this worker (no checkpoints)
        self._models: dict[str, Any] = {}  # ModelSpec json -> built model, shared by jobs
        self._runners: dict[str, BatchRunner] = {}  # job id -> the runner whose solve_one we call

    def describe(self) -> dict:
        """Answers once the actor is up (after a restart too): its model id and where it runs."""
        import socket

        prover = self._prover
        return {"model_id": self.backend.model_id, "pid": os.getpid(), "host": socket.gethostname(),
                # the warm prover pool's processes (None until a prove job or a proof-checking pipeline needs it)
                "prover": None if prover is None else {
                    "kind": type(prover).__name__, "pids": list(getattr(prover, "session_pids", lambda: [])())}}

    def prepare(self, job_id: str, job: JobSpec) -> str:
        """Build a job's runner (pipeline, models, maybe the executor) once; return its keys' model part.

        The driver calls it on every worker before giving it the job's problems, and again on a
        worker Ray restarted (a new process has no jobs).
        """
        runner = self._runners.get(job_id)
        if runner is None:
            runner = self._runners[job_id] = self._build(job)
        return model_label(self.backend.model_id, runner.models)

    def _build(self, job: JobSpec) -> BatchRunner:
        from ..spec import build_pipeline

        pipeline = build_pipeline(job.pipeline)
        models = {}
        for role, spec in job.models.items():
            k = spec.model_dump_json()
            if k not in self._models:
                self._models[k] = make_model(spec, generator=self.backend)
            models[role] = self._models[k]
        if self.executor is None and _needs_executor(pipeline):
            from ...sandboxes import make_executor

            executor = make_executor(self.setup.sandbox)
            executor.start()
            self.executor = executor
        # A proof-checking pipeline (whole_proof) checks on this worker's warm pool, as prove jobs do; without
        # it the node would start (and close) a default Coq prover for every problem, ignoring --prover.
        prover = self.prover() if _needs_prover(pipeline) else None
        runner = BatchRunner(pipeline, self.backend, self.checker, out_path=os.devnull, budget=job.budget,
                             concurrency=job.concurrency, executor=self.executor, store=self.store, models=models,
                             prover=prover, run_id=job.run_id, coalesce_s=job.coalesce_s)
        runner.with_trace = job.with_trace  # type: ignore[attr-defined]
        # At most ``concurrency`` problems run here; the driver sends a few more, which wait on this
        # semaphore, so the next problem starts as one finishes instead of after a round trip to the driver.
        runner.slots = asyncio.Semaphore(job.concurrency)  # type: ignore[attr-defined]
        return runner

    async def solve(self, job_id: str, key: str, problem: dict) -> dict:
        runner = self._runners.get(job_id)
        if runner is None:  # never happens: the driver prepares a worker before sending it work
            raise UnknownJob(f"job {job_id} was not prepared on this worker")
        async with runner.slots:
            res, trace = await runner.solve_one(key, Problem.model_validate(problem), with_trace=runner.with_trace)
        return {"result": res.model_dump(mode="json"), "trace": trace}

    def prover(self):
        """This worker's warm prover pool (Coq sessions or Lean REPLs), started on first use.

        Prove jobs and proof-checking solve jobs (``whole_proof``) share it: one pool per worker."""
        if self._prover is None:
            opts = dict(self.setup.prover or {})
            if opts.pop("language", "coq") == "lean4":
                from ...tools.provers.lean import LeanProver

                prover = LeanProver(**opts)
            else:
                from ...tools.provers.coq import CoqProver

                prover = CoqProver(**opts)
            prover.start()
            self._prover = prover
        return self._prover

    async def prove_step(self, job_id: str, spec, kind: str, args: list) -> dict:
        """One attempt (``kind="attempt"``: arm, attempt, problem) or evolver step (``"evolve"``: key, attempt,
        after) of a prove job (:mod:`.ray_prove`), with ProveJob's own code on this worker's engine, Coq
        sessions and library. ``spec``: a :class:`~.ray_prove.ProveSpec`."""
        import tempfile

        from ..proving.job import ProveJob

        job = self._prove_jobs.get(job_id)
        if job is None:
            if self.store is None:
                raise RuntimeError("prove --ray: the workers need a library (WorkerSetup.library)")
            scratch = tempfile.mkdtemp(prefix="lemmaflow-prove-worker-")  # ProveJob's metadata, nothing else
            job = ProveJob([], self.backend, self.prover(), self.store, scratch, spec.config, dataset=spec.dataset)
            job.run_id = spec.run_id  # library events belong to the driver's run
            self._prove_jobs[job_id] = job
        if kind == "attempt":
            arm, attempt, problem = args
            return await job._attempt(arm, attempt, problem)  # a CoqProblem or LeanProblem, as the driver has it
        key, attempt, after = args
        return await job._evolve(key, attempt, after)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        for m in self._models.values():
            if m is not self.backend and hasattr(m, "close"):
                m.close()
        for thing in (self.backend, self.executor, self._prover, self.store, self.checker):
            close = getattr(thing, "close", None)
            if close:
                try:
                    close()
                except Exception:  # closing is best effort: the actor is going away
                    pass


@dataclass
class _Slot:
    """The driver's view of one actor."""

    handle: Any
    index: int
    inflight: int = 0
    state: Literal["up", "recovering", "dead"] = "up"
    info: dict = field(default_factory=dict)


class RayWorkerPool:
    """Worker actors on a Ray cluster; reused by every job of a run (one engine load per worker).

    ``address``: ``None`` connects to the cluster named by ``RAY_ADDRESS`` or starts a local one;
    ``"auto"`` the cluster this machine belongs to (after ``ray start``); ``"ray://head:10001"``
    a remote one through Ray Client; ``"local"`` always a new local one. ``init_kwargs`` go to
    ``ray.init`` (e.g. ``num_cpus``, ``object_store_memory`` for a local cluster). Ray restarts a
    dead actor up to ``max_restarts`` times (-1: forever).
    """

    def __init__(self, setup: WorkerSetup, *, workers: int = 1, address: str | None = None,
                 num_cpus_per_worker: float = 1, num_gpus_per_worker: float = 0, max_restarts: int = 3,
                 max_concurrency: int = 1024, init_kwargs: dict | None = None, log_to_driver: bool = False,
                 actor_options: dict | None = None):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.setup = setup
        self.workers = workers
        self.address = address
        self.actor_options = dict(num_cpus=num_cpus_per_worker, num_gpus=num_gpus_per_worker,
                                  max_restarts=max_restarts, max_task_retries=0, max_concurrency=max_concurrency,
                                  **(actor_options or {}))
        self.init_kwargs = dict(init_kwargs or {})
        self.log_to_driver = log_to_driver
        self.slots: list[_Slot] = []
        self._own_ray = False
        self.model_id: str = "?"

    def start(self) -> "RayWorkerPool":
        ray = import_ray()
        if not ray.is_initialized():
            _check_reachable(self.address)
            kwargs = dict(log_to_driver=self.log_to_driver, **self.init_kwargs)
            kwargs.setdefault("logging_level", "WARNING")
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError as e:
                hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                    " (a cluster with token authentication also needs RAY_AUTH_MODE=token and its token in "
                    "~/.ray/auth_token on this machine)")
                raise RayUnavailable(f"cannot reach the Ray cluster at {self.address or '$RAY_ADDRESS'}: {e}{hint}") from e
            self._own_ray = True
        actor = ray.remote(RayWorker).options(**self.actor_options)
        self.slots = [_Slot(actor.remote(self.setup), i) for i in range(self.workers)]
        try:
            infos = ray.get([s.handle.describe.remote() for s in self.slots])
        except Exception as e:  # an engine that cannot load, a missing GPU, a bad spec
            self.close()
            raise RayUnavailable(f"Ray workers could not start: {type(e).__name__}: {e}") from e
        for s, info in zip(self.slots, infos):
            s.info = info
        ids = {i["model_id"] for i in infos}
        if len(ids) != 1:
            self.close()
            raise RayUnavailable(f"workers disagree on the model: {sorted(ids)}")
        self.model_id = ids.pop()
        return self

    def pids(self) -> list[int]:
        """The worker processes' pids, waiting for actors Ray is restarting (a restarted actor has a new pid)."""

        async def all_pids():
            return [i["pid"] for i in await asyncio.gather(*(_describe(s.handle) for s in self.slots))]

        return asyncio.run(all_pids())

    def close(self) -> None:
        if not self.slots and not self._own_ray:
            return
        ray = import_ray()
        if self.slots:
            try:
                ray.get([s.handle.close.remote() for s in self.slots if s.state != "dead"], timeout=30)
            except Exception:  # a dead or hung actor: killed below anyway
                pass
            for s in self.slots:
                try:
                    ray.kill(s.handle, no_restart=True)
                except Exception:
                    pass
            self.slots = []
        if self._own_ray:
            ray.shutdown()
            self._own_ray = False

    def __enter__(self) -> "RayWorkerPool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _check_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """Fail in seconds on a HOST:PORT nobody listens on (Ray itself retries the GCS for minutes)."""
    import socket

    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # let Ray parse (and reject) it
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {e}") from e


async def _describe(handle, poll_s: float = 0.25) -> dict:
    """The actor's ``describe()``, waiting while Ray restarts it; raises once it is dead for good."""
    ray = import_ray()
    unavailable = getattr(ray.exceptions, "ActorUnavailableError", ())
    while True:
        try:
            return await handle.describe.remote()
        except unavailable:  # restarting: calls fail fast instead of queueing
            await asyncio.sleep(poll_s)


def _actor_lost(ray, exc: BaseException) -> bool:
    """Did the call fail because its actor (process or node) died, not because the problem raised?"""
    ex = ray.exceptions
    lost = tuple(t for t in (getattr(ex, n, None) for n in (
        "RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError",
        "OwnerDiedError", "ObjectLostError")) if isinstance(t, type))
    return isinstance(exc, lost)


class RayBatchRunner:
    """BatchRunner's interface over a :class:`RayWorkerPool`; see the module docstring.

    ``concurrency``: problems running per worker, plus ``prefetch`` (default a quarter of it) queued there so the next starts without a round trip. ``models``: role -> :class:`ModelSpec` (each
    worker builds them; ``kind: same`` is its own generator). ``executor``/``store``/``checker``
    are accepted for BatchRunner compatibility and must be ``None``/unused: each worker builds its
    own from the pool's :class:`WorkerSetup`.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        pool: RayWorkerPool,
        checker=None,
        *,
        out_path: str | Path,
        budget: Budget | None = None,
        concurrency: int = 256,
        trace_path: str | Path | None = None,
        executor=None,
        store=None,
        models: dict[str, ModelSpec] | None = None,
        on_result: Callable[[ProblemResult, BatchSummary], None] | None = None,
        run_id: str | None = None,
        coalesce_s: float | None = None,
        max_problem_retries: int = 3,
        prefetch: int | None = None,
    ):
        if executor is not None or store is not None:
            raise ValueError("RayBatchRunner: workers build their own executor and store (WorkerSetup)")
        bad = {r: m for r, m in (models or {}).items() if not isinstance(m, ModelSpec)}
        if bad:
            raise ValueError(f"RayBatchRunner: models must be ModelSpecs (built on each worker), got {sorted(bad)}")
        self.pipeline = pipeline
        self.pool = pool
        self.backend = pool  # what Bench reads the model id from
        self.out_path = Path(out_path)
        self.trace_path = Path(trace_path) if trace_path else None
        self.on_result = on_result
        self.max_problem_retries = max_problem_retries
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.spec = pipeline.to_spec()
        self.models = dict(models or {})
        self.job = JobSpec(pipeline=self.spec, models=self.models, budget=budget, concurrency=concurrency,
                           coalesce_s=coalesce_s, run_id=self.run_id, with_trace=self.trace_path is not None)
        self.concurrency = concurrency
        # Problems queued on a worker beyond those running: they hide the driver round trip.
        self.prefetch = max(1, concurrency // 4) if prefetch is None else prefetch
        self.summary = BatchSummary()
        self._label: str | None = None
        self.requeued = 0  # problems put back in the queue because their worker died

    # -- keys -------------------------------------------------------------------------------

    def _model_label(self) -> str:
        if self._label is None:
            ray = import_ray()
            slot = next(s for s in self.pool.slots if s.state != "dead")
            self._label = ray.get(slot.handle.prepare.remote(self.job.job_id(), self.job))
        return self._label

    def key(self, problem: Problem) -> str:
        """The same key as the in-process runner gives this problem (so either can resume the other)."""
        return problem_key(problem, self.spec, self._model_label())

    # -- the run ----------------------------------------------------------------------------

    async def run(self, problems: Iterable[Problem]) -> BatchSummary:
        ray = import_ray()
        s = self.summary
        if hasattr(problems, "__len__"):
            s.total = len(problems)  # type: ignore[arg-type]
        finished = finished_keys(self.out_path)
        job_id = self.job.job_id()
        # Every live worker builds the job now (its models, maybe an executor): errors surface here.
        try:
            labels = await asyncio.gather(*(s_.handle.prepare.remote(job_id, self.job) for s_ in self.pool.slots
                                            if s_.state == "up"))
        except Exception as e:  # a prover or sandbox that cannot start on a worker, a model that cannot load
            cause = getattr(e, "cause", None) or e  # a RayTaskError carries the worker's exception
            raise RayUnavailable(f"the Ray workers could not prepare the job: {type(cause).__name__}: "
                                 f"{str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}") from e
        if len(set(labels)) != 1:
            raise RayUnavailable(f"workers disagree on the models: {sorted(set(labels))}")
        self._label = labels[0]
        seen = KeySet()  # about 8 bytes per problem: memory stays flat on long inputs
        count_total = not hasattr(problems, "__len__")

        def fresh() -> Iterator[tuple[str, Problem]]:  # the input, read lazily
            for p in problems:
                if count_total:
                    s.total += 1
                k = self.key(p)
                if k in finished:
                    s.skipped += 1
                elif k not in seen:  # duplicate problems in the input run once
                    seen.add(k)
                    yield k, p

        source = fresh()
        retry: deque[tuple[str, Problem]] = deque()
        deaths: dict[str, int] = {}
        written = KeySet()
        pending: dict[asyncio.Future, tuple[_Slot, str, Problem]] = {}
        probes: dict[asyncio.Future, _Slot] = {}
        exhausted = False
        start = time.monotonic()

        def next_item():
            nonlocal exhausted
            if retry:
                return retry.popleft()
            if exhausted:
                return None
            item = next(source, None)
            if item is None:
                exhausted = True
            return item

        async def call(ref):
            return await ref

        async def back(slot: _Slot) -> dict:  # a restarted worker: up once it answers and has the job again
            info = await _describe(slot.handle)
            await slot.handle.prepare.remote(job_id, self.job)
            return info

        def emit(res: ProblemResult, trace: list[dict] | None, row: dict | None = None) -> None:
            if res.key in written:  # never twice in one run, whatever a worker sends
                return
            written.add(res.key)
            append_jsonl(self.out_path, [row if row is not None else res.model_dump(mode="json")])
            if trace is not None and self.trace_path is not None:
                append_jsonl(self.trace_path, trace, fsync=False)
            s.record(res)
            s.wall_s = time.monotonic() - start
            if self.on_result:
                self.on_result(res, s)

        def lost(slot: _Slot, key: str, problem: Problem, why: str) -> None:
            deaths[key] = deaths.get(key, 0) + 1
            if deaths[key] > self.max_problem_retries:
                emit(ProblemResult(key=key, id=problem.id, source=problem.source, question=problem.question,
                                   gold=problem.gold, status="error", model=self.pool.model_id,
                                   pipeline=self.pipeline.name, finished_at=time.time(),
                                   error=f"WorkerLost: the worker solving it died {deaths[key]} times ({why})"), None)
            else:
                self.requeued += 1
                retry.append((key, problem))
            if slot.state == "up":  # wait for Ray's restart before giving it work again
                slot.state = "recovering"
                probes[asyncio.ensure_future(back(slot))] = slot

        for slot in self.pool.slots:  # lost in an earlier run and not answering yet: ask again
            if slot.state == "recovering":
                probes[asyncio.ensure_future(back(slot))] = slot
        try:
            while True:
                for slot in self.pool.slots:
                    while slot.state == "up" and slot.inflight < self.concurrency + self.prefetch:
                        item = next_item()
                        if item is None:
                            break
                        k, p = item
                        ref = slot.handle.solve.remote(job_id, k, p.model_dump(mode="json"))
                        pending[asyncio.ensure_future(call(ref))] = (slot, k, p)
                        slot.inflight += 1
                if not pending:
                    item = next_item()
                    if item is None:
                        break  # all done
                    retry.appendleft(item)
                    if not probes:
                        raise RayUnavailable("every Ray worker died; finished problems are saved in "
                                             f"{self.out_path}; rerun to resume")
                done, _ = await asyncio.wait([*pending, *probes], return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    if fut in probes:
                        slot = probes.pop(fut)
                        try:
                            slot.info = fut.result()
                            slot.state = "up"
                        except Exception:
                            slot.state = "dead"  # restarts used up: Ray will not bring it back
                        continue
                    slot, k, p = pending.pop(fut)
                    slot.inflight -= 1
                    try:
                        out = fut.result()
                    except Exception as e:
                        if _actor_lost(ray, e):
                            lost(slot, k, p, type(e).__name__)
                        else:  # the call itself failed (solve_one catches problem errors): record it
                            emit(ProblemResult(key=k, id=p.id, source=p.source, question=p.question, gold=p.gold,
                                               status="error", error=f"{type(e).__name__}: {e}"[:2000],
                                               model=self.pool.model_id, pipeline=self.pipeline.name,
                                               finished_at=time.time()), None)
                        continue
                    row = out["result"]  # the worker's model_dump of a validated ProblemResult: not validated twice
                    emit(ProblemResult.model_construct(**row), out.get("trace"), row)
        finally:
            for fut in [*pending, *probes]:  # Ctrl-C: finished problems are on disk
                fut.cancel()
            s.wall_s = time.monotonic() - start
        return s

