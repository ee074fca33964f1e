"""Search over Archon-style pipelines under a total token budget (Archon, arXiv 2409.15254).

:class:`Composer` searches a :class:`~lemmaflow.agents.compose_space.SearchSpace`
with Optuna's TPE sampler (multivariate, grouped: it models interactions between layers and
handles parameters that exist only when a layer is on): each trial is one configuration, turned into a
pipeline spec and evaluated on the dev problems by an :class:`Evaluator` (by
default :class:`BatchEvaluator`: the batch runner, one resumable results JSONL
per distinct spec). The objective is dev accuracy counting failed or
budget-exhausted problems as wrong; the best configuration is the complete
trial with the highest objective, ties going to fewer mean tokens per
problem, then to the earlier trial.

- **Token budget.** Every trial records the tokens it spent (prompt +
  completion, every model role, only problems solved now: a spec already run
  costs nothing again). No trial starts once the total reaches the budget, and
  under successive halving no rung starts either, so the total can overshoot by
  at most one evaluation (one trial's dev run, or one rung). The report gives the
  exact spend.
- **Successive halving** (``search: halving``): TPE proposes; each
  configuration runs on rungs of ``min_problems · eta^r`` dev problems and
  Optuna's :class:`SuccessiveHalvingPruner` stops those trailing at a rung.
  Pruned trials appear in the table with their partial accuracy.
- **Resumable.** The study lives in Optuna storage (``sqlite:///DIR/study.db``)
  and results in the batch runner's JSONL files: rerunning continues the study;
  a trial interrupted mid-run is marked failed and its configuration runs again
  first, skipping the problems it had finished. Tokens of problems cut off
  by the interruption are not counted. One compose run per folder at a time.

Example (scripted model; the CLI passes a real backend)::

    import asyncio
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.compose import BatchEvaluator, Composer
    from lemmaflow.agents.compose_space import SearchSpace
    from lemmaflow.tools.answers import AnswerChecker
    from lemmaflow.tools.datasets import Problem

    space = SearchSpace.model_validate({"generator": {"type": "chain_of_thought"},
                                        "samples": {"choices": [1, 2]}, "layers": [{"type": "fuser"}]})
    problems = [Problem(id="p1", question="2+2?", gold="4", source="demo")]
    with AnswerChecker() as checker:
        ev = BatchEvaluator(ScriptedLM(lambda p, i: "\\\\boxed{4}"), checker, "/tmp/compose-demo")
        report = asyncio.run(Composer(space, ev, problems, budget_tokens=200).run())
    print(report.best_trial().description, report.spent_tokens)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence

import yaml
from pydantic import BaseModel

from ..tools.datasets import Problem
from .batch import BatchRunner, ProblemResult, load_results
from .bench import BenchRow, pyplot, save_accuracy_plot, summarize
from .budget import Budget
from .compose_space import ChoiceParam, FloatParam, IntParam, SearchSpace, describe_stack, realize
from .graph import PipelineError
from .spec import SpecError, build_pipeline

__all__ = [
    "BatchEvaluator",
    "ComposeReport",
    "Composer",
    "Evaluation",
    "Evaluator",
    "TrialRecord",
    "plot_compose",
    "render_compose_csv",
    "render_compose_markdown",
    "spec_hash",
    "write_compose_outputs",
]

DUPLICATE_LIMIT = 25  # consecutive already-seen configurations before the search calls the space exhausted


def _optuna():
    try:
        import optuna
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("lemmaflow compose needs optuna: pip install 'lemmaflow[compose]' (or pip install optuna)") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Evaluation(BaseModel):
    results: list[ProblemResult]  # one per problem asked for that has a result
    new_tokens: int  # tokens spent by this call (problems finished earlier cost nothing)


class Evaluator(Protocol):
    async def evaluate(self, spec: dict, problems: Sequence[Problem]) -> Evaluation:
        ...


class BatchEvaluator:
    """Runs a spec on problems with :class:`BatchRunner`; results in ``DIR/results/<spec hash>.jsonl`` (resumable).

    ``runner_kwargs`` go to every runner (``budget`` per problem, ``models``,
    ``executor``, ``concurrency``, ``on_result``, ``trace_path``).
    """

    def __init__(self, backend, checker, out_dir: str | Path, *, budget: Budget | None = None, **runner_kwargs: Any):
        self.backend, self.checker = backend, checker
        self.out_dir = Path(out_dir)
        self.budget = budget
        self.runner_kwargs = runner_kwargs

    def results_path(self, spec: dict) -> Path:
        return self.out_dir / "results" / f"{spec_hash(spec)}.jsonl"

    async def evaluate(self, spec: dict, problems: Sequence[Problem]) -> Evaluation:
        path = self.results_path(spec)
        runner = BatchRunner(build_pipeline(spec), self.backend, self.checker, out_path=path, budget=self.budget,
                             **self.runner_kwargs)
        summary = await runner.run(problems)
        rows = load_results(path)
        keys = dict.fromkeys(runner.key(p) for p in problems)
        results = [ProblemResult.model_validate(rows[k]) for k in keys if k in rows]
        return Evaluation(results=results, new_tokens=summary.prompt_tokens + summary.completion_tokens)


class TrialRecord(BaseModel):
    number: int
    state: Literal["complete", "pruned", "failed", "running"]
    params: dict[str, Any] = {}
    description: str = ""
    spec: dict | None = None
    row: BenchRow | None = None  # on the problems it ran (all of the dev set unless pruned)
    problems_run: int = 0
    new_tokens: int = 0
    error: str | None = None


class ComposeReport(BaseModel):
    space: str
    search: str
    model: str
    dev_problems: int
    budget_tokens: int
    spent_tokens: int
    stop_reason: str
    space_size: int | None
    trials: list[TrialRecord]
    best: int | None  # trial number

    def best_trial(self) -> TrialRecord | None:
        return next((t for t in self.trials if t.number == self.best), None)


def _objective(row: BenchRow, problems: int) -> float:
    """Correct answers over the problems asked: a problem that failed or ran out of budget counts as wrong
    (accuracy over graded problems alone would favour configurations that crash on hard problems)."""
    return row.correct / problems if problems else 0.0


def _pick_best(trials: Sequence[TrialRecord], dev: int) -> int | None:
    full = [t for t in trials if t.state == "complete" and t.row and t.problems_run == dev and t.row.graded]
    if not full:
        return None
    return min(full, key=lambda t: (-_objective(t.row, dev), t.row.mean_tokens, t.number)).number


class Composer:
    """TPE (optionally with successive halving) over a search space, under a total token budget.

    ``storage`` is an Optuna storage URL; by default ``sqlite:///OUT_DIR/study.db``
    when ``out_dir`` is given, in memory otherwise. ``overrides`` (e.g.
    ``{"max_tokens": 64}``) apply to every node of every configuration.
    ``on_trial(record, spent_tokens)`` is called after each trial.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator,
        problems: Sequence[Problem],
        *,
        budget_tokens: int,
        out_dir: str | Path | None = None,
        storage: str | None = None,
        overrides: dict[str, Any] | None = None,
        max_trials: int | None = None,
        model: str = "?",
        on_trial: Callable[[TrialRecord, int], None] | None = None,
    ):
        if budget_tokens <= 0:
            raise ValueError(f"budget_tokens must be positive, got {budget_tokens}")
        if not problems:
            raise ValueError("no dev problems")
        self.space, self.evaluator, self.problems = space, evaluator, list(problems)
        self.budget_tokens = budget_tokens
        self.out_dir = Path(out_dir) if out_dir else None
        if storage is None and self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            storage = f"sqlite:///{(self.out_dir / 'study.db').resolve()}"
        self.storage = storage
        self.overrides = dict(overrides or {})
        self.max_trials = max_trials or space.max_trials
        self.model = model
        self.on_trial = on_trial

    # -- Optuna plumbing ----------------------------------------------------------------------
    def _study(self):
        optuna = _optuna()
        s = self.space
        import warnings

        with warnings.catch_warnings():  # multivariate/group are flagged experimental; they model interactions
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=s.startup_trials, multivariate=True,
                                                 group=True)
        if s.search == "halving":
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=s.halving.min_problems,
                                                            reduction_factor=s.halving.eta)
        else:
            pruner = optuna.pruners.NopPruner()
        return optuna.create_study(study_name=s.name, storage=self.storage, direction="maximize", sampler=sampler,
                                   pruner=pruner, load_if_exists=True)

    @staticmethod
    def _suggest(trial):
        def suggest(name: str, p):
            if isinstance(p, ChoiceParam):
                return p.value_of(trial.suggest_categorical(name, p.labels()))
            if isinstance(p, IntParam):
                return trial.suggest_int(name, p.int_[0], p.int_[1], step=p.step, log=p.log)
            if isinstance(p, FloatParam):
                return trial.suggest_float(name, p.float_[0], p.float_[1], log=p.log)
            raise TypeError(f"not a search parameter: {p!r}")

        return suggest

    def _recover(self, study) -> None:
        """Trials left running by an interrupted run: mark them failed and run their configuration again."""
        from optuna.trial import TrialState

        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # Optuna has no public call to finish another process's trial; this is what its
            # heartbeat-based fail_stale_trials does.
            study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted; its configuration runs again")
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"resumed_from": t.number})

    def rungs(self) -> list[int]:
        n = len(self.problems)
        if self.space.search != "halving":
            return [n]
        h, out, r = self.space.halving, [], self.space.halving.min_problems
        while r < n:
            out.append(r)
            r *= h.eta
        return out + [n]

    # -- the search ---------------------------------------------------------------------------
    @staticmethod
    def _spent(study) -> int:
        return sum(int(t.user_attrs.get("new_tokens", 0)) for t in study.get_trials(deepcopy=False))

    async def run(self) -> ComposeReport:
        _optuna()  # the install hint, before anything else
        from optuna.trial import TrialState

        study = self._study()
        self._recover(study)
        seen = {t.user_attrs.get("spec_hash") for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        duplicates = 0
        stop = ""
        rungs = self.rungs()
        while True:
            spent = self._spent(study)
            finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                     TrialState.FAIL)))
            if spent >= self.budget_tokens:
                stop = f"token budget reached ({spent} of {self.budget_tokens})"
                break
            if finished >= self.max_trials:
                stop = f"{finished} trials (max_trials)"
                break
            if duplicates >= DUPLICATE_LIMIT:
                stop = f"space exhausted ({DUPLICATE_LIMIT} proposals in a row were configurations already run)"
                break
            trial = study.ask()
            try:
                spec = realize(self.space, self._suggest(trial), self.overrides)
                build_pipeline(spec)
            except (SpecError, PipelineError, ValueError) as e:
                trial.set_user_attr("error", f"invalid configuration: {e}")
                study.tell(trial, state=TrialState.FAIL)
                self._notify(study, trial.number, spent)
                continue
            h = spec_hash(spec)
            duplicates = duplicates + 1 if h in seen else 0
            seen.add(h)
            trial.set_user_attr("spec", spec)
            trial.set_user_attr("spec_hash", h)
            trial.set_user_attr("description", describe_stack(spec["nodes"][0]))
            new, value, state = 0, None, TrialState.COMPLETE
            try:
                for rung in rungs:
                    if rung != rungs[0] and spent + new >= self.budget_tokens:
                        trial.set_user_attr("error", "stopped between rungs: token budget reached")
                        state = TrialState.PRUNED
                        break
                    ev = await self.evaluator.evaluate(spec, self.problems[:rung])
                    new += ev.new_tokens
                    row = summarize(f"trial {trial.number}", ev.results)
                    trial.set_user_attr("new_tokens", new)
                    trial.set_user_attr("row", row.model_dump(mode="json"))
                    trial.set_user_attr("problems_run", rung)
                    value = _objective(row, rung)
                    if rung != rungs[-1]:
                        trial.report(value, rung)
                        if trial.should_prune():
                            state = TrialState.PRUNED
                            break
            except Exception as e:  # noqa: BLE001 - one bad configuration never ends the search
                trial.set_user_attr("error", f"{type(e).__name__}: {e}")
                state = TrialState.FAIL
            study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
            self._notify(study, trial.number, spent + new)
        return self.report(study, stop)

    def _notify(self, study, number: int, spent: int) -> None:
        if self.on_trial:
            self.on_trial(_record(study.trials[number]), spent)

    def report(self, study=None, stop: str = "") -> ComposeReport:
        study = study or self._study()
        trials = [_record(t) for t in study.get_trials(deepcopy=False)]
        return ComposeReport(
            space=self.space.name, search=self.space.search, model=self.model, dev_problems=len(self.problems),
            budget_tokens=self.budget_tokens, spent_tokens=self._spent(study), stop_reason=stop,
            space_size=self.space.size(), trials=trials, best=_pick_best(trials, len(self.problems)),
        )


