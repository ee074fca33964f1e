"""``lemmaflow trace show``: one problem's reasoning tree from a trace JSONL, as text or a self-contained HTML page.

Examples::

    lemmaflow solve --input problems.jsonl --pipeline sc --trace runs/trace.jsonl --out runs/out.jsonl
    lemmaflow trace show runs/trace.jsonl --problem gsm8k-0                 # text outline
    lemmaflow trace show runs/trace.jsonl --problem gsm8k-0 --html tree.html
    lemmaflow trace show runs/trace.jsonl                                   # lists the problem ids
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_parser", "show_command"]


def add_parser(subparsers) -> None:
    t = subparsers.add_parser("trace", help="inspect run traces (reasoning trees, votes, tool-integrated chains)",
                              description="Inspect a trace JSONL written by `lemmaflow solve --trace` or Trace.save_jsonl.")
    tsub = t.add_subparsers(dest="trace_command", metavar="ACTION")
    s = tsub.add_parser(
        "show", help="show one problem's search tree / votes / chains",
        description=("Rebuild one problem's reasoning tree from its trace events (search_node/search_result, vote, "
                     "llm_call, tool_call): a text outline, or with --html a self-contained page (no external "
                     "resources) with the chosen path highlighted. Without --problem, lists the problem ids."),
    )
    s.add_argument("trace", help="trace JSONL")
    s.add_argument("--problem", help="problem id (default: the only one, else a list of ids)")
    s.add_argument("--html", metavar="OUT.html", help="write a self-contained HTML page instead of printing text")
    s.set_defaults(handler=show_command)
    t.set_defaults(handler=lambda args: (t.print_help(), 0)[1] if args.trace_command is None else 0)


def show_command(args) -> int:
    from lemmaflow.agents.trace_view import build_view, load_trace, render_html, render_text

    try:
        by_problem = load_trace(args.trace)
    except OSError as e:
        print(f"lemmaflow trace: cannot read {args.trace}: {e}", file=sys.stderr)
        return 2
    if not by_problem:
        print(f"lemmaflow trace: {args.trace} has no trace events", file=sys.stderr)
        return 2
    pid = args.problem
    if pid is None:
        if len(by_problem) != 1:
            print(f"{len(by_problem)} problems in {args.trace}; pick one with --problem:")
            for p, evs in by_problem.items():
                print(f"  {p}  ({len(evs)} events)")
            return 0
        pid = next(iter(by_problem))
    if pid not in by_problem:
        known = ", ".join(list(by_problem)[:20])
        print(f"lemmaflow trace: no problem {pid!r} in {args.trace} (ids: {known}"
              f"{' ...' if len(by_problem) > 20 else ''})", file=sys.stderr)
        return 2
    view = build_view(by_problem[pid], pid)
    if args.html:
        out = Path(args.html)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(view), encoding="utf-8")
        n = sum(len(s.nodes) for s in view.sections)
        print(f"wrote {out} ({len(view.sections)} section(s), {n} nodes)")
    else:
        sys.stdout.write(render_text(view))
    return 0
