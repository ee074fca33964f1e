"""``--ray [ADDRESS]`` for ``solve``, ``bench`` and ``prove``: the same job, its problems spread over Ray actors.

Examples::

    ray start --head --port 6379                       # on the head node; `ray start --address HEAD:6379` on others
    lemmaflow solve --input problems.jsonl --pipeline tora --backend vllm --model Qwen/Qwen2.5-Math-7B-Instruct \\
        --ray auto --workers 8 --out runs/tora.jsonl    # one actor per GPU, each with its own vLLM engine
    lemmaflow solve --input problems.jsonl --backend openai --base-url http://gpu1:8000/v1 --model M \\
        --ray --workers 4 --out runs/x.jsonl            # a local Ray instance; four actors sharing one endpoint

Each worker builds its generator from the same options the in-process path uses (``--backend``,
``--model``, ``--base-url``, ...: :func:`lemmaflow.cli.make_worker_generator` of :func:`backend_options`,
passed in by the command), its own sandbox executor, its own warm prover pool
(``--prover``, ``--prover-pool-size``, ``--check-timeout``; proof-checking pipelines such as ``whole_proof``) and
its own handle on ``--library``. The driver (this process) writes ``--out``; see
:mod:`lemmaflow.agents.distributed.ray_runner`.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_ray_arguments", "backend_options", "make_pool", "prover_options", "solve_on_ray"]

# The options make_generator reads; a worker rebuilds the same backend from them.
_BACKEND_FIELDS = ("backend", "model", "base_url", "api_key", "seed", "verbose")


def add_ray_arguments(parser) -> None:
    g = parser.add_argument_group("Ray (pip install 'lemmaflow[ray]')")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="spread the problems over Ray worker actors; ADDRESS: auto (the cluster of `ray start`), "
                        "HOST:6379, ray://HOST:10001, local (always a new local instance); none: Ray's default "
                        "($RAY_ADDRESS, else a cluster `ray start` made on this machine, else a new local instance)")
    g.add_argument("--workers", type=int, default=1,
                   help="Ray worker actors, each with its own engine (or endpoint client), executor and library "
                        "handle; --concurrency is then per worker")
    g.add_argument("--worker-gpus", type=float, default=None,
                   help="GPUs per worker (default: 1 with --backend vllm, else 0)")
    g.add_argument("--worker-cpus", type=float, default=1.0, help="CPUs per worker (Ray's scheduling unit)")


def backend_options(args) -> dict[str, Any]:
    """The generator options of a parsed command line, as plain data a worker can receive."""
    return {f: getattr(args, f, None) for f in _BACKEND_FIELDS}


def prover_options(args) -> dict[str, Any]:
    """``--prover``/``--prover-pool-size``/``--check-timeout`` of ``solve`` as ``WorkerSetup.prover``: each
    worker's own warm pool (Coq sessions or Lean REPLs) for proof-checking pipelines."""
    return {"language": args.prover, "pool_size": args.prover_pool_size, "timeout_s": args.check_timeout}


def make_pool(args, generator, *, library: str | None = None, sandbox: str | None = None,
              prover: dict | None = None):
    """A started :class:`RayWorkerPool` from ``--ray``/``--workers``/...; ``generator``: the picklable
    zero-argument factory each worker calls (the command's ``make_worker_generator`` of :func:`backend_options`)."""
    from lemmaflow.agents.distributed import RayWorkerPool, WorkerSetup

    gpus = args.worker_gpus if args.worker_gpus is not None else (1.0 if args.backend == "vllm" else 0.0)
    setup = WorkerSetup(generator=generator, library=library, prover=prover,
                        **({"sandbox": sandbox} if sandbox else {}))
    pool = RayWorkerPool(setup, workers=args.workers, address=args.ray or None, num_cpus_per_worker=args.worker_cpus,
                         num_gpus_per_worker=gpus, log_to_driver=bool(getattr(args, "verbose", False)))
    return pool.start()


def solve_on_ray(args, pipeline, problems, budget, bad_lines, console, *, generator, models: dict,
                 needs_executor: bool, prover: dict | None = None, total: int | None = None) -> int:
    """``lemmaflow solve --ray``: the checks before this are solve's own; results table as in-process.

    ``generator``: the workers' generator factory; ``models``: role -> ModelSpec; ``needs_executor``:
    whether the pipeline runs model-written code (then each worker starts a ``--sandbox`` executor);
    ``prover``: for a proof-checking pipeline (whole_proof), the options of the warm prover pool each
    worker starts once (:func:`prover_options`), else None. ``problems``: any iterable, read lazily
    (``total``: its size if known, for the progress bar).
    """
    import asyncio

    from lemmaflow.agents.distributed import RayBatchRunner, RayUnavailable
    from lemmaflow.tools.datasets import InputError
    from lemmaflow.tools.datasets.readers import size_hint
    from lemmaflow.tools.keyset import KeySet

    from .cli_data import keyed, print_error
    from .report import ProgressReporter, print_final_table

    try:
        with console.status(f"starting {args.workers} Ray worker(s) ({args.backend})"):
            pool = make_pool(args, generator, library=args.library, sandbox=args.sandbox if needs_executor else None,
                             prover=prover)
    except RayUnavailable as e:
        console.print(f"[red]lemmaflow: {e}[/red]")
        return 2
    if total is None:
        total = size_hint(problems)
    reporter = ProgressReporter(console, total=total, enabled=not args.no_progress)
    keys = KeySet()  # the input's result keys, for the final table
    try:
        runner = RayBatchRunner(pipeline, pool, out_path=args.out, budget=budget, concurrency=args.concurrency,
                                trace_path=args.trace, models=models,
                                on_result=reporter.update,
                                coalesce_s=None if args.coalesce_ms is None else args.coalesce_ms / 1000)
        with reporter:
            summary = asyncio.run(runner.run(keyed(problems, runner, keys)))
            reporter.finish(summary)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: finished problems are saved in {args.out}; rerun to resume[/yellow]")
        return 130
    except InputError as e:
        print_error(console, "lemmaflow", f"cannot read problems: {e}; finished problems are saved in {args.out}")
        return 2
    except RayUnavailable as e:
        console.print(f"[red]lemmaflow: {e}[/red]")
        return 1
    finally:
        pool.close()
    summary.bad_lines = bad_lines
    if runner.requeued:
        console.print(f"[yellow]{runner.requeued} problem(s) moved to another worker after a worker died[/yellow]")
    print_final_table(args.out, keys, summary)
    return 0 if summary.failed == 0 else 1