def _decode(v: Any) -> Any:
    """Categorical parameters are stored by their JSON text (ChoiceParam.labels): show the value."""
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _record(t) -> TrialRecord:
    a = t.user_attrs
    state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(t.state.name, "running")
    return TrialRecord(
        number=t.number, state=state, params={k: _decode(v) for k, v in t.params.items()}, description=a.get("description", ""),
        spec=a.get("spec"), row=BenchRow.model_validate(a["row"]) if "row" in a else None,
        problems_run=int(a.get("problems_run", 0)), new_tokens=int(a.get("new_tokens", 0)), error=a.get("error"),
    )


# --- outputs -----------------------------------------------------------------------------------

_COLUMNS = ["trial", "state", "pipeline", "problems", "correct/graded", "accuracy", "ci_low", "ci_high",
            "mean_tokens", "new_tokens", "failed", "params"]


def _rows(report: ComposeReport) -> list[list[str]]:
    out = []
    for t in report.trials:
        r = t.row
        mark = " (best)" if t.number == report.best else ""
        out.append([
            str(t.number), t.state + mark, t.description or "-", str(t.problems_run),
            f"{r.correct}/{r.graded}" if r else "-",
            "n/a" if not r or r.accuracy is None else f"{r.accuracy:.3f}",
            f"{r.ci[0]:.3f}" if r else "", f"{r.ci[1]:.3f}" if r else "",
            f"{r.mean_tokens:.1f}" if r else "", str(t.new_tokens), str(r.failed + r.budget_exhausted) if r else "",
            json.dumps(t.params, sort_keys=True) + (f" error: {t.error}" if t.error else ""),
        ])
    return out


