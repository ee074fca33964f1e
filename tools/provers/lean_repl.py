"""A client for the Lean 4 REPL (leanprover-community/repl): JSON requests and answers.

Protocol (the REPL's README, ``REPL/Main.lean``, ``REPL/JSON.lean``): a request
is one JSON object followed by a blank line; an answer is one JSON object,
pretty-printed by Lean over several lines (width 80), followed by a blank line
(answers never contain a blank line: JSON strings escape newlines). The reader
frames answers at that blank line and skips anything before the first ``{``
(a notice ``lake env`` printed). Requests used here:

- ``{"cmd": TEXT}`` elaborates TEXT (which may start with ``import``) in a fresh
  environment; ``{"cmd": TEXT, "env": N}`` elaborates it on top of environment
  ``N`` (no imports then). Every command answers a *new* environment id; old
  ids stay valid, so running each proof on the header's id never sees an
  earlier proof. Answer fields (absent when empty): ``env``, ``messages``
  (``severity``, ``pos`` {line 1-based, column 0-based}, ``endPos``, ``data``),
  ``sorries`` (``pos``, ``endPos``, ``goal``, ``proofState``).
- ``{"tactic": TACTIC, "proofState": N}`` runs a tactic on a recorded proof
  state (one per ``sorry``, or a previous tactic's answer) and answers
  ``proofState`` (the new one), ``goals`` (pretty-printed, ``[]`` when none is
  left), ``messages``, ``sorries``, ``traces`` and, in current releases,
  ``proofStatus`` ("Completed", "Incomplete: open goals remain", "Incomplete:
  contains metavariable(s)", "Incomplete: contains sorry", "Error: kernel type
  check failed: ..."): empty ``goals`` is *not* a finished proof unless the
  status is "Completed" (:attr:`TacticResponse.completed`).
- A request the REPL cannot serve (unknown env or proof state, a Lean exception
  in tactic mode: ``"Lean error:\n..."``) answers ``{"message": TEXT}``:
  :class:`ReplRequestError`. A request that is not valid JSON or not a REPL
  command makes the real REPL exit (``uncaught exception: ...`` on stderr):
  :class:`ReplDead`, whose message carries that stderr line.

A ``sorry`` is only a *warning* for Lean ("declaration uses `sorry`"; releases
before 2025 wrote 'sorry'); callers must treat it as unproved
(:attr:`CommandResponse.uses_sorry`).

The process runs confined by default (:func:`._process.spawn_prover`: a read-only
view of the system, the toolchain, the REPL and the project; a discarded scratch
directory; no network; ``confine=False`` opts out; docs/prover-confinement.md)
in its own process group with an address-space limit
(``RLIMIT_AS``; note that Lean maps Mathlib's ``.olean`` files into memory, so
the limit must cover them: 16 GiB by default in the pool). A request that gets
no answer before its deadline kills the whole group (:class:`ReplTimeout`); a
process that exits (crash, out of memory) raises :class:`ReplDead`.

Example (any ``repl`` build; the fake shown runs everywhere)::

    from lemmaflow.tools.provers.lean_repl import LeanRepl, fake_repl_command

    repl = LeanRepl(fake_repl_command())  # the double's own file: it runs confined too
    repl.start()
    env = repl.command("def f := 37").env
    print(repl.command("theorem t : 1 + 1 = 2 := by sorry", env=env).sorries[0].proof_state)
    repl.close()
"""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import BaseModel, Field, ValidationError

from ._process import kill_group, spawn_prover
from .base import ProverError, ProverUnavailable

__all__ = [
    "CommandResponse",
    "LeanRepl",
    "ReplDead",
    "ReplError",
    "ReplMessage",
    "ReplProtocolError",
    "ReplRequestError",
    "ReplSorry",
    "ReplTimeout",
    "TacticResponse",
    "fake_repl_command",
    "find_lean_repl",
]

ENV_VAR = "LEMMAFLOW_LEAN_REPL"
CWD_VAR = "LEMMAFLOW_LEAN_CWD"


class ReplError(ProverError):
    """Base of the Lean REPL client's errors."""


class ReplDead(ReplError):
    """The REPL process exited (crash, out of memory, killed)."""


class ReplTimeout(ReplError):
    """No answer before the deadline; the process group has been killed."""


class ReplProtocolError(ReplError):
    """The REPL wrote something that is not a JSON answer; the process has been killed."""


class ReplRequestError(ReplError):
    """The REPL answered ``{"message": ...}``: unknown environment or proof state, Lean exception."""


class Position(BaseModel):
    line: int  # 1-based
    column: int  # 0-based, in characters


