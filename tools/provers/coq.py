"""Coq prover: a pool of warm ``coqidetop`` sessions, statement-exact checks.

Each session starts once (``coqidetop`` with libraries preloaded: ``Require``,
not ``Import``), then serves checks: it adds the task's header (imports are
near free once the libraries are loaded; the state after a header is reused
while the next task has the same header), runs the plan of
:mod:`~lemmaflow.tools.provers.coq_check` and rewinds with ``Edit_at`` to the
state after the header, which restores Coq's environment exactly: nothing a
check defined is visible to the next one. A check that runs past its timeout
kills the session's process group and the session restarts in the background;
a session that dies (out of memory under its address-space limit, a crash)
gives ``crashed`` and restarts too. ``acheck`` runs checks in parallel, one per
session. :class:`~lemmaflow.tools.provers.coqc.CoqcProver` is the one-shot
fallback (a fresh ``coqc`` per check, same plan).

Every session runs confined (``CoqConfig.confine``, default True; see
``docs/prover-confinement.md``): a read-only view of the system and Coq's
libraries, a discarded scratch directory, no network, no new processes, memory
and process limits. Where no confinement can run, :meth:`CoqProver.start`
raises :class:`~lemmaflow.tools.provers.base.ProverConfinementUnavailable`;
``confine=False`` opts out explicitly.

Example::

    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.coq import CoqProver

    task = ProofTask(name="t", header="Require Import Arith.",
                     statement="Theorem t (n : nat) : n + 0 = n.", proof="Proof. lia. Qed.")
    with CoqProver(pool_size=1) as prover:
        print(prover.check(task).summary())     # proved
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from pydantic import BaseModel, ConfigDict, Field

from ._process import require_confinement
from .base import ProofResult, ProofTask, ProverMessage
from .base import ProverUnavailable
from .coq_check import DEFAULT_PRELUDE, CheckPlan, PlanError, PlannedSentence, assumption_verdict, build_plan
from .coq_ide import CoqIdeSession, IdeFailure, SessionDead, SessionTimeout, find_coqidetop
from .coq_memo import plugin_path, plugin_sentences
from .coq_text import split_sentences

if TYPE_CHECKING:
    from .coq_tactics import CoqTacticSession

__all__ = ["CoqConfig", "CoqProver", "DEFAULT_PRELOAD", "interpret_failure"]

# Every library a miniF2F-Coq header imports that Debian's Coq has, plus the tactic libraries.
DEFAULT_PRELOAD = (
    "Require Coq.Reals.Reals Coq.Arith.Arith Coq.ZArith.ZArith Coq.QArith.QArith Coq.Lists.List "
    "Coq.micromega.Lia Coq.micromega.Lra Coq.micromega.Psatz Coq.ZArith.Znumtheory Coquelicot.Coquelicot."
)


_FETCHING = re.compile(r"^Fetching \(?opaque proofs from disk for [\w.']+\)?$")


class CoqConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool_size: int = Field(2, ge=1)
    timeout_s: float = Field(30.0, gt=0)  # per check, unless the task sets its own
    memory_limit_mb: int | None = Field(4096, ge=256)  # RLIMIT_AS of each coqidetop
    preload: str = DEFAULT_PRELOAD  # loaded once per session (Require, no Import)
    prelude: str = DEFAULT_PRELUDE  # run inside the proof's module before the model's text
    coq_args: tuple[str, ...] = ()  # extra coqidetop arguments (-Q dir Lib, ...)
    start_timeout_s: float = Field(180.0, gt=0)
    # Every coqidetop runs confined (docs/prover-confinement.md); False opts out explicitly.
    confine: bool = True
    # Walk the preloaded libraries once per session in the assumption check (plugin, see coq_memo);
    # falls back to plain Print Assumptions when the plugin cannot be built. Same verdicts either way.
    assumption_memo: bool = True


def interpret_failure(plan: CheckPlan, sentence: PlannedSentence, text: str, byte_loc: int | None) -> ProofResult:
    """A Coq error at ``sentence`` -> the failed result, with its position in the model's text."""
    lines = [x for x in text.strip().splitlines() if x.strip()] or ["error"]
    # "In environment" is followed by the context; the error itself is at the end
    first = " ".join(lines[-1].split()) if lines[0].strip() == "In environment" else lines[0]
    role = sentence.role
    line, col = plan.position(sentence, byte_loc)
    msg = ProverMessage(severity="error", text=text.strip(), line=line, column=col)
    if role == "header":
        reason = f"the task's header does not load: {first}"
    elif role == "goal":
        reason = f"the original statement does not type-check: {first}"
    elif role in ("module", "prelude", "context"):
        reason = f"the {role} does not load: {first}"
    elif role == "model":
        reason = f"Coq error: {first}"
    elif role == "end":
        reason = "the proof text leaves a proof, section or module open"
    elif role == "check":
        if "was not found" in text:
            reason = f"the proof text does not define {plan.name} (aborted or never stated)"
        else:
            reason = f"{plan.name} in the proof text does not have the original statement"
    else:
        reason = f"checking failed: {first}"
    return ProofResult(status="failed", messages=[msg], reason=reason)


