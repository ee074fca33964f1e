"""``lemmaflow bench``: several pipelines, same problems and model, accuracy against tokens spent.

Examples::

    lemmaflow bench --dataset gsm8k:50 --pipelines sc,cot,tora --n 4 --max-tokens 256 --out runs/bench
    lemmaflow bench --dataset folio --pipelines linc,sc --out runs/bench-folio
    lemmaflow bench --input problems.jsonl --pipeline my_search.yaml --pipeline cot --backend vllm \\
        --model Qwen/Qwen2.5-Math-1.5B-Instruct --out runs/bench-qwen

Writes ``DIR/bench.md`` (table), ``DIR/bench.png`` (plot), ``DIR/bench.json`` and one
results JSONL per pipeline under ``DIR/results/`` (a rerun skips finished problems).
See :mod:`lemmaflow.agents.bench` for how self-consistency is matched to each
pipeline's token spend.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Sequence

__all__ = ["add_parser", "load_bench_problems", "sample_count"]


def add_parser(subparsers) -> None:
    from .cli import BUILTIN_PIPELINES, add_backend_arguments, add_model_for_argument

    b = subparsers.add_parser(
        "bench",
        help="run several pipelines on the same problems and model; accuracy vs tokens (table + plot, resumable)",
        description=(
            "Run several pipelines on the same problems with the same model, then self-consistency matched to "
            "each pipeline's mean token spend. Reports accuracy (95%% Wilson interval) against mean tokens per "
            "problem in DIR/bench.md, DIR/bench.png and DIR/bench.json. Resumable: results go to one JSONL per "
            "pipeline under DIR/results/, and rerunning the same command skips finished problems."
        ),
    )
    from .cli_data import add_problem_arguments

    add_problem_arguments(b)
    b.add_argument("--out", required=True, metavar="DIR", help="bench folder (results, table, plot; resumable)")
    b.add_argument("--pipelines", default="", help=f"comma-separated built-ins ({', '.join(BUILTIN_PIPELINES)}) or spec paths")
    b.add_argument("--pipeline", action="append", default=[], help="one more pipeline (repeatable)")
    b.add_argument("--limit", type=int, help="only the first N problems")
    b.add_argument("--n", type=int, help="samples per problem (nodes with an `n` field; `k` of vote nodes)")
    b.add_argument("--temperature", type=float)
    b.add_argument("--max-tokens", type=int, help="max new tokens per sample")
    b.add_argument("--set", action="append", default=[], metavar="NODE.FIELD=VALUE",
                   help="override a node config field in every pipeline that has a node of that name")
    add_backend_arguments(b)
    b.add_argument("--sc-baseline", default="sc", help="the self-consistency pipeline matched to each pipeline's spend")
    b.add_argument("--sc-n", type=int, help="samples of the reference SC run that measures SC's cost (default: --n or the spec's)")
    b.add_argument("--no-sc-matching", action="store_true", help="skip the self-consistency rows")
    b.add_argument("--max-matched-n", type=int, default=64, help="most samples a matched SC row may draw")
    b.add_argument("--concurrency", type=int, default=256, help="problems in flight at once")
    b.add_argument("--max-samples", type=int, help="budget cap per problem: samples")
    b.add_argument("--max-total-tokens", type=int, help="budget cap per problem: prompt+completion tokens")
    b.add_argument("--max-completion-tokens", type=int, help="budget cap per problem: completion tokens")
    b.add_argument("--max-llm-calls", type=int, help="budget cap per problem: LLM calls")
    b.add_argument("--max-wall-s", type=float, help="budget cap per problem: seconds")
    b.add_argument("--sandbox", choices=["forkserver", "bwrap", "docker", "subprocess"], default="forkserver",
                   help="executor for pipelines that run model-written code")
    b.add_argument("--traces", action="store_true", help="save every problem's trace under DIR/traces/<pipeline>.jsonl")
    b.add_argument("--no-progress", action="store_true", help="no progress bars (one line per problem)")
    add_model_for_argument(b)
    from .cli_ray import add_ray_arguments

    add_ray_arguments(b)
    b.set_defaults(handler=run_bench_command)


def load_bench_problems(args) -> tuple[list, list[tuple[int, str]]]:
    """Problems from ``--input`` or ``--dataset NAME[:SPLIT][:LIMIT]``; returns (problems, bad input rows)."""
    from .cli_data import load_problems_from_args

    loaded = load_problems_from_args(args, limit=args.limit)
    return loaded.problems, loaded.errors


def _labels(names: Sequence[str]) -> list[str]:
    """Table labels: a built-in's name, a spec file's stem; repeated labels get a suffix."""
    from .cli import BUILTIN_PIPELINES

    out: list[str] = []
    for name in names:
        base = name if name in BUILTIN_PIPELINES else Path(name).stem
        label, i = base, 2
        while label in out:
            label, i = f"{base}-{i}", i + 1
        out.append(label)
    return out


def _resolve(name: str, overrides: dict[str, Any], sets: Sequence[str]):
    """resolve_pipeline, with ``--set`` items applied only to pipelines that have that node."""
    from .cli import resolve_pipeline

    plain = resolve_pipeline(name, overrides)
    names = set(plain.graph.nodes)
    mine = [s for s in sets if s.partition("=")[0].partition(".")[0] in names]
    return resolve_pipeline(name, overrides, mine) if mine else plain


def sample_count(pipeline) -> int | None:
    """The sample count of a voting pipeline: the first node config with ``n`` (SC) or ``k`` (vote)."""
    for _, data in pipeline.graph.nodes(data=True):
        cfg = data["node"].config
        for field in ("n", "k"):
            if isinstance(getattr(cfg, field, None), int):
                return getattr(cfg, field)
    return None


def run_bench_command(args) -> int:
    from rich.console import Console

    from .engine_logs import quiet_engine_logs

    quiet_engine_logs(args.verbose)  # before anything imports vllm

    from lemmaflow.agents.bench import Bench, BenchPipeline, plot_report, render_markdown, table_rows
    from lemmaflow.agents.budget import Budget
    from lemmaflow.agents.spec import SpecError
    from lemmaflow.tools.answers import AnswerChecker

    from .cli import build_models, close_models, make_generator, pipeline_needs_executor
    from .engine_logs import loading_backend
    from .report import ProgressReporter

    console = Console(stderr=True, soft_wrap=True)  # an error stays one line (no wrapping at 80 columns)
    names = [p.strip() for p in args.pipelines.split(",") if p.strip()] + list(args.pipeline)
    if not names:
        console.print("[red]lemmaflow bench: name at least one pipeline (--pipelines a,b or --pipeline X)[/red]")
        return 2
    overrides = {"n": args.n, "temperature": args.temperature, "max_tokens": args.max_tokens}
    try:
        pipelines = [(label, _resolve(name, overrides, args.set)) for label, name in zip(_labels(names), names)]
        sc_factory = None
        sc_n = None
        if not args.no_sc_matching:
            def sc_factory(n: int):
                return _resolve(args.sc_baseline, {**overrides, "n": n}, args.set)

            sc_n = args.sc_n or sample_count(_resolve(args.sc_baseline, overrides, args.set))
            if sc_n is None:
                raise ValueError(f"--sc-baseline {args.sc_baseline!r} has no node with a sample count (n or k)")
            sc_factory(sc_n)  # fail now, not after the other pipelines ran
    except (SpecError, ValueError) as e:
        console.print(f"[red]lemmaflow bench: bad pipeline:[/red] {e}")
        return 2
    unknown_sets = [s for s in args.set if not any(
        s.partition("=")[0].partition(".")[0] in p.graph.nodes for _, p in pipelines)]
    if unknown_sets:
        console.print(f"[red]lemmaflow bench: --set names a node no pipeline has:[/red] {', '.join(unknown_sets)}")
        return 2
    from .cli_data import open_problems_from_args, print_error

    # Read lazily, and again for each pipeline (a JSONL/CSV/Parquet --input is never held whole);
    # bad rows are reported once, when first met.
    try:
        loaded = open_problems_from_args(args, console, limit=args.limit)
        has_problems = loaded.first() is not None
    except (OSError, ValueError) as e:
        print_error(console, "lemmaflow bench", f"cannot load problems: {e}")
        return 2
    problems = loaded.problems
    if not has_problems:
        console.print("[red]lemmaflow bench: no valid problems[/red]")
        return 2
    budget = Budget(
        max_samples=args.max_samples, max_total_tokens=args.max_total_tokens, max_wall_s=args.max_wall_s,
        max_completion_tokens=args.max_completion_tokens, max_llm_calls=args.max_llm_calls,
    )

    ray_kwargs: dict = {}
    if args.ray is not None:  # workers build the engine, models and executor; the pool stands in for the backend
        from lemmaflow.agents.distributed import RayBatchRunner, RayUnavailable

        import functools

        from .cli import make_worker_generator, model_specs
        from .cli_ray import backend_options, make_pool

        try:
            specs = {label: model_specs(pipe, args.model_for) for label, pipe in pipelines}
            with console.status(f"starting {args.workers} Ray worker(s) ({args.backend})"):
                backend = make_pool(args, functools.partial(make_worker_generator, backend_options(args)),
                                    sandbox=args.sandbox)
        except (ValueError, RayUnavailable) as e:
            console.print(f"[red]lemmaflow bench: {e}[/red]")
            return 2
        ray_kwargs = {"runner_cls": RayBatchRunner}
    else:
        with loading_backend(console, args):
            backend = make_generator(args)
    all_models: list[dict] = []
    executor = None
    try:
        bench_pipes = []
        for label, pipe in pipelines:
            try:
                models = specs[label] if ray_kwargs else build_models(pipe, args.model_for, backend)
            except ValueError as e:
                console.print(f"[red]lemmaflow bench: bad --model-for / models: in {label}:[/red] {e}")
                return 2
            all_models.append(models)
            bench_pipes.append(BenchPipeline(label, pipe, models))
        if not ray_kwargs and any(pipeline_needs_executor(p) for _, p in pipelines):
            from lemmaflow.sandboxes import SandboxUnavailable, make_executor

            try:
                executor = make_executor(args.sandbox)
                executor.start()
            except SandboxUnavailable as e:
                console.print(f"[red]lemmaflow bench: sandbox {args.sandbox!r} unavailable:[/red] {e}")
                return 2

        reporter: list[ProgressReporter] = []

        def on_start(label: str, total: int) -> None:
            r = ProgressReporter(console, total=total, enabled=not args.no_progress, label=label)
            r.__enter__()
            reporter[:] = [r]

        def on_end(label: str, summary) -> None:
            reporter[0].__exit__(None, None, None)
            console.print(f"{label}: {summary.done} solved now, {summary.skipped} already done, "
                          f"{summary.failed} failed")

        out = Path(args.out)
        with AnswerChecker() as checker:
            bench = Bench(
                bench_pipes, sc_pipeline=sc_factory, sc_reference_n=sc_n or 1, backend=backend, checker=checker,
                out_dir=out, budget=budget, max_matched_n=args.max_matched_n,
                trace_dir=out / "traces" if args.traces else None,
                on_start=on_start, on_result=lambda res, s: reporter[0].update(res, s), on_end=on_end,
                concurrency=args.concurrency, executor=executor, **ray_kwargs,
            )
            try:
                report = asyncio.run(bench.run(problems))
            except KeyboardInterrupt:
                console.print(f"[yellow]interrupted: finished problems are saved under {out}/results; "
                              "rerun to resume[/yellow]")
                return 130
            except ValueError as e:  # e.g. the SC reference drew no samples; an input that broke mid-way
                print_error(console, "lemmaflow bench", str(e))
                return 1
    finally:
        for models in all_models:
            close_models(models, backend)
        close = getattr(backend, "close", None)
        if close:
            close()
        if executor is not None:
            executor.close()

    (out / "bench.json").write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    (out / "bench.md").write_text(render_markdown(report))
    plot_report(report, out / "bench.png")
    _print_table(report, table_rows(report))
    Console().print(f"wrote {out / 'bench.md'}, {out / 'bench.png'}, {out / 'bench.json'}")
    return 0 if all(r.failed == 0 for r in report.rows) else 1


def _print_table(report, rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"lemmaflow bench: {report.problems} problems, {report.model}")
    for col in rows[0]:
        table.add_column(col)
    for r in rows[1:]:
        table.add_row(*r)
    Console(width=200).print(table)
