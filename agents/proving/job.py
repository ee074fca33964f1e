"""The ``lemmaflow prove`` job: many attempts over a Coq dataset, growing a lemma library, resumable.

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
import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from ...tools.provers.minif2f import CoqProblem
from ..batch import _repair_tail
from ..budget import Budget, BudgetExceeded
from ..context import RunContext
from ..trace import append_jsonl
from .evolver import Evolver
from .lego import LegoProver
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


class ProveJob:
    def __init__(self, problems: Sequence[CoqProblem], backend, prover, store, out_dir: str | Path,
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
        known_model = getattr(backend, "model_id", None)  # None: a probe without a model (resume check)
        for what, now in (("model", known_model), ("dataset", dataset)):
            if meta.get(what) and now and meta[what] != now:
                raise JobMismatch(f"{self.out} holds a job for {what} {meta[what]!r}, not {now!r}: "
                                  "use another output folder (checkpoints are per model and dataset)")
        self.model: str = known_model or meta.get("model") or "?"
        meta.update(run_id=self.run_id, dataset=dataset or meta.get("dataset", ""),
                    model=known_model or meta.get("model"),
                    problems=[p.name for p in self.problems], config=self.config.model_dump(mode="json"))
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(meta_path)
        self.state = ProveState()

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
        return self.store.count(kind="lemma", language="coq", status="verified")

    async def run(self) -> ProveState:
        c = self.config
        _repair_tail(self.rows_path)
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
            todo: list[tuple[str, CoqProblem]] = []
            for problem in self.problems:
                for arm in self.arms():
                    if f"{arm}/{attempt}/{problem.name}" in finished or problem.name in solved[arm]:
                        st.done += 1
                    else:
                        todo.append((arm, problem))
            # ``concurrency`` problems at a time (both arms of a problem run together): their model calls
            # share the engine's batch and their checks the Coq pool; each row is saved as it finishes.
            for i in range(0, len(todo), c.concurrency * len(self.arms())):
                group = todo[i:i + c.concurrency * len(self.arms())]
                futures = [asyncio.ensure_future(self._attempt(arm, attempt, problem)) for arm, problem in group]
                try:
                    for fut in asyncio.as_completed(futures):
                        row = await fut
                        st.done += 1
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

    async def _attempt(self, arm: str, attempt: int, problem: CoqProblem) -> dict:
        use_library = arm == "library"
        ctx = RunContext.for_problem(self.backend, problem.name, self.config.budget, prover=self.prover,
                                     store=self.store if use_library else None, run_id=self.run_id)
        node = (WholeProof(self.config.whole_proof) if arm == "whole_proof"
                else LegoProver(self.config.prover, use_library=use_library))
        t0 = time.time()
        row: dict[str, Any] = dict(key=f"{arm}/{attempt}/{problem.name}", kind="attempt", arm=arm, attempt=attempt,
                                   problem=problem.name, proved=False, used=[], used_names=[])
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
        return row

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
        return row

    def write_report(self) -> dict:
        """Write ``report.json`` and ``report.md`` from the checkpoint rows and the library; return the report."""
        report = build_report(load_rows(self.rows_path), [p.name for p in self.problems], self.config,
                              self.store, run_id=self.run_id, dataset=self.dataset,
                              model=self.model)
        (self.out / "report.json").write_text(json.dumps(report, indent=1))
        (self.out / "report.md").write_text(render_markdown(report))
        return report


def build_report(rows: list[dict], problems: list[str], config: ProveJobConfig, store=None, *,
                 run_id: str = "", dataset: str = "", model: str = "") -> dict:
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
    report: dict[str, Any] = {
        "run_id": run_id, "dataset": dataset, "model": model, "problems": len(problems), "method": config.method,
        "attempts": config.attempts, "arms": arms,
        "evolver": {
            "steps": len(evolves),
            "requests_tried": sum(len(r.get("tried_requests", [])) for r in evolves),
            "requests_proved": sorted({i for r in evolves for i in r.get("proved_requests", [])}),
            "generalized": sorted({i for r in evolves for i in r.get("generalized", [])}),
            "tokens": evo_tokens,
        },
        "library": {"helpers_added": added, "requests_added": requests, "growth": growth},
        "reuse": sorted(reuse, key=lambda x: (x["attempt"], x["problem"])),
    }
    if store is not None:
        s = store.stats()
        report["library"].update(size=s.total, by_status=s.by_status, events=s.events,
                                 top_used=[{"id": i, "name": n, "used": k} for i, n, k in s.top_used])
    return report


def render_markdown(report: dict) -> str:
    arms = report["arms"]
    names = list(arms)
    lines = [f"# lemmaflow prove: {report['dataset'] or 'problems'} ({report['problems']} problems, "
             f"{report['attempts']} attempts, model {report['model']}, method {report.get('method', 'lego')})", "",
             "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append("| solved | " + " | ".join(f"{arms[a]['solved']}/{report['problems']}" for a in names) + " |")
    for k in range(report["attempts"]):
        lines.append(f"| solved by attempt {k + 1} | "
                     + " | ".join(str(arms[a]["solved_over_attempts"][k]) for a in names) + " |")
    lines.append("| attempts run | " + " | ".join(str(arms[a]["attempts_run"]) for a in names) + " |")
    lines.append("| errors | " + " | ".join(str(arms[a]["errors"]) for a in names) + " |")
    lines.append("| prover tokens (prompt + completion) | "
                 + " | ".join(f"{arms[a]['prompt_tokens']} + {arms[a]['completion_tokens']}" for a in names) + " |")
    ev = report["evolver"]
    totals = [arms[a]["prompt_tokens"] + arms[a]["completion_tokens"] + (ev["tokens"] if a == "library" else 0)
              for a in names]
    lines.append("| all tokens (library: with the evolver) | " + " | ".join(str(t) for t in totals) + " |")
    # equal-tokens comparison across runs (LEGO vs whole-proof vs tree search): solved per 1k tokens spent
    lines.append("| solved per 1k tokens | " + " | ".join(
        f"{1000 * arms[a]['solved'] / t:.3f}" if t else "-" for a, t in zip(names, totals)) + " |")
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