class _Session:
    def __init__(self, cfg: CoqConfig, plugin_dir: str | None = None) -> None:
        self.cfg = cfg
        self.plugin_dir = plugin_dir
        self.ide = CoqIdeSession(
            args=cfg.coq_args,
            memory_limit_bytes=cfg.memory_limit_mb << 20 if cfg.memory_limit_mb else None,
            confine=cfg.confine,
            env={"OCAMLPATH": plugin_dir} if plugin_dir else None,
        )
        self.base = 0
        self.header: str | None = None
        self.header_state = 0
        self.starts = 0
        self.memo = False  # this process loaded the memo plugin and sealed its preload
        self.memo_error: str | None = None

    def start(self) -> None:
        try:
            self._start(self.plugin_dir)
        except _PluginLoadError as e:
            # The plugin built but does not load in this process (e.g. a confinement that hides its folder):
            # run without the memo (plain Print Assumptions: same verdicts, slower on successful proofs).
            self.memo_error = str(e)
            self._start(None)

    def _start(self, plugin_dir: str | None) -> None:
        self.ide.kill()
        self.ide.env = {"OCAMLPATH": plugin_dir} if plugin_dir else None
        self.ide.start(self.cfg.start_timeout_s)
        state = self.ide.root
        preload = [s.text for s in split_sentences(self.cfg.preload)]
        # The memo plugin seals the libraries loaded now: before any task's header or model text.
        sealing = plugin_sentences() if plugin_dir else []
        for i, text in enumerate(preload + sealing):
            sid = self.ide.add(text, state, self.cfg.start_timeout_s)
            if isinstance(sid, IdeFailure):
                if i >= len(preload):  # Declare ML Module runs when added (it extends the grammar)
                    raise _PluginLoadError(f"the assumption-memo plugin does not load: {sid.text.strip()[:300]}")
                raise RuntimeError(f"preload failed at {text!r}: {sid.text}")
            state = sid
            if i == len(preload) - 1 or (i == len(preload) + len(sealing) - 1 and sealing):
                st = self.ide.status(self.cfg.start_timeout_s)
                if not st.ok:
                    what = st.failure.text if st.failure else ""
                    if i >= len(preload):
                        raise _PluginLoadError(f"the assumption-memo plugin does not load: {what}")
                    raise RuntimeError(f"preload failed: {what}")
        self.memo = bool(sealing)
        self.base = state
        self.header, self.header_state = None, state
        self.starts += 1


class _PluginLoadError(RuntimeError):
    pass


