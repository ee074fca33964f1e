"""``lemmaflow prove``: LEGO-Prover over a Coq or Lean 4 dataset, growing a lemma library; resumable.

    lemmaflow prove --dataset minif2f-coq:valid --attempts 8 --library runs/lib.db --out runs/prove
    lemmaflow prove --dataset minif2f-coq:valid --attempts 1 --limit 2 --max-tokens 64 --out runs/tiny
    lemmaflow prove --input my_theorems/ --attempts 4 --out runs/mine      # .v files, one Theorem each
    LEMMAFLOW_LEAN_REPL="lake env .../repl" lemmaflow prove --dataset minif2f-lean4:valid --out runs/lean

The dataset decides the prover: ``minif2f-coq`` runs on the warm Coq pool,
``minif2f-lean4`` on the Lean REPL pool (``$LEMMAFLOW_LEAN_REPL``, see
docs/proving-lean.md). The prover's versions are printed, recorded in the
report and the trace (``OUT/trace.jsonl``); ``--version-mismatch`` says what
happens to library lemmas verified under other versions (default ``exclude``).

Kill it at any time (Ctrl-C, ``kill -9``) and rerun the same command: finished
attempts are kept in ``OUT/attempts.jsonl`` and skipped. The no-library
baseline runs beside it at equal attempts and per-attempt token limits
(``--no-baseline`` turns it off). ``OUT/report.md`` and ``OUT/report.json`` hold
solved problems over attempts for both arms, library growth and lemma reuse.
See :mod:`lemmaflow.agents.proving.job` (LEGO-Prover, arXiv 2310.00656).
"""

from __future__ import annotations

import argparse
import asyncio
import os

__all__ = ["add_parser", "dataset_language", "load_dataset", "make_prover", "prove_command"]

PROVE_KINDS = ("coq", "lean4")  # registry kinds this command proves (lemmaflow data ls)


