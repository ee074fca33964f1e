"""Terminal output for ``lemmaflow solve``: a live progress bar and the final result table."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["ProgressReporter", "result_table"]


class ProgressReporter:
    """Problems done, accuracy so far and completion tokens/s, updated as each problem finishes."""

    def __init__(self, console: Console, total: int, enabled: bool = True, label: str = "solving"):
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

    def update(self, res, summary) -> None:
        acc = f"{summary.accuracy:.1%}" if summary.accuracy is not None else "-"
        tps = f"{summary.completion_tok_per_s:.0f}"
        self.progress.update(self.task, completed=summary.done + summary.skipped, acc=acc, tps=tps, failed=summary.failed)
        if not self.enabled:
            mark = {True: "correct", False: "wrong", None: "-"}[res.correct]
            self.console.print(f"[{summary.done}] {res.id}: {res.status} answer={res.answer!r} {mark}")


def result_table(results, summary) -> Table:
    table = Table(title="lemmaflow results", show_lines=False)
    for col in ("id", "gold", "answer", "correct", "conf", "tokens", "status"):
        table.add_column(col)
    for r in sorted(results, key=lambda r: r.id):
        tokens = r.usage.get("total", {}).get("total_tokens", 0) if r.usage else 0
        correct = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[r.correct]
        conf = f"{r.confidence:.2f}" if r.confidence is not None else "-"
        status = r.status if r.status == "ok" else f"[yellow]{r.status}[/yellow]: {(r.error or '')[:60]}"
        table.add_row(r.id, str(r.gold), str(r.answer), correct, conf, str(tokens), status)
    graded = [r for r in results if r.correct is not None]
    acc = f"{sum(r.correct for r in graded) / len(graded):.1%}" if graded else "n/a"
    table.caption = (
        f"{summary.done} solved now, {summary.skipped} already done, {summary.failed} failed | "
        f"accuracy {acc} over {len(graded)} graded | this run: {summary.prompt_tokens} prompt + "
        f"{summary.completion_tokens} completion tokens in {summary.wall_s:.1f} s "
        f"({summary.completion_tok_per_s:.0f} completion tok/s)"
    )
    return table
