"""The ``lemmaflow prove`` job: many attempts over a Coq or Lean 4 dataset, growing a lemma library, resumable.

LEGO-Prover (Wang et al., arXiv 2310.00656) evaluates by pass@N: each problem
gets up to N attempts, and the library grows across problems and attempts. The
job runs, for attempt 1..N and each problem not solved yet, the
:class:`~.lego.LegoProver` node with the library (arm ``library``) and, unless
``baseline=False``, the same node without it (arm ``baseline``: no retrieval,
nothing written; same prompts, sampling and repair rounds, so equal attempts
and per-attempt token limits). After every ``evolve_every`` library attempts
the :class:`~.evolver.Evolver` works the library (its tokens are reported
separately).

Checkpoints: every finished attempt and evolver step is one JSON line appended
to ``OUT/attempts.jsonl`` (flushed and fsynced) — ``kill -9`` loses at most the
step in flight; a rerun with the same ``OUT`` skips finished steps and keeps the
run id (``OUT/job.json``). Library writes happen before the checkpoint and are
deduplicated, so a step redone after a kill never adds an entry twice. A step
that raises is recorded as ``error`` and retried on the next run; it never
stops the job.

Report: ``OUT/report.json`` and ``OUT/report.md`` — solved problems over
attempts for both arms side by side, tokens, library growth, and which library
lemmas were reused in which problems.

Any prover: the language is ``prover.language`` (Coq or Lean 4; problems are
:class:`~lemmaflow.tools.provers.minif2f.CoqProblem` or
:class:`~lemmaflow.tools.provers.minif2f_lean.LeanProblem`, anything with
``name``/``statement``/``header``); the library arm sees only lemmas of that
language. Versions are part of the result: ``prover.versions()`` is recorded
in ``job.json`` (a resume under other versions is refused, like another model),
in the report, and as the first event of ``OUT/trace.jsonl`` (``prove_start``;
each attempt's trace follows). Library lemmas verified under other versions are
counted at the start (``library_version_mismatch`` in report and trace, a
warning in ``report.md``) and handled by ``prover.version_mismatch``
(``exclude`` default, ``warn``, ``error``: the job refuses to start).

``method="whole_proof"`` runs :class:`~.whole_proof.WholeProof` instead (one arm,
``whole_proof``: DeepSeek-Prover sampling with truncate-and-resume, no library),
with the same checkpoints, resume and report, so that LEGO and whole-proof
sampling are compared at the tokens the reports show.

Example (real Coq; any backend)::

    import asyncio
    from lemmaflow.agents.proving.job import ProveJob, ProveJobConfig
    from lemmaflow.tools.provers.coq import CoqProver
    from lemmaflow.tools.provers.minif2f import load_minif2f_coq
    from lemmaflow.skills_library import open_store

    with CoqProver() as coq, open_store("runs/lib.db") as store:
        job = ProveJob(load_minif2f_coq("valid", limit=2), backend, coq, store, "runs/prove",
                       ProveJobConfig(attempts=2))
        summary = asyncio.run(job.run())
        print(job.write_report()["arms"])
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from ...tools.provers.minif2f import CoqProblem
from ...tools.provers.minif2f_lean import LeanProblem
from ..batch import _repair_tail
from ..budget import Budget, BudgetExceeded
from ..context import RunContext
from ..trace import append_jsonl
from .evolver import Evolver
from .lego import LegoProver, prover_versions
from .library import VersionMismatch, version_mismatch
from .whole_proof import WholeProof

__all__ = ["JobMismatch", "ProveJob", "ProveJobConfig", "ProveState", "build_report", "load_rows", "render_markdown"]

ARMS = ("library", "baseline", "whole_proof")


def job_arms(config: "ProveJobConfig") -> list[str]:
    """The arms a job runs: LEGO with and (unless ``baseline=False``) without the library, or whole-proof."""
    if config.method == "whole_proof":
        return ["whole_proof"]
    return ["library", "baseline"] if config.baseline else ["library"]


class JobMismatch(ValueError):
    """The output folder holds checkpoints of another model or dataset."""


class ProveJobConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(1, ge=1)
    method: Literal["lego", "whole_proof"] = "lego"  # whole_proof: one arm, WholeProof, no library
    baseline: bool = True
    evolve_every: int = Field(1, ge=0)  # an evolver step after every K library attempts (0: never)
    concurrency: int = Field(1, ge=1)  # problems in flight at once (1: the library grows problem by problem)
    prover: LegoProver.Config = Field(default_factory=LegoProver.Config)
    whole_proof: WholeProof.Config = Field(default_factory=WholeProof.Config)
    evolver: Evolver.Config = Field(default_factory=Evolver.Config)
    budget: Budget | None = None  # per attempt (LLM calls, tokens, wall time)


class ProveState(BaseModel):
    """Live counts for the progress bar."""

    done: int = 0
    total: int = 0
    solved: dict[str, int] = Field(default_factory=lambda: {"library": 0, "baseline": 0})  # per arm run
    library_size: int = 0
    reuse: int = 0  # successful attempts that used a library lemma
    errors: int = 0
    version_mismatch: int = 0  # library lemmas of other prover versions met by this run's retrievals


def load_rows(path: str | Path) -> list[dict]:
    """Checkpoint rows in order; a torn last line (kill -9) is ignored."""
    p = Path(path)
    rows: list[dict] = []
    if not p.exists():
        return rows
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "key" in row:
            rows.append(row)
    return rows


def library_mismatches(store, language: str, versions: dict[str, str]) -> dict[str, int]:
    """Verified lemmas of ``language`` whose recorded versions differ from ``versions``, counted by what
    they were verified under (``"coq 8.15.0"``, ``"lean 4.9.0, mathlib v4.9.0"``, ``"unrecorded"``)."""
    out: dict[str, int] = {}
    if not versions:
        return out
    for e in store.list(kind="lemma", language=language, status="verified"):
        if version_mismatch(e, versions):
            own = e.metadata.get("versions")
            key = ", ".join(f"{k} {v}" for k, v in sorted(own.items())) if own else "unrecorded"
            out[key] = out.get(key, 0) + 1
    return out


class ProveJob:
    def __init__(self, problems: Sequence[CoqProblem | LeanProblem], backend, prover, store, out_dir: str | Path,
                 config: ProveJobConfig | None = None, *, dataset: str = "",
                 on_step: Callable[[dict, ProveState], None] | None = None):
        self.problems = list(problems)
        self.backend = backend
        self.prover = prover
        self.store = store
        self.out = Path(out_dir)
        self.config = config or ProveJobConfig()
        self.dataset = dataset
        self.on_step = on_step
        self.out.mkdir(parents=True, exist_ok=True)
        self.rows_path = self.out / "attempts.jsonl"
        meta_path = self.out / "job.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        self.run_id: str = meta.get("run_id") or uuid.uuid4().hex[:12]
        self.language: str = getattr(prover, "language", "coq")
        self.versions: dict[str, str] = prover_versions(prover)
        known_model = getattr(backend, "model_id", None)  # None: a probe without a model (resume check)
        for what, now in (("model", known_model), ("dataset", dataset), ("language", self.language),
                          ("versions", self.versions)):
            if meta.get(what) and now and meta[what] != now:
                raise JobMismatch(f"{self.out} holds a job for {what} {meta[what]!r}, not {now!r}: "
                                  "use another output folder (checkpoints are per model, dataset, prover and "
                                  "prover versions)")
        self.model: str = known_model or meta.get("model") or "?"
        # False only when the user opted out of prover confinement (--unconfined-prover): kept in
        # job.json, every attempt row and the report.
        self.prover_confined: bool = getattr(prover, "confined", True) is not False
        self.mismatches = library_mismatches(store, self.language, self.versions) if store is not None else {}
        policy = self.config.prover.version_mismatch
        if self.mismatches and policy == "error":
            raise VersionMismatch(
                f"the library holds {sum(self.mismatches.values())} verified {self.language} lemmas of other "
                f"prover versions ({self._mismatch_text()}); this run is {self._versions_text()}. "
                "version_mismatch=error refuses to run: use another library, or exclude/warn")
        meta.update(run_id=self.run_id, dataset=dataset or meta.get("dataset", ""), language=self.language,
                    versions=self.versions or meta.get("versions"), prover_confined=self.prover_confined,
                    model=known_model or meta.get("model"),
                    problems=[p.name for p in self.problems], config=self.config.model_dump(mode="json"))
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(meta_path)
        self.state = ProveState()
        self.trace_path = self.out / "trace.jsonl"

    def _versions_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.versions.items()) or "of unknown versions"

    def _mismatch_text(self) -> str:
        return "; ".join(f"{n} under {k}" for k, n in sorted(self.mismatches.items()))

    def version_warning(self) -> str | None:
        """One line for the progress/console when the library holds lemmas of other prover versions."""
        if not self.mismatches:
            if not self.versions:
                return "the prover reports no versions: library lemmas cannot be checked for version mismatches"
            return None
        policy = self.config.prover.version_mismatch
        what = ("they are NOT shown to this run (version_mismatch=exclude; --version-mismatch warn shows them)"
                if policy == "exclude" else
                "they ARE shown to this run (version_mismatch=warn): gains may come from another version's work")
        return (f"the library holds {sum(self.mismatches.values())} verified {self.language} lemmas of other "
                f"prover versions ({self._mismatch_text()}); this run is {self._versions_text()}: {what}")

    def pending(self) -> int:
        """Attempts not finished yet (0: a rerun has nothing to do)."""
        rows = load_rows(self.rows_path)
        finished = {r["key"] for r in rows if r.get("status") == "ok"}
        solved = {(r["arm"], r["problem"]) for r in rows if r.get("kind") == "attempt" and r.get("proved")}
        return sum(1 for a in range(1, self.config.attempts + 1) for p in self.problems for arm in self.arms()
                   if f"{arm}/{a}/{p.name}" not in finished and (arm, p.name) not in solved)

    def arms(self) -> list[str]:
        return job_arms(self.config)

    def _library_size(self) -> int:
        if self.store is None:  # a whole_proof job may run without a library
            return 0
        return self.store.count(kind="lemma", language=self.language, status="verified")  # type: ignore[arg-type]

    async def run(self) -> ProveState:
        c = self.config
        _repair_tail(self.rows_path)
        _repair_tail(self.trace_path)
        append_jsonl(self.trace_path, [{"problem_id": None, "t": 0.0, "kind": "info", "node": "prove_job", "data": {
            "event": "prove_start", "run_id": self.run_id, "dataset": self.dataset, "model": self.model,
            "language": self.language, "prover": type(self.prover).__name__, "versions": self.versions,
            "version_mismatch_policy": c.prover.version_mismatch,
            "library_version_mismatch": self.mismatches, "warning": self.version_warning(), "started_at": time.time()}}])
        rows = load_rows(self.rows_path)
        finished = {r["key"] for r in rows if r.get("status") == "ok"}
        solved: dict[str, set[str]] = {a: set() for a in ARMS}
        for r in rows:
            if r.get("kind") == "attempt" and r.get("proved"):
                solved[r["arm"]].add(r["problem"])
        st = self.state
        st.total = c.attempts * len(self.problems) * len(self.arms())
        st.solved = {a: len(solved[a]) for a in self.arms()}
        st.reuse = sum(1 for r in rows if r.get("kind") == "attempt" and r.get("proved") and r.get("used"))
        st.library_size = await asyncio.to_thread(self._library_size)
        lib_steps = sum(1 for r in rows if r.get("kind") == "attempt" and r.get("arm") == "library"
                        and r.get("status") == "ok")
        for attempt in range(1, c.attempts + 1):
            def todo(attempt=attempt):  # read lazily: one window at a time, never the whole attempt's list
                for problem in self.problems:
                    for arm in self.arms():
                        if f"{arm}/{attempt}/{problem.name}" in finished or problem.name in solved[arm]:
                            st.done += 1
                        else:
                            yield arm, problem
            # ``concurrency`` problems at a time (both arms of a problem run together): their model calls
            # share the engine's batch and their checks the Coq pool; each row is saved as it finishes.
            pending = todo()
            while group := list(itertools.islice(pending, c.concurrency * len(self.arms()))):
                futures = [asyncio.ensure_future(self._attempt(arm, attempt, problem)) for arm, problem in group]
                try:
                    for fut in asyncio.as_completed(futures):
                        row = await fut
                        st.done += 1
                        st.version_mismatch = max(st.version_mismatch, len(row.get("version_mismatch") or []))
                        if row["status"] != "ok":
                            st.errors += 1
                        elif row["proved"]:
                            solved[row["arm"]].add(row["problem"])
                            st.solved[row["arm"]] = len(solved[row["arm"]])
                            st.reuse += bool(row["used"])
                        if row["arm"] == "library" and row["status"] == "ok":
                            st.library_size = row.get("library_size", st.library_size)
                        self._save(row)
                finally:
                    for fut in futures:  # Ctrl-C: stop the attempts in flight; finished ones are saved
                        fut.cancel()
                for arm, problem in group:
                    if arm != "library":
                        continue
                    lib_steps += 1
                    ekey = f"evolve/{attempt}/{problem.name}"
                    if c.evolve_every and lib_steps % c.evolve_every == 0 and ekey not in finished:
                        erow = await self._evolve(ekey, attempt, problem.name)
                        st.library_size = erow.get("library_size", st.library_size)
                        self._save(erow)
        return st

    def _save(self, row: dict) -> None:
        append_jsonl(self.rows_path, [row])
        if self.on_step:
            self.on_step(row, self.state)

    async def _attempt(self, arm: str, attempt: int, problem: CoqProblem | LeanProblem) -> dict:
        use_library = arm == "library"
        ctx = RunContext.for_problem(self.backend, problem.name, self.config.budget, prover=self.prover,
                                     store=self.store if use_library else None, run_id=self.run_id)
        node = (WholeProof(self.config.whole_proof) if arm == "whole_proof"
                else LegoProver(self.config.prover, use_library=use_library))
        t0 = time.time()
        row: dict[str, Any] = dict(key=f"{arm}/{attempt}/{problem.name}", kind="attempt", arm=arm, attempt=attempt,
                                   problem=problem.name, proved=False, used=[], used_names=[],
                                   prover_confined=self.prover_confined)
        try:
            out = await node(ctx, name=problem.name, statement=problem.statement, header=problem.header)
            row.update(status="ok", **out.model_dump(mode="json", exclude={"sketch", "status", "answer"}))
            if not out.proved:
                row["proof"] = out.proof[:4000]
            if use_library:
                last = attempt == self.config.attempts
                if out.proved or last:
                    await asyncio.to_thread(self.store.record_problem, self.run_id, problem.name,
                                            solved=out.proved)
        except asyncio.CancelledError:
            raise
        except BudgetExceeded as e:  # a finished, failed attempt (not retried)
            row.update(status="ok", budget_exhausted=str(e))
        except Exception as e:  # one problem never stops the job
            row.update(status="error", error=f"{type(e).__name__}: {e}")
        row.update(prompt_tokens=ctx.ledger.total.prompt_tokens, completion_tokens=ctx.ledger.total.completion_tokens,
                   wall_s=round(time.time() - t0, 3), finished_at=time.time())
        if use_library and row["status"] == "ok":
            row["library_size"] = await asyncio.to_thread(self._library_size)
        self._save_trace(ctx, row["key"])
        return row

    def _save_trace(self, ctx, key: str) -> None:
        events = ctx.trace.to_dicts()
        for e in events:
            e["data"] = {**e.get("data", {}), "step": key}
        append_jsonl(self.trace_path, events, fsync=False)

    async def _evolve(self, key: str, attempt: int, after: str) -> dict:
        ctx = RunContext.for_problem(self.backend, f"evolve:{after}", self.config.budget, prover=self.prover,
                                     store=self.store, run_id=self.run_id)
        t0 = time.time()
        row: dict[str, Any] = dict(key=key, kind="evolve", arm="library", attempt=attempt, after=after)
        try:
            out = await Evolver(self.config.evolver)(ctx)
            row.update(status="ok", **out.model_dump(mode="json"))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            row.update(status="error", error=f"{type(e).__name__}: {e}")
        row.update(prompt_tokens=ctx.ledger.total.prompt_tokens, completion_tokens=ctx.ledger.total.completion_tokens,
                   wall_s=round(time.time() - t0, 3), finished_at=time.time(),
                   library_size=await asyncio.to_thread(self._library_size))
        self._save_trace(ctx, key)
        return row

    def write_report(self) -> dict:
        """Write ``report.json`` and ``report.md`` from the checkpoint rows and the library; return the report."""
        report = build_report(load_rows(self.rows_path), [p.name for p in self.problems], self.config,
                              self.store, run_id=self.run_id, dataset=self.dataset,
                              model=self.model, language=self.language, versions=self.versions,
                              library_mismatch=self.mismatches, prover_confined=self.prover_confined)
        (self.out / "report.json").write_text(json.dumps(report, indent=1))
        (self.out / "report.md").write_text(render_markdown(report))
        return report


def build_report(rows: list[dict], problems: list[str], config: ProveJobConfig, store=None, *,
                 run_id: str = "", dataset: str = "", model: str = "", language: str = "coq",
                 versions: dict[str, str] | None = None, library_mismatch: dict[str, int] | None = None,
                 prover_confined: bool = True) -> dict:
    """Solved over attempts per arm, tokens, library growth and reuse (the last row per key wins)."""
    latest: dict[str, dict] = {}
    for r in rows:
        latest[r["key"]] = r
    attempts = [r for r in latest.values() if r.get("kind") == "attempt" and r.get("problem") in set(problems)]
    evolves = [r for r in latest.values() if r.get("kind") == "evolve"]
    arms: dict[str, dict] = {}
    for arm in job_arms(config):
        mine = [r for r in attempts if r["arm"] == arm]
        first_solved: dict[str, int] = {}
        for r in mine:
            if r.get("proved"):
                first_solved[r["problem"]] = min(first_solved.get(r["problem"], 10 ** 9), r["attempt"])
        curve = [sum(1 for a in first_solved.values() if a <= k) for k in range(1, config.attempts + 1)]
        arms[arm] = {
            "attempts_run": sum(1 for r in mine if r.get("status") == "ok"),
            "errors": sum(1 for r in mine if r.get("status") == "error"),
            "solved": len(first_solved),
            "solved_over_attempts": curve,
            "solved_problems": sorted(first_solved),
            "prompt_tokens": sum(r.get("prompt_tokens", 0) for r in mine),
            "completion_tokens": sum(r.get("completion_tokens", 0) for r in mine),
        }
    evo_tokens = sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0) for r in evolves)
    lib_rows = sorted((r for r in attempts + evolves if "library_size" in r), key=lambda r: r.get("finished_at", 0))
    growth = [{"step": i + 1, "key": r["key"], "verified": r["library_size"]} for i, r in enumerate(lib_rows)]
    reuse = [{"problem": r["problem"], "attempt": r["attempt"], "lemmas": r.get("used", []),
              "names": r.get("used_names", [])} for r in attempts if r.get("proved") and r.get("used")]
    added = sorted({i for r in attempts for i in r.get("added", [])})
    requests = sorted({i for r in attempts for i in r.get("requests", [])})
    lib_attempts = [r for r in attempts if r["arm"] == "library"]
    shown_mismatch = sorted({i for r in lib_attempts if not r.get("version_excluded")
                             for i in r.get("version_mismatch", [])})
    excluded = sorted({i for r in lib_attempts if r.get("version_excluded") for i in r.get("version_mismatch", [])})
    report: dict[str, Any] = {
        "run_id": run_id, "dataset": dataset, "model": model, "problems": len(problems), "method": config.method,
        "attempts": config.attempts, "language": language, "versions": versions or {},
        "version_mismatch": {"policy": config.prover.version_mismatch, "library": library_mismatch or {},
                             "shown": shown_mismatch, "excluded": excluded},
        "arms": arms,
        "evolver": {
            "steps": len(evolves),
            "requests_tried": sum(len(r.get("tried_requests", [])) for r in evolves),
            "requests_proved": sorted({i for r in evolves for i in r.get("proved_requests", [])}),
            "generalized": sorted({i for r in evolves for i in r.get("generalized", [])}),
            "tokens": evo_tokens,
        },
        "library": {"helpers_added": added, "requests_added": requests, "growth": growth},
        "reuse": sorted(reuse, key=lambda x: (x["attempt"], x["problem"])),
        # any attempt checked by an unconfined prover makes the whole run unconfined
        "prover_confined": prover_confined and all(r.get("prover_confined", True) for r in attempts),
    }
    report["equal_compute"] = equal_compute(attempts, evolves, config, arms)
    if store is not None:
        s = store.stats()
        report["library"].update(size=s.total, by_status=s.by_status, events=s.events,
                                 top_used=[{"id": i, "name": n, "used": k} for i, n, k in s.top_used])
    return report


def equal_compute(attempts: list[dict], evolves: list[dict], config: ProveJobConfig, arms: dict) -> dict:
    """The library's gain over the baseline at equal *generated* tokens, and how much of it is noise.

    Compute is the completion tokens the model generated (the library arm's include the evolver's).
    The baseline's solved count is read off its curve after each attempt round at the largest round that
    spent no more than the library arm in all (``baseline_short``: the baseline never reached the library's
    spend; give it more ``--attempts`` for an equal-compute comparison). ``paired``: problems solved by
    one arm only; under "no gain" the difference ``library_only - baseline_only`` is noise of about
    ``sqrt(library_only + baseline_only)`` (McNemar), so a gain within twice that is not a measured gain —
    the equal-compute check of arXiv 2504.03048 on your own run.
    """
    if "baseline" not in arms:
        return {}
    cum: dict[str, list[int]] = {}
    for arm in ("library", "baseline"):
        total, curve = 0, []
        for a in range(1, config.attempts + 1):
            total += sum(r.get("completion_tokens", 0) for r in attempts if r["arm"] == arm and r["attempt"] == a)
            if arm == "library":
                total += sum(r.get("completion_tokens", 0) for r in evolves if r.get("attempt") == a)
            curve.append(total)
        cum[arm] = curve
    lib_tokens, base_curve = cum["library"][-1], cum["baseline"]
    rounds = [a for a in range(config.attempts) if base_curve[a] <= lib_tokens]
    base_solved = arms["baseline"]["solved_over_attempts"][rounds[-1]] if rounds else 0
    lib_set, base_set = set(arms["library"]["solved_problems"]), set(arms["baseline"]["solved_problems"])
    only_lib, only_base = len(lib_set - base_set), len(base_set - lib_set)
    gain = arms["library"]["solved"] - base_solved
    noise = (only_lib + only_base) ** 0.5
    return {"library_tokens": lib_tokens, "baseline_tokens": base_curve[-1], "baseline_solved_at_equal_tokens":
            base_solved, "baseline_short": base_curve[-1] < lib_tokens, "gain": gain,
            "paired": {"library_only": only_lib, "baseline_only": only_base, "noise_sd": round(noise, 3)},
            "significant": abs(gain) > 2 * noise}


def render_markdown(report: dict) -> str:
    arms = report["arms"]
    names = list(arms)
    lines = [f"# lemmaflow prove: {report['dataset'] or 'problems'} ({report['problems']} problems, "
             f"{report['attempts']} attempts, model {report['model']}, method {report.get('method', 'lego')})", "",
             f"Prover: {report.get('language', 'coq')}, "
             + (", ".join(f"{k} {v}" for k, v in report.get("versions", {}).items()) or "versions unknown"), ""]
    vm = report.get("version_mismatch") or {}
    if vm.get("library") or vm.get("shown"):
        n = sum(vm.get("library", {}).values())
        lines += [f"**Warning: the library holds {n} lemmas verified under other prover versions** "
                  f"({'; '.join(f'{c} under {k}' for k, c in sorted(vm.get('library', {}).items()))}). "
                  f"Policy `{vm.get('policy')}`: {len(vm.get('shown', []))} of them were shown to this run, "
                  f"{len(vm.get('excluded', []))} left out.", ""]
    if not report.get("prover_confined", True):
        lines += ["**Warning: the prover ran UNCONFINED (--unconfined-prover): the model's proof texts ran "
                  "with your full file-system and network rights.**", ""]
    lines += ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append("| solved | " + " | ".join(f"{arms[a]['solved']}/{report['problems']}" for a in names) + " |")
    for k in range(report["attempts"]):
        lines.append(f"| solved by attempt {k + 1} | "
                     + " | ".join(str(arms[a]["solved_over_attempts"][k]) for a in names) + " |")
    lines.append("| attempts run | " + " | ".join(str(arms[a]["attempts_run"]) for a in names) + " |")
    lines.append("| errors | " + " | ".join(str(arms[a]["errors"]) for a in names) + " |")
    lines.append("| prover tokens (prompt + completion) | "
                 + " | ".join(f"{arms[a]['prompt_tokens']} + {arms[a]['completion_tokens']}" for a in names) + " |")
    eq = report.get("equal_compute") or {}
    if eq:
        verdict = ("a measured gain" if eq["significant"] and eq["gain"] > 0 else
                   "a measured loss" if eq["significant"] else "NO measurable library gain at equal compute")
        lines.append(f"| library gain at equal generated tokens | {eq['gain']:+d} ({verdict}; library "
                     f"{eq['library_tokens']} tokens with the evolver, baseline "
                     f"{eq['baseline_solved_at_equal_tokens']} solved within them; solved by one arm only: "
                     f"library {eq['paired']['library_only']}, baseline {eq['paired']['baseline_only']}) |")
    ev = report["evolver"]
    totals = [arms[a]["prompt_tokens"] + arms[a]["completion_tokens"] + (ev["tokens"] if a == "library" else 0)
              for a in names]
    lines.append("| all tokens (library: with the evolver) | " + " | ".join(str(t) for t in totals) + " |")
    # equal-tokens comparison across runs (LEGO vs whole-proof vs tree search): solved per 1k tokens spent
    lines.append("| solved per 1k tokens | " + " | ".join(
        f"{1000 * arms[a]['solved'] / t:.3f}" if t else "-" for a, t in zip(names, totals)) + " |")
    if eq.get("baseline_short"):
        lines += ["", f"The baseline spent {eq['baseline_tokens']} generated tokens, fewer than the library arm's "
                      f"{eq['library_tokens']}: rerun with more --attempts for a comparison at equal compute."]
    lines += ["", f"Evolver: {ev['steps']} steps, {ev['tokens']} tokens (library arm only), "
                  f"{len(ev['requests_proved'])}/{ev['requests_tried']} request tries proved, "
                  f"{len(ev['generalized'])} generalized lemmas.", ""]
    lib = report["library"]
    lines.append(f"Library: {lib.get('size', '?')} entries {lib.get('by_status', {})}; this run added "
                 f"{len(lib['helpers_added'])} verified helpers and {len(lib['requests_added'])} requests.")
    if lib["growth"]:
        lines.append("Verified lemmas after each library step: "
                     + ", ".join(str(g["verified"]) for g in lib["growth"][-40:]))
    lines += ["", "## Reuse", ""]
    if report["reuse"]:
        lines += ["| problem | attempt | library lemmas used |", "|---|---|---|"]
        lines += [f"| {r['problem']} | {r['attempt']} | {', '.join(r['names'])} |" for r in report["reuse"]]
    else:
        lines.append("No successful proof used a library lemma.")
    for a in names:
        if arms[a]["solved_problems"]:
            lines += ["", f"Solved ({a}): " + ", ".join(arms[a]["solved_problems"])]
    return "\n".join(lines) + "\n"
