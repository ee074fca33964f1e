"""Equal-compute evaluation: several pipelines on the same problems and model, accuracy vs tokens.

Each pipeline runs through :class:`~lemmaflow.agents.batch.BatchRunner` with its
own results JSONL under the bench folder, so a rerun skips finished problems.
Every row reports accuracy with a 95% Wilson score interval and the mean tokens
(prompt + completion, every model role) spent per problem.

**Self-consistency at equal compute.** After the pipelines ran, each one gets a
self-consistency row that spent about as many tokens per problem. SC's spend is
affine in its sample count: the prompt is paid once per call and every sample
adds its completion, so ``tokens(n) ≈ P + n·C`` with ``P`` the mean prompt
tokens per problem and ``C`` the mean completion tokens per sample, both
measured on a reference SC run on the same problems (the baseline row). The
matched SC for a pipeline that spent ``T`` tokens per problem draws
``n = max(1, round((T − P) / C))`` samples. We pick ``n`` from measured spend
rather than capping SC with a per-problem token budget of ``T`` because the
budget ledger reserves the worst case (``max_tokens``) for every sample before
drawing it: a cap of ``T`` would hand SC ``T // max_tokens`` samples — far fewer
than it can afford on average, and none at all whenever ``T < max_tokens``.
The matched rows report what they actually spent, so the match is checkable.

Example (scripted model; a real bench passes a real backend)::

    import asyncio
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.bench import Bench, BenchPipeline
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.answers import AnswerChecker
    from lemmaflow.tools.datasets import Problem

    lm = ScriptedLM(lambda prompt, i: "so \\\\boxed{4}")
    problems = [Problem(id="p1", question="2+2?", gold="4", source="demo")]
    with AnswerChecker() as checker:
        bench = Bench(
            [BenchPipeline("cot", resolve_pipeline("cot", {}))],
            sc_pipeline=lambda n: resolve_pipeline("sc", {"n": n}),
            sc_reference_n=4, backend=lm, checker=checker, out_dir="/tmp/bench-demo",
        )
        report = asyncio.run(bench.run(problems))
    print(report.rows[0].accuracy, report.rows[0].ci)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from pydantic import BaseModel

from ..tools.datasets import Problem
from ..tools.datasets.readers import size_hint
from .batch import BatchRunner, BatchSummary, ProblemResult, load_results_iter
from .budget import Budget
from .graph import Pipeline

__all__ = [
    "Bench",
    "BenchPipeline",
    "BenchReport",
    "BenchRow",
    "ScCost",
    "matched_sc_n",
    "plot_report",
    "render_markdown",
    "summarize",
    "wilson_interval",
]


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (default 95%).

    Unlike the normal approximation it stays inside [0, 1] and is informative at
    0/n and n/n, which is where a tiny model's accuracy sits.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0/n and n/n the bound is exactly 0 or 1; floating point would land a hair inside.
    lo = 0.0 if correct == 0 else max(0.0, centre - half)
    hi = 1.0 if correct == n else min(1.0, centre + half)
    return (lo, hi)


class BenchRow(BaseModel):
    """One pipeline's outcome on the bench problems."""

    label: str
    kind: str = "pipeline"  # "pipeline", "sc_reference" or "sc_matched"
    matched_to: list[str] = []  # for sc_matched rows: the pipelines whose spend this row matches
    target_tokens: float | None = None  # the spend it was matched to (mean of matched_to)
    sc_n: int | None = None
    problems: int = 0  # results found for the bench problems
    graded: int = 0
    correct: int = 0
    failed: int = 0
    budget_exhausted: int = 0
    accuracy: float | None = None
    ci: tuple[float, float] = (0.0, 1.0)
    mean_tokens: float = 0.0  # prompt + completion, every model role, per problem
    mean_prompt_tokens: float = 0.0
    mean_completion_tokens: float = 0.0
    mean_samples: float = 0.0
    results_path: str = ""


def summarize(label: str, results: Sequence[ProblemResult], **fields: Any) -> BenchRow:
    """Accuracy (with its Wilson interval) and mean spend over a pipeline's results.

    Token means are over every problem that has a result, errors included: a
    failed problem spent what it spent. Accuracy is over graded problems.
    """
    n = len(results)

    def mean(key: str) -> float:
        return sum((r.usage.get("total", {}) or {}).get(key, 0) for r in results) / n if n else 0.0

    graded = [r for r in results if r.correct is not None]
    correct = sum(1 for r in graded if r.correct)
    return BenchRow(
        label=label, problems=n, graded=len(graded), correct=correct,
        failed=sum(1 for r in results if r.status == "error"),
        budget_exhausted=sum(1 for r in results if r.status == "budget_exhausted"),
        accuracy=correct / len(graded) if graded else None, ci=wilson_interval(correct, len(graded)),
        mean_tokens=mean("total_tokens"), mean_prompt_tokens=mean("prompt_tokens"),
        mean_completion_tokens=mean("completion_tokens"), mean_samples=mean("samples"), **fields,
    )