def render_compose_csv(report: ComposeReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(_COLUMNS)
    w.writerows(_rows(report))
    return buf.getvalue()


def render_compose_markdown(report: ComposeReport) -> str:
    best = report.best_trial()
    size = "infinite (a float range)" if report.space_size is None else str(report.space_size)
    lines = [
        f"# lemmaflow compose: space {report.space}, {report.dev_problems} dev problems, model {report.model}",
        "",
        f"Search: {report.search}; {len(report.trials)} trials over a space of {size} configurations; "
        f"tokens spent {report.spent_tokens} of a budget of {report.budget_tokens}; stopped: {report.stop_reason or '-'}.",
        "",
        "| " + " | ".join(_COLUMNS[:5] + ["accuracy", "95% CI (Wilson)", "mean tokens/problem", "new tokens",
                                          "failed/out of budget", "params"]) + " |",
        "|" + "|".join("---" for _ in range(11)) + "|",
    ]
    for row in _rows(report):
        cells = row[:6] + [f"[{row[6]}, {row[7]}]" if row[6] else "", row[8], row[9], row[10], row[11]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    if best is not None:
        lines.append(f"Best: trial {best.number}, {best.description}: accuracy {best.row.accuracy:.3f} "
                     f"[{best.row.ci[0]:.3f}, {best.row.ci[1]:.3f}] at {best.row.mean_tokens:.1f} tokens/problem.")
    else:
        lines.append("No configuration completed the whole dev set.")
    lines.append("Tokens are prompt + completion over every model role; accuracy (over graded problems) has a 95% "
                 "Wilson interval; the search ranks by correct answers over all problems, so failed or "
                 "out-of-budget problems count as wrong. Pruned trials show their accuracy on the rung they reached.")
    return "\n".join(lines) + "\n"


def plot_compose(report: ComposeReport, path: str | Path) -> Path:
    """Every trial's accuracy (Wilson 95% error bars) against mean tokens per problem; the best is starred."""
    plt = pyplot("compose")

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    styles = {"complete": ("o", "tab:blue", "complete"), "pruned": ("o", "tab:gray", "pruned (partial dev set)")}
    shown: set[str] = set()
    labels: dict[tuple[float, float], list[str]] = {}
    for t in report.trials:
        r = t.row
        if r is None or r.accuracy is None or t.state not in styles:
            continue
        marker, color, name = styles[t.state]
        if t.number == report.best:
            marker, color, name = "*", "tab:red", "best"
        yerr = [[max(0.0, r.accuracy - r.ci[0])], [max(0.0, r.ci[1] - r.accuracy)]]
        ax.errorbar([r.mean_tokens], [r.accuracy], yerr=yerr, fmt=marker, color=color, capsize=3, alpha=0.8,
                    markersize=12 if name == "best" else 5, label=None if name in shown else name)
        shown.add(name)
        labels.setdefault((round(r.mean_tokens, 3), round(r.accuracy, 6)), []).append(str(t.number))
    xs = [t.row.mean_tokens for t in report.trials if t.row and t.row.mean_tokens > 0]
    title = f"compose {report.space}: {len(report.trials)} trials, {report.dev_problems} dev problems, {report.model}"
    # trials of the same configuration share one label; none overlaps another
    return save_accuracy_plot(plt, fig, ax, xs, ylabel="dev accuracy (95% Wilson interval)", title=title[:100],
                              legend=bool(shown), path=path, fontsize=7,
                              labels=[(x, y, ",".join(nums)) for (x, y), nums in labels.items()])


def write_compose_outputs(report: ComposeReport, out_dir: str | Path) -> dict[str, Path]:
    """``best.yaml`` (when a trial completed), ``compose.md``, ``compose.csv``, ``compose.json``, ``compose.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "compose.md", "csv": out / "compose.csv", "json": out / "compose.json",
             "png": out / "compose.png"}
    paths["md"].write_text(render_compose_markdown(report), encoding="utf-8")
    paths["csv"].write_text(render_compose_csv(report), encoding="utf-8")
    paths["json"].write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    plot_compose(report, paths["png"])
    best = report.best_trial()
    if best is not None and best.spec is not None:
        r = best.row
        header = (f"# lemmaflow compose: best of {len(report.trials)} trials (trial {best.number}) in space "
                  f"{report.space}\n# {best.description}\n# dev accuracy {r.accuracy:.3f} [{r.ci[0]:.3f}, "
                  f"{r.ci[1]:.3f}] on {r.graded} problems, {r.mean_tokens:.1f} tokens/problem, model {report.model}\n")
        paths["best"] = out / "best.yaml"
        paths["best"].write_text(header + yaml.safe_dump(best.spec, sort_keys=False), encoding="utf-8")
    return paths
