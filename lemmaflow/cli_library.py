"""``lemmaflow library ...``: inspect and manage a skill library (lemmas and tools).

    lemmaflow library ls [--kind tool] [--status verified] [--library runs/library.db]
    lemmaflow library show 12
    lemmaflow library search "greatest common divisor" -k 5 --kind tool
    lemmaflow library rm 12 13
    lemmaflow library export lib.jsonl        # '-' for stdout
    lemmaflow library import lib.jsonl        # deduplicates
    lemmaflow library stats [--json]
    lemmaflow library make-tools --from runs/pot.jsonl --library lib.db   # tools from solved problems

``--library`` takes a file path, ``sqlite:///path.db`` or ``postgresql://...``; the default is
``$LEMMAFLOW_LIBRARY`` or ``runs/library.db``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["add_parser", "DEFAULT_LIBRARY"]

DEFAULT_LIBRARY = "runs/library.db"


def add_parser(subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", default=os.environ.get("LEMMAFLOW_LIBRARY", DEFAULT_LIBRARY),
                        help="library URL: a file path, sqlite:///path.db or postgresql://... "
                             f"(default: $LEMMAFLOW_LIBRARY or {DEFAULT_LIBRARY})")
    common.add_argument("--embedder", help="embedder for a new library: minilm-l6-v2 (default when installed) or "
                                           "hashing-<dim>; an existing library keeps the one it was made with")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--kind", choices=["lemma", "tool"])
    filters.add_argument("--language", choices=["coq", "lean4", "python"])
    filters.add_argument("--status", choices=["pending", "verified", "failed", "demoted", "requested"])

    p = subparsers.add_parser("library", help="the skill library: ls, show, search, rm, export, import, stats, make-tools",
                              description="Inspect and manage a persistent skill library (lemmas and tools).")
    sub = p.add_subparsers(dest="library_command", metavar="ACTION", required=True)
    s = sub.add_parser("ls", parents=[common, filters], help="list entries")
    s.add_argument("--limit", type=int, default=100)
    s.add_argument("--offset", type=int, default=0)
    s = sub.add_parser("show", parents=[common], help="one entry in full, with its reuse counts")
    s.add_argument("id", type=int)
    s = sub.add_parser("search", parents=[common, filters], help="hybrid full-text + embedding search")
    s.add_argument("query")
    s.add_argument("-k", type=int, default=5)
    s.add_argument("--mode", choices=["hybrid", "keyword", "vector"], default="hybrid")
    s = sub.add_parser("rm", parents=[common], help="remove entries by id")
    s.add_argument("ids", type=int, nargs="+")
    s = sub.add_parser("export", parents=[common, filters], help="write entries as JSONL ('-': stdout)")
    s.add_argument("path")
    s = sub.add_parser("import", parents=[common], help="add entries from JSONL, skipping duplicates")
    s.add_argument("path")
    s = sub.add_parser("stats", parents=[common], help="size, growth, reuse and share of solved problems using it")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s = sub.add_parser(
        "make-tools", parents=[common], help="create tested tools from the solved problems of a run (CRAFT)",
        description="Abstract a general, tested Python tool from each solved problem (CRAFT, arXiv 2309.17428): "
                    "--from is a `lemmaflow solve` results file (rows graded correct are used) or a problems "
                    "file with gold answers. Tools run against their tests in the sandbox; only passing, "
                    "non-duplicate tools are stored. Then: lemmaflow solve --pipeline tool_user --library LIB.")
    s.add_argument("--from", dest="source", required=True, help="results JSONL of a run, or problems JSONL with answers")
    s.add_argument("--out", help="one JSON row per problem: outcome, tool id/name, error")
    s.add_argument("--limit", type=int, help="only the first N solved problems")
    s.add_argument("--max-tokens", type=int, default=512, help="max new tokens per reply")
    s.add_argument("--temperature", type=float, default=0.0)
    s.add_argument("--retries", type=int, default=1, help="new replies after a malformed one or failing tests")
    s.add_argument("--concurrency", type=int, default=16, help="problems in flight at once")
    s.add_argument("--sandbox", choices=["forkserver", "bwrap", "docker", "subprocess"], default="forkserver",
                   help="where tools run against their tests")
    s.add_argument("--trace", help="append the maker's trace events (prompts, replies, test logs) to this JSONL")
    from .cli import add_backend_arguments

    add_backend_arguments(s)
    p.set_defaults(handler=_run)


def _open(url: str, create: bool, embedder: str | None = None):
    from lemmaflow.skills_library import make_embedder, open_store

    if not create and "://" not in url and not Path(url).exists():
        raise FileNotFoundError(f"no library at {url} (pass --library, or import/add entries first)")
    if url.startswith("sqlite:///") and not create and not Path(url[len("sqlite:///"):]).exists():
        raise FileNotFoundError(f"no library at {url}")
    return open_store(url, embedder=make_embedder(embedder) if embedder else None)


def _filters(args) -> dict:
    return {k: getattr(args, k) for k in ("kind", "language", "status") if getattr(args, k, None)}


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    out, err = Console(), Console(stderr=True, soft_wrap=True)
    cmd = args.library_command
    if cmd == "make-tools":
        return _make_tools(args, out, err)
    try:
        store = _open(args.library, create=cmd == "import", embedder=args.embedder)
    except Exception as e:  # missing file, bad URL, server down, schema too new: say so, exit 2
        err.print(f"[red]lemmaflow library: {e}[/red]")
        return 2
    try:
        if cmd in ("ls", "search"):
            if cmd == "ls":
                rows = [(e, None) for e in store.list(limit=args.limit, offset=args.offset, **_filters(args))]
            else:
                rows = [(h.entry, h) for h in store.search(args.query, k=args.k, mode=args.mode, **_filters(args))]
            t = Table(show_lines=False)
            for col in ("id", "kind", "lang", "status", "name", "statement / signature", "fails"):
                t.add_column(col)
            if cmd == "search":
                t.add_column("score")
            for e, h in rows:
                cells = [str(e.id), e.kind, e.language, e.status, e.name, _one_line(e.statement, 60), str(e.failure_count)]
                if h is not None:
                    cells.append(f"{h.score:.4f}")
                t.add_row(*cells)
            out.print(t)
            if not rows:
                err.print("no entries")
        elif cmd == "show":
            e = store.get(args.id)
            if e is None:
                err.print(f"[red]no entry with id {args.id}[/red]")
                return 1
            print(json.dumps({**e.model_dump(mode="json"), "usage": store.usage_counts(args.id)}, indent=2,
                             ensure_ascii=False))
        elif cmd == "rm":
            missing = [i for i in args.ids if not store.remove(i)]
            for i in missing:
                err.print(f"[yellow]no entry with id {i}[/yellow]")
            print(f"removed {len(args.ids) - len(missing)}")
            return 1 if missing else 0
        elif cmd == "export":
            from lemmaflow.skills_library.transfer import export_jsonl

            n = export_jsonl(store, sys.stdout if args.path == "-" else args.path, **_filters(args))
            err.print(f"exported {n} entries")
        elif cmd == "import":
            from lemmaflow.skills_library.transfer import import_jsonl

            try:
                rep = import_jsonl(store, sys.stdin if args.path == "-" else args.path)
            except OSError as e:
                err.print(f"[red]lemmaflow library: cannot read {args.path}: {e}[/red]")
                return 2
            for line_no, why in rep.errors:
                err.print(f"[yellow]{args.path}:{line_no}: skipped: {why}[/yellow]")
            print(f"added {rep.added}, duplicates {rep.duplicates}, near duplicates {rep.near_duplicates}, "
                  f"bad lines {len(rep.errors)}")
        elif cmd == "stats":
            s = store.stats()
            if args.json:
                print(json.dumps({**s.model_dump(), "solved_share_using_library": s.solved_share_using_library}))
                return 0
            share = s.solved_share_using_library
            print(f"entries: {s.total}  by kind {s.by_kind}  by status {s.by_status}  by language {s.by_language}")
            print("growth (entries added per day): " + (", ".join(f"{d} +{n}" for d, n in s.growth) or "-"))
            print(f"events: {s.events or '-'}")
            print(f"problems: {s.problems_recorded} recorded, {s.problems_solved} solved, "
                  f"{s.solved_using_library} solved using the library"
                  + (f" ({share:.0%} of solved)" if share is not None else ""))
            if s.top_used:
                print("most used: " + ", ".join(f"{name} (#{i}) x{n}" for i, name, n in s.top_used))
    finally:
        store.close()
    return 0


def _make_tools(args, out, err) -> int:
    """``library make-tools``: load solved problems, start model and sandbox, run the maker, report."""
    import asyncio

    from .engine_logs import quiet_engine_logs

    quiet_engine_logs(args.verbose)
    from lemmaflow.agents.make_tools import load_solved, make_tools, summarize
    from lemmaflow.agents.nodes import ToolMaker

    try:
        node = ToolMaker(max_tokens=args.max_tokens, temperature=args.temperature, retries=args.retries)
        solved = load_solved(args.source)
    except OSError as e:
        err.print(f"[red]lemmaflow library: cannot read {args.source}: {e}[/red]")
        return 2
    except ValueError as e:
        err.print(f"[red]lemmaflow library: {e}[/red]")
        return 2
    for line_no, why in solved.errors:
        err.print(f"[yellow]{args.source}:{line_no}: skipped: {why}[/yellow]")
    problems = solved.problems[: args.limit] if args.limit else solved.problems
    err.print(f"{len(problems)} solved problems from {args.source} ({solved.kind} file; "
              f"{solved.skipped} rows {'not solved' if solved.kind == 'results' else 'without an answer'})")
    if not problems:
        err.print("[red]lemmaflow library: no solved problems to make tools from[/red]")
        return 2
    try:
        store = _open(args.library, create=True, embedder=args.embedder)
    except Exception as e:
        err.print(f"[red]lemmaflow library: {e}[/red]")
        return 2
    from lemmaflow.sandboxes import SandboxUnavailable, make_executor

    from .cli import make_generator
    from .engine_logs import loading_backend

    backend = executor = None
    try:
        try:
            executor = make_executor(args.sandbox)
            executor.start()
        except SandboxUnavailable as e:
            err.print(f"[red]lemmaflow: sandbox {args.sandbox!r} unavailable:[/red] {e}")
            return 2
        with loading_backend(err, args):
            backend = make_generator(args)
        outf = open(args.out, "a", encoding="utf-8") if args.out else None
        trace: list[dict] | None = [] if args.trace else None

        def on_row(row):
            err.print(f"{row.id}: {row.outcome}" + (f" {row.name} (#{row.entry_id})" if row.name else "")
                      + (f" - {row.error[:200]}" if row.error else ""))
            if outf is not None:
                outf.write(row.model_dump_json() + "\n")
                outf.flush()

        try:
            rows = asyncio.run(make_tools(problems, node, backend, executor, store, concurrency=args.concurrency,
                                          on_row=on_row, trace=trace))
        finally:
            if outf is not None:
                outf.close()
        if trace is not None:
            with open(args.trace, "a", encoding="utf-8") as f:
                for ev in trace:
                    f.write(json.dumps(ev, ensure_ascii=False) + "\n")
        counts = summarize(rows)
        out.print("tools made: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                  + f"  (library {args.library}: {store.count(kind='tool', status='verified')} verified tools)")
        return 1 if counts.get("error") else 0
    finally:
        if backend is not None and hasattr(backend, "close"):
            backend.close()
        if executor is not None:
            executor.close()
        store.close()
