"""Terminal output for ``lemmaflow solve``: a live progress bar and the final result table."""

from __future__ import annotations

from typing import NamedTuple

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["ProgressReporter", "TableRows", "final_results", "print_final_table", "result_table"]


class ProgressReporter:
    """Problems done, accuracy so far and completion tokens/s, updated as each problem finishes."""

    def __init__(self, console: Console, total: int | None, enabled: bool = True, label: str = "solving"):
        self.console = console
        self.enabled = enabled
        self.progress = Progress(
            TextColumn(f"[bold]{escape(label)}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.task = self.progress.add_task("solve", total=total, acc="-", tps="-", failed=0)

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def finish(self, summary) -> None:
        """The input is read: the bar's total becomes what was there (the start's count was a hint)."""
        self.progress.update(self.task, total=summary.done + summary.skipped, completed=summary.done + summary.skipped)

    def update(self, res, summary) -> None:
        acc = f"{summary.accuracy:.1%}" if summary.accuracy is not None else "-"
        tps = f"{summary.completion_tok_per_s:.0f}"
        self.progress.update(self.task, completed=summary.done + summary.skipped, acc=acc, tps=tps, failed=summary.failed)
        if not self.enabled:
            mark = {True: "correct", False: "wrong", None: "-"}[res.correct]
            self.console.print(f"[{summary.done}] {res.id}: {res.status} answer={res.answer!r} {mark}")


class TableRows(NamedTuple):
    """What the final table shows: up to ``max_rows`` results (smallest ids), and counts over all of them."""

    shown: list
    rows: int  # input problems with a result in the file
    graded: int
    correct: int


def final_results(path, keys, max_rows: int = 200) -> TableRows:
    """The latest result of each key in ``keys`` (a :class:`~lemmaflow.tools.keyset.KeySet` or set) from a
    results JSONL, read twice line by line: memory holds ``max_rows`` results, whatever the file's size.

    A finished result (ok, out of budget) is never run again, so it is its key's latest; a key
    without one shows its last error (the next run retries it).
    """
    import bisect

    from lemmaflow.agents.batch import FINISHED, ProblemResult, load_results_iter
    from lemmaflow.tools.keyset import KeySet

    finished = KeySet(k for k, row in load_results_iter(path) if k in keys and row.get("status") in FINISHED)
    counted = KeySet()
    shown: list[tuple[str, str]] = []  # (id, key), sorted; at most max_rows
    rows: dict[str, dict] = {}
    n = graded = correct = 0
    for k, row in load_results_iter(path):
        if k not in keys:
            continue
        done = row.get("status") in FINISHED
        if k in finished and not done:
            continue  # an error an earlier run retried
        if k in counted:
            if done or k not in rows:
                continue  # a finished key counts its first finished row once
            rows[k] = row  # a later error of a key that never finished: the latest one is shown
            continue
        counted.add(k)
        n += 1
        if row.get("correct") is not None:
            graded += 1
            correct += bool(row["correct"])
        entry = (str(row.get("id", "")), k)
        if len(shown) < max_rows or entry < shown[-1]:
            bisect.insort(shown, entry)
            rows[k] = row
            if len(shown) > max_rows:
                rows.pop(shown.pop()[1], None)
    return TableRows([ProblemResult.model_validate(rows[k]) for _, k in shown], n, graded, correct)


def result_table(results, summary, *, counts: TableRows | None = None) -> Table:
    """The final table: one row per result, and a caption with the run's summary.

    ``counts`` (from :func:`final_results`): the results are the first of more; accuracy is over all of them.
    """
    table = Table(title="lemmaflow results", show_lines=False)
    for col in ("id", "gold", "answer", "correct", "conf", "tokens", "status"):
        table.add_column(col)
    for r in sorted(results, key=lambda r: r.id):
        tokens = r.usage.get("total", {}).get("total_tokens", 0) if r.usage else 0
        correct = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[r.correct]
        conf = f"{r.confidence:.2f}" if r.confidence is not None else "-"
        status = r.status if r.status == "ok" else f"[yellow]{r.status}[/yellow]: {(r.error or '')[:60]}"
        table.add_row(r.id, str(r.gold), str(r.answer), correct, conf, str(tokens), status)
    if counts is None:
        graded_rows = [r for r in results if r.correct is not None]
        n_graded, n_correct, more = len(graded_rows), sum(bool(r.correct) for r in graded_rows), ""
    else:
        n_graded, n_correct = counts.graded, counts.correct
        more = f"{len(results)} of {counts.rows} results shown (all in the results file) | " if counts.rows > len(results) else ""
    acc = f"{n_correct / n_graded:.1%}" if n_graded else "n/a"
    table.caption = (
        f"{more}{summary.done} solved now, {summary.skipped} already done, {summary.failed} failed | "
        f"accuracy {acc} over {n_graded} graded | this run: {summary.prompt_tokens} prompt + "
        f"{summary.completion_tokens} completion tokens in {summary.wall_s:.1f} s "
        f"({summary.completion_tok_per_s:.0f} completion tok/s)"
    )
    return table


def print_final_table(out_path, keys, summary, max_rows: int = 200) -> None:
    """Every input problem's latest result (including ones an earlier, interrupted run finished), up to
    ``max_rows`` rows (smallest ids; the caption counts them all), on stdout."""
    counts = final_results(out_path, keys, max_rows)
    Console().print(result_table(counts.shown, summary, counts=counts))