def add_parser(subparsers) -> None:
    from .cli import add_backend_arguments

    p = subparsers.add_parser(
        "prove", help="prove Coq or Lean 4 theorems with a growing lemma library (LEGO-Prover); resumable",
        description=("LEGO-Prover on a Coq or Lean 4 dataset: retrieve verified lemmas, sketch, prove with helper "
                     "lemmas, check every lemma with the real prover (Coq pool; Lean REPL pool from "
                     "$LEMMAFLOW_LEAN_REPL), grow the library (verified helpers, requests), evolve it between "
                     "problems. Rerun the same command to resume after an interruption (kill -9 too)."))
    from .cli_data import add_data_dir_argument

    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", default="minif2f-coq:valid", metavar="NAME[:SPLIT][:LIMIT]",
                     help="minif2f-coq:valid|test|all (Coq) or minif2f-lean4:valid|test|all (Lean 4); "
                          "fetched into the cache on first use")
    src.add_argument("--input", metavar="PATH", help="a Coq .v file or a folder of them: one Theorem named like its file")
    add_data_dir_argument(p)
    p.add_argument("--attempts", type=int, default=1, help="attempts per problem (pass@N)")
    p.add_argument("--library", default=os.environ.get("LEMMAFLOW_LIBRARY", "runs/library.db"),
                   help="lemma library: file path, sqlite:///path.db or postgresql://... (default: runs/library.db)")
    p.add_argument("--embedder", help="embedder for a new library (minilm-l6-v2 or hashing-<dim>)")
    p.add_argument("--limit", type=int, help="only the first K problems")
    p.add_argument("--problems", nargs="+", metavar="NAME", help="only these problems")
    p.add_argument("--out", required=True, help="output folder: checkpoints (attempts.jsonl), report.md/json")
    p.add_argument("--method", choices=["lego", "whole_proof"], default="lego",
                   help="lego: LEGO-Prover with the library (+ the no-library baseline); whole_proof: DeepSeek-Prover "
                        "whole-proof sampling with truncate-and-resume (no library), the equal-tokens baseline")
    p.add_argument("--samples", type=int, default=8, help="whole_proof: complete proofs sampled per attempt")
    p.add_argument("--resumes", type=int, default=1, help="whole_proof: truncate-and-resume rounds per failed proof")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the no-library baseline at equal attempts (default: on)")
    p.add_argument("--repair-rounds", type=int, default=1, help="repair rounds with Coq's messages per attempt")
    p.add_argument("--max-tokens", type=int, default=1024, help="max new tokens per model call")
    p.add_argument("--max-attempt-tokens", type=int,
                   help="budget per attempt: completion tokens over sketch, proof and repairs (both arms alike)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--retrieve-k", type=int, default=4, help="library lemmas shown per problem")
    p.add_argument("--no-sketch", action="store_true", help="skip the informal sketch")
    p.add_argument("--evolve-every", type=int, default=1, help="evolver step after every K library attempts (0: off)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="problems in flight at once (1: the library grows problem by problem)")
    p.add_argument("--pool-size", type=int, default=2, help="warm prover processes (Coq sessions / Lean REPLs)")
    p.add_argument("--check-timeout", type=float, default=30.0, help="seconds per check")
    p.add_argument("--version-mismatch", choices=["exclude", "warn", "error"], default="exclude",
                   help="library lemmas verified under other prover versions (Coq / Lean, Mathlib, REPL): "
                        "exclude (default: not shown, counted in the report), warn (shown, with a warning), "
                        "error (refuse to run)")
    p.add_argument("--unconfined-prover", action="store_true",
                   help="run the prover WITHOUT its confinement (where bwrap cannot run): proof texts get your "
                        "full rights; recorded in the report and trace (docs/prover-confinement.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per step)")
    add_backend_arguments(p)
    from .cli_ray import add_ray_arguments

    add_ray_arguments(p)  # with --ray, --concurrency stays the problems in flight across all workers
    p.set_defaults(handler=prove_command)


def dataset_language(spec: str) -> str:
    """The proof language of a dataset spec (``coq`` / ``lean4``, from the registry); ValueError otherwise."""
    from lemmaflow.tools.datasets import get_dataset, parse_dataset_spec

    kind = get_dataset(parse_dataset_spec(spec).name).kind
    if kind not in PROVE_KINDS:
        raise ValueError(f"lemmaflow prove runs on Coq datasets (minif2f-coq[:valid|test|all]) and Lean 4 datasets "
                         f"(minif2f-lean4[:valid|test|all]); {spec.partition(':')[0]} is {kind}")
    return kind


def load_dataset(spec: str, data_dir: str | None = None):
    """``minif2f-coq:valid[:LIMIT]`` / ``minif2f-lean4:test`` -> the problems (registry); ValueError for an
    unknown dataset or split."""
    from lemmaflow.tools.datasets import load_dataset as load_registered

    dataset_language(spec)  # the one check that the dataset is a proving one
    return load_registered(spec, data_dir=data_dir)


def load_input(path: str):
    """Coq problems from a ``.v`` file or a folder of them (the theorem is named like its file)."""
    from pathlib import Path

    from lemmaflow.tools.provers.minif2f import parse_coq_problem

    p = Path(path)
    files = sorted(p.glob("*.v")) if p.is_dir() else [p]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f"{path}: no .v file here")
    return [parse_coq_problem(f.read_text(encoding="utf-8"), f.stem, "input", str(f)) for f in files]


def make_prover(language: str, pool_size: int, timeout_s: float, **options):
    """The prover for a language: the warm Coq pool, or the Lean REPL pool ($LEMMAFLOW_LEAN_REPL).

    ``options``: further config fields of that prover (the same for both where both have them)."""
    if language == "lean4":
        from lemmaflow.tools.provers.lean import LeanProver

        return LeanProver(pool_size=pool_size, timeout_s=timeout_s, **options)
    from lemmaflow.tools.provers.coq import CoqProver

    return CoqProver(pool_size=pool_size, timeout_s=timeout_s, **options)


