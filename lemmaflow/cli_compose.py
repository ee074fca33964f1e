"""``lemmaflow compose``: search Archon-style pipeline configurations on a dev set under a token budget.

Examples::

    lemmaflow compose examples/compose/archon_small.yaml --dev examples/problems/easy_arithmetic.jsonl \\
        --budget-tokens 200000 --out runs/compose
    lemmaflow compose space.yaml --dev gsm8k:50 --budget-tokens 5000000 --backend vllm \\
        --model Qwen/Qwen2.5-Math-1.5B-Instruct --max-tokens 512 --out runs/compose-qwen

Writes ``DIR/best.yaml`` (runnable: ``lemmaflow solve --pipeline DIR/best.yaml``),
``DIR/compose.md`` / ``.csv`` / ``.json`` (every configuration tried, accuracy with
a 95% Wilson interval, tokens) and ``DIR/compose.png``. Resumable: the Optuna
study is ``DIR/study.db`` and each configuration's results a JSONL under
``DIR/results/``; rerunning the command continues the search (raise
``--budget-tokens`` to search further). See :mod:`lemmaflow.agents.compose`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

__all__ = ["add_parser", "run_compose_command"]


def add_parser(subparsers) -> None:
    from .cli import add_backend_arguments, add_model_for_argument

    c = subparsers.add_parser(
        "compose",
        help="search Archon-style pipelines (layers, samples, scorers...) on a dev set under a token budget",
        description=(
            "Search the pipeline configurations a search-space YAML declares (generator, samples, optional "
            "critic/ranker/fuser layers, any config value as {choices: [...]}, {int: [lo, hi]} or "
            "{float: [lo, hi]}) with Optuna's TPE sampler, or TPE with successive halving (search: halving "
            "in the space). Each configuration runs on the dev problems; the search stops when the total "
            "tokens spent reach --budget-tokens. Writes DIR/best.yaml (a pipeline spec for lemmaflow solve "
            "--pipeline), DIR/compose.md, .csv, .json and .png. Resumable: rerun the same command to "
            "continue the study in DIR/study.db; finished problems are not solved again."
        ),
    )
    c.add_argument("space", help="search space YAML/JSON (see examples/compose/)")
    from .cli_data import add_problem_arguments

    src = add_problem_arguments(c, input_help="dev problems: a JSONL, .json, .csv or .parquet file or hf:ORG/NAME[:CONFIG]:SPLIT")
    src.add_argument("--dev", metavar="DATA", help="dev problems: a file (as --input) or a dataset (as --dataset)")
    c.add_argument("--budget-tokens", type=int, required=True, metavar="T",
                   help="total tokens (prompt + completion, every model, every configuration) the search may spend")
    c.add_argument("--out", required=True, metavar="DIR", help="study, results, best.yaml, table and plot (resumable)")
    c.add_argument("--limit", type=int, help="only the first N dev problems")
    c.add_argument("--max-trials", type=int, help="stop after this many trials (default: the space's max_trials)")
    c.add_argument("--search", choices=["tpe", "halving"], help="override the space's search")
    c.add_argument("--search-seed", type=int, help="override the space's sampler seed")
    c.add_argument("--max-tokens", type=int, help="max new tokens per call, set on every node of every configuration")
    add_backend_arguments(c)
    c.add_argument("--concurrency", type=int, default=256, help="problems in flight at once")
    c.add_argument("--max-total-tokens", type=int, help="budget cap per problem: prompt+completion tokens")
    c.add_argument("--sandbox", choices=["forkserver", "bwrap", "docker", "subprocess"], default="forkserver",
                   help="executor for configurations that run model-written code")
    add_model_for_argument(c)
    c.set_defaults(handler=run_compose_command)


def _load_dev(args):
    """``--dev`` is a file (as ``--input``) if it exists or looks like one, else a dataset spec."""
    from .cli_data import load_problems_from_args

    dev = args.dev
    if dev is None:
        return load_problems_from_args(args, limit=args.limit)
    is_file = Path(dev).exists() or dev.startswith("hf:") or dev.endswith((".jsonl", ".json", ".csv", ".parquet"))
    return load_problems_from_args(args, input=dev if is_file else None, dataset=None if is_file else dev,
                                   limit=args.limit)


def run_compose_command(args) -> int:
    from rich.console import Console

    from .engine_logs import quiet_engine_logs

    quiet_engine_logs(args.verbose)  # before anything imports vllm

    from lemmaflow.agents.budget import Budget
    from lemmaflow.agents.compose_space import SpaceError, load_space

    console = Console(stderr=True, soft_wrap=True)  # an error stays one line (no wrapping at 80 columns)
    try:
        import optuna  # noqa: F401
    except ImportError:
        console.print("[red]lemmaflow compose needs optuna:[/red] pip install 'lemmaflow[compose]' (or pip install optuna)")
        return 2
    try:
        space = load_space(args.space)
    except SpaceError as e:
        console.print(f"[red]lemmaflow compose: bad search space:[/red] {e}")
        return 2
    updates = {k: v for k, v in (("search", args.search), ("seed", args.search_seed)) if v is not None}
    if updates:
        space = space.model_copy(update=updates)
    if args.budget_tokens <= 0:
        console.print("[red]lemmaflow compose: --budget-tokens must be positive[/red]")
        return 2
    from .cli_data import print_error, report_skipped

    try:
        loaded = _load_dev(args)
    except (OSError, ValueError) as e:
        print_error(console, "lemmaflow compose", f"cannot load dev problems: {e}")
        return 2
    report_skipped(console, loaded)
    problems = loaded.problems
    ungraded = [p.id for p in problems if p.gold is None]
    if ungraded:
        console.print(f"[red]lemmaflow compose: dev problems need gold answers; none for:[/red] {', '.join(ungraded[:5])}")
        return 2
    if not problems:
        console.print("[red]lemmaflow compose: no valid dev problems[/red]")
        return 2

    from lemmaflow.agents.backends.factory import parse_model_arg
    from lemmaflow.agents.compose import BatchEvaluator, Composer, write_compose_outputs
    from lemmaflow.tools.answers import AnswerChecker

    from .cli import close_models, make_generator
    from .engine_logs import loading_backend

    try:  # before loading anything: a typo should not cost an engine start
        roles = dict(parse_model_arg(a) for a in args.model_for)
        if "generator" in roles:
            raise ValueError("role 'generator' is the generator itself: set it with --backend/--model/--base-url")
    except ValueError as e:
        console.print(f"[red]lemmaflow compose: bad --model-for:[/red] {e}")
        return 2
    with loading_backend(console, args):
        backend = make_generator(args)
    models: dict = {}
    executor = None
    out = Path(args.out)
    try:
        from lemmaflow.agents.backends.factory import make_model

        try:
            for role, spec in roles.items():
                models[role] = make_model(spec, generator=backend)
        except (ValueError, RuntimeError) as e:
            console.print(f"[red]lemmaflow compose: bad --model-for:[/red] {e}")
            return 2
        if _space_runs_code(space):
            from lemmaflow.sandboxes import SandboxUnavailable, make_executor

            try:
                executor = make_executor(args.sandbox)
                executor.start()
            except SandboxUnavailable as e:
                console.print(f"[red]lemmaflow compose: sandbox {args.sandbox!r} unavailable:[/red] {e}")
                return 2

        def on_trial(rec, spent: int) -> None:
            acc = "" if rec.row is None or rec.row.accuracy is None else f" accuracy {rec.row.accuracy:.3f}"
            toks = "" if rec.row is None else f", {rec.row.mean_tokens:.0f} tok/problem"
            err = f" ({rec.error})" if rec.error else ""
            console.print(f"trial {rec.number} {rec.state}: {rec.description or rec.params}{acc}{toks}; "
                          f"spent {spent}/{args.budget_tokens}{err}")

        with AnswerChecker() as checker:
            evaluator = BatchEvaluator(
                backend, checker, out, budget=Budget(max_total_tokens=args.max_total_tokens),
                models=models, executor=executor, concurrency=args.concurrency,
            )
            composer = Composer(space, evaluator, problems, budget_tokens=args.budget_tokens, out_dir=out,
                                overrides={"max_tokens": args.max_tokens}, max_trials=args.max_trials,
                                model=getattr(backend, "model_id", "?"), on_trial=on_trial)
            try:
                report = asyncio.run(composer.run())
            except KeyboardInterrupt:
                console.print(f"[yellow]interrupted: the study and finished problems are saved under {out}; "
                              "rerun the same command to resume[/yellow]")
                return 130
    finally:
        close_models(models, backend)
        close = getattr(backend, "close", None)
        if close:
            close()
        if executor is not None:
            executor.close()

    paths = write_compose_outputs(report, out)
    print(paths["md"].read_text(), end="")
    best = report.best_trial()
    if best is None:
        console.print("[red]lemmaflow compose: no configuration completed the dev set (see compose.md)[/red]")
        return 1
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
    console.print(f"run the best: lemmaflow solve --pipeline {paths['best']} --input PROBLEMS.jsonl --out RESULTS.jsonl")
    return 0


def _space_runs_code(space) -> bool:
    """Could a configuration of the space run model-written code (a generator such as tora or pot)?"""
    from lemmaflow.agents.compose_space import ChoiceParam
    from lemmaflow.agents.spec import default_registry

    reg = default_registry()
    types = space.generator.type.choices if isinstance(space.generator.type, ChoiceParam) else [space.generator.type]
    return any(getattr(reg.get(t), "needs_executor", False) for t in types)
