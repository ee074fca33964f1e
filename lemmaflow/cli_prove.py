"""``lemmaflow prove``: LEGO-Prover over a Coq dataset, growing a lemma library; resumable.

    lemmaflow prove --dataset minif2f-coq:valid --attempts 8 --library runs/lib.db --out runs/prove
    lemmaflow prove --dataset minif2f-coq:valid --attempts 1 --limit 2 --max-tokens 64 --out runs/tiny

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

__all__ = ["add_parser", "load_dataset", "prove_command"]

DATASETS = {"minif2f-coq": ("valid", "test", "all")}


def add_parser(subparsers) -> None:
    from .cli import add_backend_arguments

    p = subparsers.add_parser(
        "prove", help="prove Coq theorems with a growing lemma library (LEGO-Prover); resumable",
        description=("LEGO-Prover on a Coq dataset: retrieve verified lemmas, sketch, prove with helper lemmas, "
                     "check every lemma with real Coq, grow the library (verified helpers, requests), evolve it "
                     "between problems. Rerun the same command to resume after an interruption (kill -9 too)."))
    p.add_argument("--dataset", default="minif2f-coq:valid", help="minif2f-coq:valid | minif2f-coq:test | minif2f-coq:all")
    p.add_argument("--data-dir", help="benchmark data folder (default: $LEMMAFLOW_DATA or ../shared/data)")
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
    p.add_argument("--pool-size", type=int, default=2, help="warm Coq sessions")
    p.add_argument("--check-timeout", type=float, default=30.0, help="seconds per Coq check")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per step)")
    add_backend_arguments(p)
    p.set_defaults(handler=prove_command)


def load_dataset(spec: str, data_dir: str | None = None):
    """``minif2f-coq:valid`` -> the problems; ValueError for an unknown dataset or split."""
    from lemmaflow.tools.provers.minif2f import load_minif2f_coq

    name, _, split = spec.partition(":")
    split = split or "valid"
    if name not in DATASETS or split not in DATASETS[name]:
        known = ", ".join(f"{n}:{s}" for n, ss in DATASETS.items() for s in ss)
        raise ValueError(f"unknown dataset {spec!r}; known: {known}")
    return load_minif2f_coq(split, data_dir)  # type: ignore[arg-type]


def prove_command(args) -> int:
    from rich.console import Console

    from .engine_logs import quiet_engine_logs

    quiet_engine_logs(args.verbose)
    console = Console(stderr=True)
    try:
        problems = load_dataset(args.dataset, args.data_dir)
    except (ValueError, FileNotFoundError) as e:
        console.print(f"[red]lemmaflow: {e}[/red]")
        return 2
    if args.problems:
        wanted = set(args.problems)
        missing = wanted - {p.name for p in problems}
        if missing:
            console.print(f"[red]lemmaflow: no such problems in {args.dataset}: {', '.join(sorted(missing))}[/red]")
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
    from lemmaflow.tools.provers import ProverUnavailable
    from lemmaflow.tools.provers.coq import CoqProver

    try:
        config = ProveJobConfig(
            attempts=args.attempts, method=args.method, baseline=args.baseline, evolve_every=args.evolve_every,
            concurrency=args.concurrency,
            budget=Budget(max_completion_tokens=args.max_attempt_tokens) if args.max_attempt_tokens else None,
            prover=LegoProver.Config(repair_rounds=args.repair_rounds, max_tokens=args.max_tokens,
                                     sketch_max_tokens=min(args.max_tokens, 384), temperature=args.temperature,
                                     retrieve_k=args.retrieve_k, sketch=not args.no_sketch),
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
    coq = CoqProver(pool_size=args.pool_size, timeout_s=args.check_timeout)
    try:
        coq.start()
    except (ProverUnavailable, RuntimeError) as e:
        store.close()
        console.print(f"[red]lemmaflow: Coq is not available:[/red] {e}")
        return 2

    from .cli import make_generator
    from .engine_logs import loading_backend

    try:
        probe = ProveJob(problems, None, coq, store, args.out, config, dataset=args.dataset)
    except JobMismatch as e:
        coq.close()
        store.close()
        console.print(f"[red]lemmaflow: {e}[/red]")
        return 2
    if probe.pending() == 0:  # a finished job: report without starting a model
        console.print(f"nothing to do: all attempts are already in {args.out}/attempts.jsonl")
        backend = None
    else:
        try:
            with loading_backend(console, args):
                backend = make_generator(args)
        except BaseException:
            coq.close()
            store.close()
            raise
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]proving"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("proved lib {task.fields[lib]} / base {task.fields[base]}"),
                        TextColumn("library {task.fields[size]}"), TextColumn("reuse {task.fields[reuse]}"),
                        TextColumn("errors {task.fields[errors]}"), TimeElapsedColumn(),
                        console=console, disable=args.no_progress)
    bar = progress.add_task("prove", total=None, lib=0, base=0, size=0, reuse=0, errors=0)

    def on_step(row, state) -> None:
        progress.update(bar, total=state.total, completed=state.done,
                        lib=state.solved.get("whole_proof" if args.method == "whole_proof" else "library", 0),
                        base=state.solved.get("baseline", 0), size=state.library_size, reuse=state.reuse,
                        errors=state.errors)
        if args.no_progress:
            what = ("proved" if row.get("proved") else row.get("status")) if row["kind"] == "attempt" else "evolved"
            console.print(f"[{state.done}/{state.total}] {row['key']}: {what}"
                          + (f" (used {', '.join(row['used_names'])})" if row.get("used_names") else ""))

    try:
        job = ProveJob(problems, backend, coq, store, args.out, config, dataset=args.dataset, on_step=on_step)
    except JobMismatch as e:
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