class CoqProver:
    """Pool of warm Coq sessions; ``check``/``acheck`` one :class:`ProofTask` each."""

    language = "coq"

    def __init__(self, config: CoqConfig | None = None, **overrides: object) -> None:
        base = config or CoqConfig()
        self.config = base.model_copy(update=overrides) if overrides else base
        self.config = CoqConfig.model_validate(self.config.model_dump())
        self._sessions: list[_Session] = []
        self._free: queue.Queue[_Session] = queue.Queue()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.plugin_dir: str | None = None  # set by start() when the assumption memo is in use

    @property
    def assumption_memo(self) -> bool:
        """Whether checks use the assumption-memo plugin (see :mod:`.coq_memo`)."""
        return any(s.memo for s in self._sessions)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._sessions:
                return
            find_coqidetop()  # ProverUnavailable with an install hint
            if self.config.confine:
                require_confinement()  # ProverConfinementUnavailable: what to install, how to opt out
            self.plugin_dir = plugin_path() if self.config.assumption_memo else None
            self._sessions = [_Session(self.config, self.plugin_dir) for _ in range(self.config.pool_size)]
            self._executor = ThreadPoolExecutor(self.config.pool_size, thread_name_prefix="coq")
            errors: list[BaseException] = []

            def boot(s: _Session) -> None:
                try:
                    s.start()
                except BaseException as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=boot, args=(s,)) for s in self._sessions]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                for s in self._sessions:
                    s.ide.kill()
                self._sessions = []
                raise RuntimeError(f"Coq sessions did not start: {errors[0]}")
            for s in self._sessions:
                self._free.put(s)

    def close(self) -> None:
        self._closed = True
        for s in self._sessions:
            s.ide.kill()
        if self._executor:
            self._executor.shutdown(wait=False)

    def __enter__(self) -> "CoqProver":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def versions(self) -> dict[str, str]:
        """``{"coq": "8.16.1"}``: ``coqc --version`` of the Coq beside the ``coqidetop`` the pool runs."""
        from pathlib import Path

        from .versions import coq_versions

        try:
            coqc = Path(find_coqidetop()).with_name("coqc")
        except ProverUnavailable:
            return coq_versions()
        return coq_versions(str(coqc) if coqc.exists() else "coqc")

    @property
    def confined(self) -> bool:
        """False only when the user opted out (``confine=False``)."""
        return self.config.confine

    @property
    def restarts(self) -> int:
        """How many times sessions were restarted after a timeout or crash."""
        return sum(max(0, s.starts - 1) for s in self._sessions)

    def session_pids(self) -> list[int | None]:
        return [s.ide.pid for s in self._sessions]

    # -- tactic mode -------------------------------------------------------------
    @contextmanager
    def tactic_session(self, task: ProofTask) -> Iterator["CoqTacticSession"]:
        """A dedicated ``coqidetop`` for a tactic-level search on ``task``'s statement (``task.proof`` is
        ignored; see :mod:`.coq_tactics`). A finished proof still goes through :meth:`check`."""
        from .coq_tactics import CoqTacticSession

        cfg = self.config
        ide = CoqIdeSession(args=cfg.coq_args,
                            memory_limit_bytes=cfg.memory_limit_mb << 20 if cfg.memory_limit_mb else None,
                            confine=cfg.confine)
        ide.start(cfg.start_timeout_s)
        try:
            yield CoqTacticSession.open(ide, task, cfg.preload, task.timeout_s or cfg.timeout_s)
        finally:
            ide.kill()

    # -- checking ----------------------------------------------------------------
    def check(self, task: ProofTask) -> ProofResult:
        self.start()
        t0 = time.monotonic()
        try:
            plan = build_plan(task, prelude=self.config.prelude)
        except PlanError as e:
            return ProofResult(status="failed", messages=e.messages or [ProverMessage(text=e.reason)],
                               reason=e.reason, time_s=time.monotonic() - t0)
        session = self._free.get()
        healthy = False
        try:
            if not session.ide.alive:
                session.start()
            deadline = t0 + (task.timeout_s or self.config.timeout_s)
            result = self._run(session, task, plan, deadline)
            healthy = session.ide.alive and session.ide.edit_at(session.header_state, 10.0)
        except SessionTimeout:
            result = ProofResult(status="timeout", reason=f"no verdict within {task.timeout_s or self.config.timeout_s:g} s")
        except SessionDead as e:
            result = ProofResult(status="crashed", reason=f"the Coq session died: {e}")
        except RuntimeError as e:  # a session that cannot (re)start
            result = ProofResult(status="crashed", reason=str(e))
        finally:
            self._release(session, healthy)
        result.time_s = time.monotonic() - t0
        return result

    async def acheck(self, task: ProofTask) -> ProofResult:
        self.start()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.check, task)

    def _release(self, session: _Session, healthy: bool) -> None:
        if healthy or self._closed:
            self._free.put(session)
            return
        session.ide.kill()  # the whole process group

        def restart() -> None:
            if self._closed:
                return
            try:
                session.start()
            except Exception:  # noqa: BLE001 - the next check retries the start and reports it
                session.ide.kill()
            self._free.put(session)

        threading.Thread(target=restart, daemon=True).start()

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SessionTimeout("deadline passed")
        return left

    def _run(self, session: _Session, task: ProofTask, plan: CheckPlan, deadline: float) -> ProofResult:
        ide = session.ide
        if session.memo:  # the same walk and output, the sealed libraries read from the memo (coq_memo)
            last = plan.body[-1]
            plan.body[-1] = PlannedSentence("Lemmaflow " + last.text, last.role, last.offset)
        ide.messages.clear()
        by_state: dict[int, PlannedSentence] = {}
        if session.header != task.header:
            if not ide.edit_at(session.base, self._left(deadline)):
                raise SessionDead("could not rewind to the preloaded state")
            session.header, session.header_state = None, session.base
            state = session.base
            failed = self._add_all(ide, plan.header, state, by_state, deadline)
            if isinstance(failed, tuple):
                return interpret_failure(plan, failed[0], failed[1].text, failed[1].loc[0] if failed[1].loc else None)
            st = ide.status(self._left(deadline))
            if not st.ok:
                return self._status_failure(plan, ide, by_state, st.failure)
            session.header, session.header_state = task.header, failed
        added = self._add_all(ide, plan.body, session.header_state, by_state, deadline)
        st = ide.status(self._left(deadline))
        if not st.ok:
            return self._status_failure(plan, ide, by_state, st.failure)
        if isinstance(added, tuple):  # a parse error after sentences that ran fine
            sentence, fail = added
            return interpret_failure(plan, sentence, fail.text, fail.loc[0] if fail.loc else None)
        warnings = self._warnings(plan, ide, by_state)
        assumptions_sid = next(sid for sid, s in by_state.items() if s.role == "assumptions")
        # Coq also reports lazily loading library proofs ("Fetching (opaque proofs from disk for L)") there
        text = "\n".join(m.text for m in ide.messages.get(assumptions_sid, []) if m.level in ("notice", "info"))
        output = "\n".join(line for line in text.splitlines() if not _FETCHING.match(line))
        axioms, reason = assumption_verdict(plan, output)
        if reason:
            return ProofResult(status="failed", axioms=axioms, reason=reason, messages=warnings)
        return ProofResult(status="proved", axioms=axioms, messages=warnings)

    def _add_all(self, ide: CoqIdeSession, sentences: list[PlannedSentence], state: int,
                 by_state: dict[int, PlannedSentence], deadline: float) -> int | tuple[PlannedSentence, IdeFailure]:
        for s in sentences:
            sid = ide.add(s.text, state, self._left(deadline))
            if isinstance(sid, IdeFailure):
                return s, sid
            by_state[sid] = s
            state = sid
        return state

    def _status_failure(self, plan: CheckPlan, ide: CoqIdeSession, by_state: dict[int, PlannedSentence],
                        failure: IdeFailure | None) -> ProofResult:
        # The failing sentence is the one whose state carries an error message; the fail value
        # names the last good state, so fall back to the sentence right after it.
        for sid in sorted(by_state):
            errors = [m for m in ide.messages.get(sid, []) if m.level == "error"]
            if errors:
                return interpret_failure(plan, by_state[sid], errors[0].text, errors[0].loc[0] if errors[0].loc else None)
        if failure is not None and failure.good_state is not None:
            later = [sid for sid in sorted(by_state) if sid > failure.good_state]
            if later:
                return interpret_failure(plan, by_state[later[0]], failure.text, failure.loc[0] if failure.loc else None)
        text = failure.text if failure else "unknown error"
        return ProofResult(status="failed", messages=[ProverMessage(text=text)], reason=f"Coq error: {text}")

    def _warnings(self, plan: CheckPlan, ide: CoqIdeSession, by_state: dict[int, PlannedSentence]) -> list[ProverMessage]:
        out = []
        for sid, s in sorted(by_state.items()):
            if s.role != "model":
                continue
            for m in ide.messages.get(sid, []):
                if m.level == "warning":
                    line, col = plan.position(s, m.loc[0] if m.loc else None)
                    out.append(ProverMessage(severity="warning", text=m.text, line=line, column=col))
        return out