class ReplMessage(BaseModel):
    severity: str = "error"  # error | warning | info (older REPLs: information)
    pos: Position | None = None
    end_pos: Position | None = Field(None, alias="endPos")
    data: str = ""

    model_config = {"populate_by_name": True}

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def level(self) -> Literal["error", "warning", "info"]:
        """The severity as :class:`~lemmaflow.tools.provers.base.ProverMessage` spells it."""
        return "warning" if self.severity == "warning" else "error" if self.is_error else "info"


class ReplSorry(BaseModel):
    pos: Position | None = None
    end_pos: Position | None = Field(None, alias="endPos")
    goal: str = ""
    proof_state: int | None = Field(None, alias="proofState")

    model_config = {"populate_by_name": True}


_SORRY_WARNINGS = ("declaration uses `sorry`", "declaration uses 'sorry'")  # current, older releases


def _mentions_sorry(messages: list[ReplMessage]) -> bool:
    return any(w in m.data for m in messages for w in _SORRY_WARNINGS)


class CommandResponse(BaseModel):
    env: int
    messages: list[ReplMessage] = Field(default_factory=list)
    sorries: list[ReplSorry] = Field(default_factory=list)
    tactics: list[dict[str, Any]] = Field(default_factory=list)  # with "allTactics": true
    infotree: Any = None  # with "infotree": "full" | "tactics" | ...

    @property
    def errors(self) -> list[ReplMessage]:
        return [m for m in self.messages if m.is_error]

    @property
    def uses_sorry(self) -> bool:
        return bool(self.sorries) or _mentions_sorry(self.messages)


class TacticResponse(BaseModel):
    proof_state: int | None = Field(None, alias="proofState")
    goals: list[str] = Field(default_factory=list)
    messages: list[ReplMessage] = Field(default_factory=list)
    sorries: list[ReplSorry] = Field(default_factory=list)
    traces: list[str] = Field(default_factory=list)
    # None from REPL releases before proofStatus existed (then empty goals is all a client can see)
    proof_status: str | None = Field(None, alias="proofStatus")

    model_config = {"populate_by_name": True}

    @property
    def errors(self) -> list[ReplMessage]:
        return [m for m in self.messages if m.is_error]

    @property
    def uses_sorry(self) -> bool:
        return bool(self.sorries) or _mentions_sorry(self.messages)

    @property
    def completed(self) -> bool | None:
        """True/False from ``proofStatus`` ("Completed" only); None when the REPL does not report it."""
        return None if self.proof_status is None else self.proof_status == "Completed"


def fake_repl_command() -> list[str]:
    """The command line of the shipped test double (:mod:`.lean_fake_repl`); never a Lean.

    It runs the module's file directly (it imports only the standard library), which starts
    in a tenth of the time ``python -m lemmaflow...`` takes to import the package."""
    return [sys.executable, str(Path(__file__).with_name("lean_fake_repl.py"))]


def find_lean_repl() -> tuple[list[str], str | None]:
    """The real REPL's command line from ``$LEMMAFLOW_LEAN_REPL`` (and working directory from
    ``$LEMMAFLOW_LEAN_CWD``), or :class:`ProverUnavailable` saying how to set it up."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        raise ProverUnavailable(
            f"no Lean REPL: build leanprover-community/repl (lake build) and set {ENV_VAR} to its command, "
            f"e.g. 'lake env /path/to/repl/.lake/build/bin/repl' with {CWD_VAR} set to your Mathlib project"
        )
    cwd = os.environ.get(CWD_VAR) or None
    return shlex.split(value), cwd


_LEAN_VARS = ("LEAN_PATH", "LEAN_SRC_PATH", "ELAN_HOME", "ELAN_TOOLCHAIN", "LAKE_HOME", "LEAN_SYSROOT")


def lean_confinement(command_line: Sequence[str], env_vars: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(read-only paths, environment) a confined REPL needs besides the system and its project:
    the elan home (toolchains) when there is one, the directories of
    ``$LEAN_PATH``/``$LEAN_SRC_PATH``, and the host's Lean/elan variables and ``PATH``."""
    env = {k: os.environ[k] for k in _LEAN_VARS if os.environ.get(k)}
    env["PATH"] = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(env_vars or {})
    paths: list[str] = []
    elan = env.get("ELAN_HOME") or os.path.expanduser("~/.elan")
    if os.path.isdir(elan):  # toolchains (and the shared libraries a built REPL links against)
        paths.append(elan)
        env.setdefault("ELAN_HOME", elan)  # $HOME inside is the scratch directory
    for var in ("LEAN_PATH", "LEAN_SRC_PATH"):
        paths += [p for p in env.get(var, "").split(os.pathsep) if p]
    return paths, env