class ScCost(BaseModel):
    """SC's measured spend: ``tokens(n) ≈ prompt_per_problem + n · completion_per_sample``."""

    prompt_per_problem: float
    completion_per_sample: float

    @classmethod
    def measure(cls, results: Sequence[ProblemResult]) -> "ScCost":
        totals = [r.usage.get("total", {}) for r in results if r.usage]
        samples = sum(t.get("samples", 0) for t in totals)
        if not totals or samples == 0:
            raise ValueError("the reference self-consistency run drew no samples: cannot measure its cost")
        return cls(
            prompt_per_problem=sum(t.get("prompt_tokens", 0) for t in totals) / len(totals),
            completion_per_sample=sum(t.get("completion_tokens", 0) for t in totals) / samples,
        )


def matched_sc_n(target_tokens: float, cost: ScCost, max_n: int = 64) -> int:
    """Samples that make SC spend about ``target_tokens`` per problem (at least 1, at most ``max_n``)."""
    per = max(cost.completion_per_sample, 1e-9)
    return max(1, min(max_n, round((target_tokens - cost.prompt_per_problem) / per)))


@dataclass
class BenchPipeline:
    label: str
    pipeline: Pipeline
    models: dict[str, Any] = field(default_factory=dict)  # named models (role -> backend) for this pipeline


class BenchReport(BaseModel):
    problems: int
    model: str
    rows: list[BenchRow]
    sc_cost: ScCost | None = None
    matching: str = (
        "matched SC draws n = max(1, round((T - P) / C)) samples, T = the pipeline's mean tokens per problem, "
        "P = SC's mean prompt tokens per problem, C = SC's mean completion tokens per sample (reference run)"
    )


def _latest_rows(path: Path, keys: dict[str, None]) -> dict[str, dict]:
    """The last row of each of ``keys`` in a results file, its ``outputs`` dropped (memory stays per row)."""
    out: dict[str, dict] = {}
    for k, row in load_results_iter(path):
        if k in keys:
            row["outputs"] = {}
            out[k] = row
    return out


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@=-]+", "_", label).strip("_") or "pipeline"


def _spec_hash(pipeline: Pipeline) -> str:
    return hashlib.sha256(json.dumps(pipeline.to_spec(), sort_keys=True, default=str).encode()).hexdigest()[:16]