def prove_command(args) -> int:
    from rich.console import Console

    from .engine_logs import quiet_engine_logs

    quiet_engine_logs(args.verbose)
    console = Console(stderr=True, soft_wrap=True)  # an error stays one line (no wrapping at 80 columns)
    try:
        problems = load_input(args.input) if args.input else load_dataset(args.dataset, args.data_dir)
    except (ValueError, OSError) as e:
        from .cli_data import print_error

        print_error(console, "lemmaflow prove", e)
        return 2
    if args.problems:
        wanted = set(args.problems)
        missing = wanted - {p.name for p in problems}
        if missing:
            console.print(f"[red]lemmaflow: no such problems in {args.input or args.dataset}: {', '.join(sorted(missing))}[/red]")
            return 2
        problems = [p for p in problems if p.name in wanted]
    if args.limit:
        problems = problems[: args.limit]

    from lemmaflow.agents.budget import Budget
    from lemmaflow.agents.proving.evolver import Evolver
    from lemmaflow.agents.proving.job import JobMismatch, ProveJob, ProveJobConfig
    from lemmaflow.agents.proving.lego import LegoProver
    from lemmaflow.agents.proving.whole_proof import WholeProof
    from lemmaflow.skills_library import make_embedder, open_store
    from lemmaflow.agents.proving.library import VersionMismatch
    from lemmaflow.tools.provers import ProverUnavailable

    try:
        config = ProveJobConfig(
            attempts=args.attempts, method=args.method, baseline=args.baseline, evolve_every=args.evolve_every,
            concurrency=args.concurrency,
            budget=Budget(max_completion_tokens=args.max_attempt_tokens) if args.max_attempt_tokens else None,
            prover=LegoProver.Config(repair_rounds=args.repair_rounds, max_tokens=args.max_tokens,
                                     sketch_max_tokens=min(args.max_tokens, 384), temperature=args.temperature,
                                     retrieve_k=args.retrieve_k, sketch=not args.no_sketch,
                                     version_mismatch=args.version_mismatch),
            evolver=Evolver.Config(max_tokens=args.max_tokens, temperature=args.temperature),
            whole_proof=WholeProof.Config(samples=args.samples, parallel=min(args.samples, 4), resumes=args.resumes,
                                          max_tokens=args.max_tokens, temperature=args.temperature,
                                          check_timeout_s=args.check_timeout))
    except ValueError as e:
        console.print(f"[red]lemmaflow: bad options:[/red] {e}")
        return 2
    try:
        store = open_store(args.library, embedder=make_embedder(args.embedder) if args.embedder else None)
    except Exception as e:  # bad URL, server down, schema too new
        console.print(f"[red]lemmaflow: cannot open library {args.library}:[/red] {e}")
        return 2
    language = "coq" if args.input else dataset_language(args.dataset)  # --input reads Coq .v files
    on_ray = args.ray is not None  # then each worker runs its own prover pool, not this process
    # the prover of the dataset's language
    coq = make_prover(language, args.pool_size, args.check_timeout, confine=not args.unconfined_prover)
    try:
        if not on_ray:
            coq.start()
    except (ProverUnavailable, RuntimeError, OSError) as e:
        store.close()
        console.print(f"[red]lemmaflow: {'Lean' if language == 'lean4' else 'Coq'} is not available:[/red] {e}")
        return 2
    if args.unconfined_prover:
        console.print(f"[yellow]warning: --unconfined-prover: {'Lean' if language == 'lean4' else 'Coq'} runs the model's proof texts with your full "
                      "file-system and network rights[/yellow]")

    from .cli import make_generator
    from .engine_logs import loading_backend

    try:
        probe = ProveJob(problems, None, coq, store, args.out, config, dataset=args.input or args.dataset)
    except (JobMismatch, VersionMismatch) as e:
        coq.close()
        store.close()
        console.print(f"[red]lemmaflow: {e}[/red]")
        return 2
    console.print("prover: " + (", ".join(f"{k} {v}" for k, v in probe.versions.items()) or "versions unknown"))
    if probe.version_warning():
        console.print(f"[yellow]warning: {probe.version_warning()}[/yellow]")
    if probe.pending() == 0:  # a finished job: report without starting a model
        console.print(f"nothing to do: all attempts are already in {args.out}/attempts.jsonl")
        backend = None
    else:
        try:
            if on_ray:  # the pool stands in for the backend: workers hold the engines
                import functools

                from .cli import make_worker_generator
                from .cli_ray import backend_options, make_pool

                with console.status(f"starting {args.workers} Ray worker(s) ({args.backend})"):
                    backend = make_pool(args, functools.partial(make_worker_generator, backend_options(args)),
                                        library=args.library,
                                        prover={"pool_size": args.pool_size, "timeout_s": args.check_timeout,
                                                "language": language, "confine": not args.unconfined_prover})
            else:
                with loading_backend(console, args):
                    backend = make_generator(args)
        except BaseException as e:
            coq.close()
            store.close()
            from lemmaflow.agents.distributed.ray_runner import RayUnavailable

            if isinstance(e, RayUnavailable):
                console.print(f"[red]lemmaflow: {e}[/red]")
                return 2
            raise
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("[bold]proving"), BarColumn(), MofNCompleteColumn(),
               TextColumn("proved lib {task.fields[lib]} / base {task.fields[base]}"),
               TextColumn("library {task.fields[size]}"), TextColumn("reuse {task.fields[reuse]}"),
               TextColumn("errors {task.fields[errors]}")]
    if probe.mismatches:  # the library holds lemmas of other prover versions: keep saying so
        columns.append(TextColumn(f"[yellow]other-version lemmas {{task.fields[vmis]}} ({args.version_mismatch})"))
    progress = Progress(*columns, TimeElapsedColumn(), console=console, disable=args.no_progress)
    bar = progress.add_task("prove", total=None, lib=0, base=0, size=0, reuse=0, errors=0, vmis=0)

    def on_step(row, state) -> None:
        solved_arm = "whole_proof" if args.method == "whole_proof" else "library"
        progress.update(bar, total=state.total, completed=state.done, lib=state.solved.get(solved_arm, 0),
                        base=state.solved.get("baseline", 0), size=state.library_size, reuse=state.reuse,
                        errors=state.errors, vmis=state.version_mismatch)
        if args.no_progress:
            what = ("proved" if row.get("proved") else row.get("status")) if row["kind"] == "attempt" else "evolved"
            vm = row.get("version_mismatch") or []
            console.print(f"[{state.done}/{state.total}] {row['key']}: {what}"
                          + (f" (used {', '.join(row['used_names'])})" if row.get("used_names") else "")
                          + (f" ({len(vm)} library lemmas of other prover versions "
                             f"{'left out' if row.get('version_excluded') else 'SHOWN'})" if vm else ""))

    try:
        if on_ray and backend is not None:
            from lemmaflow.agents.distributed import RayProveJob

            job = RayProveJob(problems, backend, store, args.out, config, dataset=args.input or args.dataset,
                              on_step=on_step)
        else:
            job = ProveJob(problems, backend, coq, store, args.out, config, dataset=args.input or args.dataset,
                           on_step=on_step)
    except (JobMismatch, VersionMismatch) as e:
        for close in (getattr(backend, "close", None), coq.close, store.close):
            if close:
                close()
        console.print(f"[red]lemmaflow: {e}[/red]")
        return 2
    code = 0
    try:
        with progress:
            asyncio.run(job.run())
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: finished attempts are saved in {args.out}; rerun to resume[/yellow]")
        code = 130
    finally:
        try:
            report = job.write_report()
        finally:
            close = getattr(backend, "close", None)
            if close:
                close()
            coq.close()
            store.close()
    from lemmaflow.agents.proving.job import render_markdown

    print(render_markdown(report))
    print(f"report: {args.out}/report.md, {args.out}/report.json; checkpoints: {args.out}/attempts.jsonl")
    return code