@dataclass
class LeanRepl:
    """One REPL process. Not thread-safe: the pool hands each one to one caller at a time."""

    command_line: Sequence[str]
    cwd: str | None = None
    memory_limit_bytes: int | None = None
    env_vars: dict[str, str] | None = None
    confine: bool = True  # False: the user opted out (full file-system rights)
    read_paths: tuple[str, ...] = ()  # more host paths a confined REPL may read (cwd is one already)
    max_processes: int = 512  # confined: processes + threads (Lean runs a thread per core)
    pid: int | None = field(default=None, init=False)
    requests: int = field(default=0, init=False)  # requests answered since the last start

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._stderr: Any = None  # a temporary file: what the REPL said before dying goes into ReplDead

    # -- process ---------------------------------------------------------------
    def start(self) -> None:
        self.kill()
        paths, env = lean_confinement(self.command_line, self.env_vars) if self.confine else ([], self.env_vars)
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()  # what the REPL says before dying goes into ReplDead
        try:
            # lake env starts the REPL as a child: a confined Lean may fork, inside its pid namespace
            self._proc = spawn_prover(
                self.command_line, confine=self.confine, memory_limit_bytes=self.memory_limit_bytes, cwd=self.cwd,
                env=env, read_paths=[*paths, *self.read_paths], allow_fork=True, max_processes=self.max_processes,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            )
        except OSError as e:
            raise ProverUnavailable(f"cannot start the Lean REPL {list(self.command_line)!r}: {e}") from None
        self.pid = self._proc.pid
        self._buf = b""
        self.requests = 0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """Kill the whole process group (the REPL and anything it started)."""
        proc, self._proc = self._proc, None
        kill_group(proc)

    def close(self) -> None:
        self.kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr_tail(self, limit: int = 500) -> str:
        """The last ``limit`` bytes the process wrote to stderr (e.g. ``uncaught exception: ...``)."""
        f = self._stderr
        if f is None:
            return ""
        try:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def __enter__(self) -> "LeanRepl":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- protocol ----------------------------------------------------------------
    def request(self, payload: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
        """Send one request, return its JSON answer (raises on ``{"message": ...}`` answers)."""
        if not self.alive:
            raise ReplDead("the Lean REPL is not running")
        assert self._proc is not None and self._proc.stdin is not None
        # json.dumps escapes newlines, so the request has no blank line inside
        data = (json.dumps(payload, ensure_ascii=False) + "\n\n").encode()
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.kill()
            raise ReplDead(f"the Lean REPL exited: {e}") from None
        text = self._read_answer(time.monotonic() + timeout_s)
        brace = text.find("{")
        if brace > 0:  # a line the toolchain printed before the answer (e.g. a `lake env` notice)
            text = text[brace:]
        try:
            answer = json.loads(text)
        except json.JSONDecodeError:
            self.kill()
            raise ReplProtocolError(f"not a JSON answer: {text[:200]!r}") from None
        if not isinstance(answer, dict):
            self.kill()
            raise ReplProtocolError(f"not a JSON object: {text[:200]!r}")
        self.requests += 1
        if "message" in answer and "env" not in answer and "proofState" not in answer:
            raise ReplRequestError(str(answer["message"]))
        return answer

    def _read_answer(self, deadline: float) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            # an answer ends at the first blank line after some content
            stripped = self._buf.lstrip(b"\r\n")
            end = stripped.find(b"\n\n")
            if end < 0:
                end = stripped.find(b"\n\r\n")
            if end >= 0:
                self._buf = stripped[end + 2:]
                return stripped[:end].decode("utf-8", errors="replace")
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ReplTimeout("no answer from the Lean REPL in time")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                try:
                    code = self._proc.wait(timeout=1.0) if self._proc else None
                except subprocess.TimeoutExpired:
                    code = None
                said = self.stderr_tail()
                self.kill()
                raise ReplDead(f"the Lean REPL exited (status {code})" + (f": {said}" if said else ""))
            self._buf += chunk

    def command(self, cmd: str, env: int | None = None, timeout_s: float = 60.0) -> CommandResponse:
        """Elaborate ``cmd`` (on top of ``env``, or in a fresh environment with its imports)."""
        payload: dict[str, Any] = {"cmd": cmd}
        if env is not None:
            payload["env"] = env
        answer = self.request(payload, timeout_s)
        if "env" not in answer:
            raise ReplProtocolError(f"command answer without env: {str(answer)[:200]}")
        try:
            return CommandResponse.model_validate(answer)
        except ValidationError as e:
            raise ReplProtocolError(f"unexpected command answer: {e}") from None

    def tactic(self, proof_state: int, tactic: str, timeout_s: float = 60.0) -> TacticResponse:
        """Run one tactic on a recorded proof state."""
        answer = self.request({"tactic": tactic, "proofState": proof_state}, timeout_s)
        try:
            return TacticResponse.model_validate(answer)
        except ValidationError as e:
            raise ReplProtocolError(f"unexpected tactic answer: {e}") from None