class Bench:
    """Runs the pipelines, then the SC rows matched to their spend; see the module docstring.

    ``sc_pipeline(n)`` builds the self-consistency baseline with ``n`` samples;
    ``sc_reference_n`` is the n of the reference SC run that measures SC's cost
    (it is also a row: the plain SC baseline). ``runner_kwargs`` go to every
    :class:`BatchRunner` (``budget``, ``executor``, ``models``, ``concurrency``,
    ``trace_path``, ...). ``on_start(label, total)`` and ``on_result(res, summary)``
    report progress.
    """

    def __init__(
        self,
        pipelines: Sequence[BenchPipeline],
        *,
        sc_pipeline: Callable[[int], Pipeline] | None,
        sc_reference_n: int = 8,
        backend,
        checker,
        out_dir: str | Path,
        budget: Budget | None = None,
        max_matched_n: int = 64,
        trace_dir: str | Path | None = None,
        on_start: Callable[[str, int], None] | None = None,
        on_result: Callable[[ProblemResult, BatchSummary], None] | None = None,
        on_end: Callable[[str, BatchSummary], None] | None = None,
        runner_cls: Callable[..., Any] = BatchRunner,
        **runner_kwargs: Any,
    ):
        labels = [p.label for p in pipelines]
        if len(set(labels)) != len(labels):
            raise ValueError(f"pipeline labels must be unique, got {labels}")
        self.pipelines = list(pipelines)
        self.sc_pipeline = sc_pipeline
        self.sc_reference_n = sc_reference_n
        self.backend = backend
        self.checker = checker
        self.out_dir = Path(out_dir)
        self.budget = budget
        self.max_matched_n = max_matched_n
        self.trace_dir = Path(trace_dir) if trace_dir else None
        self.on_start, self.on_result, self.on_end = on_start, on_result, on_end
        self.runner_kwargs = runner_kwargs
        # BatchRunner, or a runner with its interface (RayBatchRunner: ``backend`` is then a RayWorkerPool).
        self.runner_cls = runner_cls
        self._by_spec: dict[str, Path] = {}  # spec hash -> results file: identical specs run once
        self._done: dict[str, list[ProblemResult]] = {}  # spec hash -> results of this run

    def results_path(self, label: str) -> Path:
        return self.out_dir / "results" / f"{_slug(label)}.jsonl"

    async def _run_one(
        self, label: str, pipeline: Pipeline, problems: Sequence[Problem], models: dict[str, Any] | None = None,
    ) -> list[ProblemResult]:
        h = _spec_hash(pipeline)
        if h in self._done:  # the same spec under another name (the SC reference given as a pipeline)
            return self._done[h]
        path = self._by_spec.setdefault(h, self.results_path(label))
        trace = self.trace_dir / f"{path.stem}.jsonl" if self.trace_dir else None
        runner = self.runner_cls(pipeline, self.backend, self.checker, out_path=path, budget=self.budget,
                             on_result=self.on_result, models=models, trace_path=trace, **self.runner_kwargs)
        if self.on_start:
            self.on_start(label, size_hint(problems))
        summary = await runner.run(problems)
        if self.on_end:
            self.on_end(label, summary)
        # Latest result of each bench problem (a problem listed twice counts once), read line by line and
        # without ``outputs`` (chains, ...): the report needs status, grade and usage only.
        self._count = 0

        def counted():
            for p in problems:  # a lazy source is read again here (its keys, in input order)
                self._count += 1
                yield runner.key(p)

        keys = dict.fromkeys(counted())
        rows = _latest_rows(path, keys)
        self._done[h] = [ProblemResult.model_validate(rows[k]) for k in keys if k in rows]
        return self._done[h]

    async def run(self, problems: Iterable[Problem]) -> BenchReport:
        """Every pipeline, then the matched SC rows, on ``problems``.

        A re-iterable source (a list, or a :class:`~lemmaflow.tools.datasets.readers.ProblemStream`,
        which re-reads its file on each pass) is read once per pipeline rather than held in memory;
        a one-shot iterator (a generator) is listed first.
        """
        if iter(problems) is problems:  # an iterator: it can be read only once
            problems = list(problems)
        self._count = 0
        self._done.clear()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        rows: list[BenchRow] = []
        for bp in self.pipelines:
            res = await self._run_one(bp.label, bp.pipeline, problems, bp.models)
            rows.append(summarize(bp.label, res, results_path=str(self._by_spec[_spec_hash(bp.pipeline)])))
        cost = None
        if self.sc_pipeline is not None:
            ref_label = f"sc@{self.sc_reference_n}"
            ref_pipe = self.sc_pipeline(self.sc_reference_n)
            ref_hash = _spec_hash(ref_pipe)
            ref_res = await self._run_one(ref_label, ref_pipe, problems)
            cost = ScCost.measure(ref_res)
            user_hashes = {_spec_hash(bp.pipeline): bp.label for bp in self.pipelines}
            if ref_hash not in user_hashes:
                rows.append(summarize(ref_label, ref_res, kind="sc_reference", sc_n=self.sc_reference_n,
                                      results_path=str(self._by_spec[ref_hash])))
            # Group pipelines by the n their spend matches: one SC run per n.
            wanted: dict[int, list[BenchRow]] = {}
            for row in rows:
                if row.kind != "pipeline" or user_hashes.get(ref_hash) == row.label or row.problems == 0:
                    continue
                wanted.setdefault(matched_sc_n(row.mean_tokens, cost, self.max_matched_n), []).append(row)
            for n, targets in sorted(wanted.items()):
                label = f"sc@{n}"
                pipe = self.sc_pipeline(n)
                matched = dict(matched_to=[t.label for t in targets],
                               target_tokens=sum(t.mean_tokens for t in targets) / len(targets))
                same = [r for r in rows if r.results_path == str(self._by_spec.get(_spec_hash(pipe)))]
                if same:  # that SC already is a row (the reference, or a pipeline given by the user)
                    for k, v in matched.items():
                        setattr(same[0], k, v)
                    continue
                res = await self._run_one(label, pipe, problems)
                rows.append(summarize(label, res, kind="sc_matched", sc_n=n,
                                      results_path=str(self._by_spec[_spec_hash(pipe)]), **matched))
        return BenchReport(problems=len(problems) if hasattr(problems, "__len__") else self._count, model=getattr(self.backend, "model_id", "?"), rows=rows,
                           sc_cost=cost)


