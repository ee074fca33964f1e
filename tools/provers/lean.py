"""Lean 4 prover: statement-exact checks on a pool of warm REPL processes.

Each check borrows a REPL process from :class:`~lemmaflow.tools.provers.lean_pool.LeanPool`
(which has already run the task's header, e.g. ``import Mathlib``, once), runs
the commands of :mod:`~lemmaflow.tools.provers.lean_check` on top of the
header's environment, and reads the verdict: ``proved`` only if the model's
text elaborates without error or ``sorry``, a plain term ``@NAME`` has the
*original* statement (elaborated before the model's text), and
``#print axioms`` lists nothing beyond ``propext``, ``Classical.choice``,
``Quot.sound``. A check that runs past its timeout kills the process group
(``timeout``; the process restarts in the background); a process that dies
gives ``crashed``. ``acheck`` runs checks in parallel, one per process.

The REPL is leanprover-community/repl, named by ``$LEMMAFLOW_LEAN_REPL`` (see
the README's "Lean 4" section); :func:`~.lean_repl.fake_repl_command` is a test
double that proves nothing.

Example (needs a built REPL in a Mathlib project)::

    from lemmaflow.tools.provers.lean import LeanProver
    from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean

    problem = next(p for p in load_minif2f_lean("valid") if p.name == "mathd_algebra_182")
    with LeanProver(pool_size=1) as prover:
        print(prover.check(problem.task("  ring")).summary())     # proved

Tree search over tactics: :meth:`LeanProver.tactic_session` (see
:mod:`~lemmaflow.tools.provers.lean_tactics`).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field

from .base import ProofResult, ProofTask, ProverError, ProverMessage
from .lean_check import LeanPlan, LeanPlanError, PlannedCommand, build_plan, final_verdict, step_verdict
from .lean_pool import HeaderError, LeanPool, LeanPoolConfig
from .lean_repl import CommandResponse, LeanRepl, ReplDead, ReplError, ReplProtocolError, ReplTimeout
from .lean_tactics import TacticSession

__all__ = ["LeanConfig", "LeanProver"]


class LeanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: tuple[str, ...] | None = None  # None: $LEMMAFLOW_LEAN_REPL
    cwd: str | None = None  # None: $LEMMAFLOW_LEAN_CWD
    pool_size: int = Field(1, ge=1)
    timeout_s: float = Field(60.0, gt=0)  # per check (the header load is not counted), unless the task sets one
    memory_limit_mb: int | None = Field(16384, ge=256)
    header_timeout_s: float = Field(600.0, gt=0)
    max_headers: int = Field(4, ge=1)
    max_requests: int = Field(2000, ge=10)
    # Every REPL runs confined (docs/prover-confinement.md); False opts out explicitly.
    confine: bool = True
    read_paths: tuple[str, ...] = ()  # more host paths a confined REPL may read (the project cwd is one)

    def pool_config(self) -> LeanPoolConfig:
        return LeanPoolConfig(command=self.command, cwd=self.cwd, pool_size=self.pool_size,
                              memory_limit_mb=self.memory_limit_mb, header_timeout_s=self.header_timeout_s,
                              max_headers=self.max_headers, max_requests=self.max_requests,
                              confine=self.confine, read_paths=self.read_paths)


class LeanProver:
    """Pool of warm Lean REPL processes; ``check``/``acheck`` one :class:`ProofTask` each."""

    language = "lean4"

    def __init__(self, config: LeanConfig | None = None, **overrides: object) -> None:
        base = config or LeanConfig()
        merged = base.model_copy(update=overrides) if overrides else base
        self.config = LeanConfig.model_validate(merged.model_dump())
        self.pool = LeanPool(self.config.pool_config())
        self._executor: ThreadPoolExecutor | None = None
        self._versions: dict[str, str] | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        if self._executor is None:
            self.pool.start()  # ProverUnavailable when no REPL is configured
            self._executor = ThreadPoolExecutor(self.config.pool_size, thread_name_prefix="lean")

    def close(self) -> None:
        self.pool.close()
        if self._executor:
            self._executor.shutdown(wait=False)
            self._executor = None

    def __enter__(self) -> "LeanProver":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def versions(self) -> dict[str, str]:
        """``{"lean": ..., "mathlib": ..., "repl": ...}``: Lean as the REPL reports it (``#eval
        Lean.versionString``), Mathlib and the REPL from the Lake manifests; ``"unknown"`` where it cannot
        tell (the test double). Asked once per prover (a REPL process answers on an empty environment)."""
        if self._versions is None:
            from .versions import lean_versions_from

            self.start()
            try:  # the shared helper of tools/provers/lean_versions.py, where it exists (branch leanrepl)
                from .lean_versions import lean_versions  # type: ignore[import-not-found]
            except ImportError:
                lean_versions = None
            answer, found = None, None
            try:
                with self.pool.session("") as (repl, env):
                    if lean_versions is not None:
                        found = lean_versions(repl, list(self.pool.command or ()), self.pool.cwd,
                                              timeout_s=self.config.timeout_s)
                    else:
                        answer = repl.command("#eval Lean.versionString", env=env, timeout_s=self.config.timeout_s)
            except ProverError:
                answer = None
            self._versions = found or lean_versions_from(answer, self.pool.command or (), self.pool.cwd)
        return dict(self._versions)

    @property
    def confined(self) -> bool:
        """False only when the user opted out (``confine=False``)."""
        return self.config.confine

    @property
    def restarts(self) -> int:
        return self.pool.restarts

    # -- checking ----------------------------------------------------------------
    def check(self, task: ProofTask) -> ProofResult:
        self.start()
        t0 = time.monotonic()
        try:
            plan = build_plan(task)
        except LeanPlanError as e:
            return ProofResult(status="failed", messages=e.messages or [ProverMessage(text=e.reason)],
                               reason=e.reason, time_s=time.monotonic() - t0)
        limit = task.timeout_s or self.config.timeout_s
        try:
            with self.pool.session(task.header) as (repl, header_env):
                t1 = time.monotonic()  # the header load (once per process) is not the proof's time
                result = self._run(repl, header_env, plan, t1 + limit)
        except HeaderError as e:
            result = ProofResult(status="failed", messages=e.messages, reason=e.reason)
        except ReplTimeout:
            result = ProofResult(status="timeout", reason=f"no verdict within {limit:g} s")
        except ReplDead as e:
            result = ProofResult(status="crashed", reason=f"the Lean REPL died: {e}")
        except ReplProtocolError as e:
            result = ProofResult(status="crashed", reason=f"the Lean REPL broke the protocol: {e}")
        except ReplError as e:  # {"message": ...}: the REPL refused a request
            result = ProofResult(status="failed", reason=f"the Lean REPL refused a request: {e}")
        result.time_s = time.monotonic() - t0
        return result

    async def acheck(self, task: ProofTask) -> ProofResult:
        self.start()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.check, task)

    def _run(self, repl: LeanRepl, env: int, plan: LeanPlan, deadline: float) -> ProofResult:
        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                repl.kill()
                raise ReplTimeout("deadline passed")
            return remaining

        answers: list[tuple[PlannedCommand, CommandResponse]] = []
        for cmd in plan.steps:
            answer = repl.command(cmd.text, env=env, timeout_s=left())
            env = answer.env
            answers.append((cmd, answer))
            early = step_verdict(plan, cmd, answer)  # an error or sorry decides at once
            if early is not None:
                return early
        return final_verdict(plan, answers)

    # -- tactic mode -------------------------------------------------------------
    @contextmanager
    def tactic_session(self, task: ProofTask) -> Iterator[TacticSession]:
        """Hold one REPL process for a tactic-level search on ``task``'s statement (``task.proof`` is
        ignored): ``session.root`` is the initial proof state, ``session.run_tactic(state, tactic)`` steps.
        A finished proof should still go through :meth:`check` (the statement-exact verdict)."""
        self.start()
        timeout = task.timeout_s or self.config.timeout_s
        with self.pool.session(task.header) as (repl, header_env):
            yield TacticSession.open(repl, header_env, task, timeout)
