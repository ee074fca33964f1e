"""A pool of Lean REPL processes keyed by import header.

Importing Mathlib takes a long time and a lot of memory, so each process pays
for a header once: the header (``import Mathlib`` ..., ``open`` ...) runs as
the first command without ``env``, its environment id is kept, and every later
check with the same header starts from that id (``{"cmd": ..., "env": id}``).
The REPL never mutates an environment (each command answers a new id), so a
check never sees what an earlier check declared: isolation comes from always
starting at the header's id, never at a previous answer's.

A process holds at most ``max_headers`` headers (the next one restarts it) and
is restarted after ``max_requests`` requests (the REPL keeps every environment
and proof state, so its memory only grows). Checks that time out, crash the
process or break the protocol kill its process group; the process restarts in
the background and reloads the headers it held. :meth:`LeanPool.session`
prefers a free process that already has the task's header.

Example::

    from lemmaflow.tools.provers.lean_pool import LeanPool, LeanPoolConfig
    from lemmaflow.tools.provers.lean_repl import fake_repl_command

    with LeanPool(LeanPoolConfig(command=tuple(fake_repl_command()), pool_size=1)) as pool:
        with pool.session("import Mathlib") as (repl, header_env):
            print(repl.command("theorem t : 1 = 1 := rfl", env=header_env).env)
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field

from ._process import require_confinement
from .base import ProverError, ProverMessage
from .lean_repl import LeanRepl, find_lean_repl

__all__ = ["HeaderError", "LeanPool", "LeanPoolConfig", "PooledRepl"]


class HeaderError(ProverError):
    """The task's header does not elaborate (missing import, typo); ``messages`` say where."""

    def __init__(self, reason: str, messages: list[ProverMessage] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.messages = messages or []


class LeanPoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: tuple[str, ...] | None = None  # None: $LEMMAFLOW_LEAN_REPL (shlex-split)
    cwd: str | None = None  # None: $LEMMAFLOW_LEAN_CWD (the Lake project with Mathlib)
    pool_size: int = Field(1, ge=1)
    # RLIMIT_AS of each process; Mathlib's .olean files are mapped into memory and count here.
    memory_limit_mb: int | None = Field(16384, ge=256)
    header_timeout_s: float = Field(600.0, gt=0)  # `import Mathlib` from a cold cache takes minutes
    max_headers: int = Field(4, ge=1)
    max_requests: int = Field(2000, ge=10)
    # Every REPL runs confined (docs/prover-confinement.md); False opts out explicitly.
    confine: bool = True
    read_paths: tuple[str, ...] = ()  # more host paths a confined REPL may read (the project cwd is one)


class PooledRepl:
    """One REPL process of the pool and the header environments it holds."""

    def __init__(self, cfg: LeanPoolConfig, command: tuple[str, ...], cwd: str | None) -> None:
        self.cfg = cfg
        self.repl = LeanRepl(command, cwd=cwd,
                             memory_limit_bytes=cfg.memory_limit_mb << 20 if cfg.memory_limit_mb else None,
                             confine=cfg.confine, read_paths=cfg.read_paths)
        self.headers: dict[str, int] = {}
        self.starts = 0

    def start(self) -> None:
        self.repl.start()
        self.headers = {}
        self.starts += 1

    def header_env(self, header: str) -> int:
        """The environment id after ``header`` in this process (running the header once)."""
        if header in self.headers:
            return self.headers[header]
        if len(self.headers) >= self.cfg.max_headers or not self.repl.alive:
            self.start()
        answer = self.repl.command(header, env=None, timeout_s=self.cfg.header_timeout_s)
        if answer.errors:
            msgs = [ProverMessage(severity="error", text=m.data, line=m.pos.line if m.pos else None,
                                  column=m.pos.column if m.pos else None) for m in answer.errors]
            first = answer.errors[0].data.splitlines()[0] if answer.errors[0].data else "error"
            raise HeaderError(f"the task's header does not load: {first}", msgs)
        self.headers[header] = answer.env
        return answer.env


class LeanPool:
    """``pool_size`` REPL processes; :meth:`session` lends one, with the environment of a header."""

    def __init__(self, config: LeanPoolConfig | None = None) -> None:
        self.config = config or LeanPoolConfig()
        self._procs: list[PooledRepl] = []
        self._free: list[PooledRepl] = []
        self._cond = threading.Condition()
        self._closed = False
        self.command: tuple[str, ...] | None = None  # resolved at start (config or $LEMMAFLOW_LEAN_REPL)
        self.cwd: str | None = None

    def start(self) -> None:
        with self._cond:
            if self._procs:
                return
            if self.config.command is not None:
                command, cwd = self.config.command, self.config.cwd
            else:
                found, env_cwd = find_lean_repl()  # ProverUnavailable with a setup hint
                command, cwd = tuple(found), self.config.cwd or env_cwd
            if self.config.confine:
                require_confinement()  # ProverConfinementUnavailable: what to install, how to opt out
            self.command, self.cwd = command, cwd
            self._procs = [PooledRepl(self.config, command, cwd) for _ in range(self.config.pool_size)]
            for p in self._procs:
                p.start()
            self._free = list(self._procs)
            self._closed = False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for p in self._procs:
                p.repl.kill()
            self._cond.notify_all()

    def __enter__(self) -> "LeanPool":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def restarts(self) -> int:
        """How many times processes were restarted (timeouts, crashes, header or request limits)."""
        return sum(max(0, p.starts - 1) for p in self._procs)

    def pids(self) -> list[int | None]:
        return [p.repl.pid for p in self._procs]

    def _acquire(self, header: str) -> PooledRepl:
        with self._cond:
            while not self._free:
                if self._closed:
                    raise ProverError("the Lean pool is closed")
                self._cond.wait()
            if self._closed:
                raise ProverError("the Lean pool is closed")
            pick = next((p for p in self._free if header in p.headers and p.repl.alive), self._free[0])
            self._free.remove(pick)
            return pick

    def _release(self, proc: PooledRepl, healthy: bool) -> None:
        if healthy or self._closed:
            with self._cond:
                self._free.append(proc)
                self._cond.notify()
            return
        held = list(proc.headers)
        proc.repl.kill()  # the whole process group

        def restart() -> None:
            try:
                if not self._closed:
                    proc.start()
                    for h in held[-self.config.max_headers:]:
                        proc.header_env(h)  # warm again in the background
            except (ProverError, OSError):
                proc.repl.kill()  # the next session starts it again and reports the error
            with self._cond:
                self._free.append(proc)
                self._cond.notify()

        threading.Thread(target=restart, daemon=True).start()

    @contextmanager
    def session(self, header: str) -> Iterator[tuple[LeanRepl, int]]:
        """Lend a process and the environment id after ``header``; a REPL failure inside the block
        (timeout, crash, protocol error) restarts the process in the background and propagates."""
        proc = self._acquire(header)
        try:
            if not proc.repl.alive or proc.repl.requests >= self.config.max_requests:
                proc.start()  # dead, or grown too large (the REPL keeps every environment and proof state)
            env = proc.header_env(header)
            yield proc.repl, env
        finally:
            # timeouts, crashes and protocol errors have killed the process; anything else leaves it usable
            self._release(proc, proc.repl.alive)