# --- rendering ------------------------------------------------------------------------------


def _fmt_acc(row: BenchRow) -> str:
    return "n/a" if row.accuracy is None else f"{row.accuracy:.1%}"


def _fmt_ci(row: BenchRow) -> str:
    return f"[{row.ci[0]:.1%}, {row.ci[1]:.1%}]"


def table_rows(report: BenchReport) -> list[list[str]]:
    """Header and rows shared by the markdown file and the terminal table."""
    out = [["pipeline", "role", "correct/graded", "accuracy", "95% CI (Wilson)", "mean tokens/problem",
            "mean completion tokens", "mean samples", "failed"]]
    for r in report.rows:
        role = {"pipeline": "pipeline", "sc_reference": "SC baseline"}.get(r.kind, "")
        if r.matched_to:
            matched = f"SC at the spend of {', '.join(r.matched_to)} ({r.target_tokens:.0f} tok)"
            role = matched if r.kind == "sc_matched" else f"{role}; {matched}"
        out.append([r.label, role, f"{r.correct}/{r.graded}", _fmt_acc(r), _fmt_ci(r), f"{r.mean_tokens:.1f}",
                    f"{r.mean_completion_tokens:.1f}", f"{r.mean_samples:.1f}", str(r.failed)])
    return out


def render_markdown(report: BenchReport) -> str:
    rows = table_rows(report)
    lines = [
        f"# lemmaflow bench: {report.problems} problems, model {report.model}",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "|".join("---" for _ in rows[0]) + "|",
    ]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    lines.append("")
    if report.sc_cost is not None:
        c = report.sc_cost
        lines.append(
            f"Self-consistency at equal compute: {report.matching}; measured P = {c.prompt_per_problem:.1f}, "
            f"C = {c.completion_per_sample:.1f}."
        )
    lines.append("Tokens are prompt + completion over every model role, averaged over the problems with a result.")
    return "\n".join(lines) + "\n"


def pyplot(purpose: str):
    """matplotlib's pyplot on the file-only Agg backend; an install hint naming ``purpose`` if missing."""
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"the {purpose} plot needs matplotlib: pip install matplotlib") from e
    matplotlib.use("Agg")  # files only, no display; set before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def save_accuracy_plot(plt, fig, ax, xs: Sequence[float], *, ylabel: str, title: str, legend: bool,
                       path: str | Path, labels: Sequence[tuple[float, float, str]] = (), fontsize: float = 8) -> Path:
    """The common frame of an accuracy-vs-tokens plot (log x when tokens spread > 20x), saved as PNG.

    ``labels`` (x, y, text) are placed last, so that none overlaps another (agents.plot_labels).
    """
    from .plot_labels import place_labels

    if xs and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("mean tokens per problem (prompt + completion)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    if labels:
        place_labels(ax, [(x, y) for x, y, _ in labels], [t for _, _, t in labels], fontsize=fontsize)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_report(report: BenchReport, path: str | Path) -> Path:
    """Accuracy (Wilson 95% interval as error bars) against mean tokens per problem, as a PNG."""
    plt = pyplot("bench")
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    styles = {"pipeline": ("o", "tab:blue", "pipelines"), "sc_reference": ("s", "tab:orange", "SC baseline"),
              "sc_matched": ("D", "tab:orange", "SC at matched tokens")}
    shown = set()
    labels: list[tuple[float, float, str]] = []
    for r in report.rows:
        if r.accuracy is None:
            continue
        marker, color, name = styles[r.kind]
        yerr = [[max(0.0, r.accuracy - r.ci[0])], [max(0.0, r.ci[1] - r.accuracy)]]
        ax.errorbar([r.mean_tokens], [r.accuracy], yerr=yerr, fmt=marker, color=color, capsize=4,
                    markerfacecolor=color if r.kind != "sc_matched" else "white",
                    label=None if name in shown else name)
        shown.add(name)
        labels.append((r.mean_tokens, r.accuracy, r.label))
    sc = sorted((r for r in report.rows if r.kind != "pipeline" and r.accuracy is not None), key=lambda r: r.mean_tokens)
    if len(sc) > 1:
        ax.plot([r.mean_tokens for r in sc], [r.accuracy for r in sc], "--", color="tab:orange", alpha=0.6)
    xs = [r.mean_tokens for r in report.rows if r.mean_tokens > 0]
    return save_accuracy_plot(plt, fig, ax, xs, ylabel="accuracy (95% Wilson interval)",
                              title=f"{report.problems} problems, {report.model}"[:90], legend=bool(shown), path=path,
                              labels=labels)
