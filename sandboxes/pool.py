"""Host side of the sandbox servers: one channel per server, a pool of them.

:class:`ServerHandle` speaks the frame protocol to one server (whatever
backend started it); :class:`ServerPool` keeps ``size`` of them warm, hands an
idle one to each job (or the *pinned* one to a session), and replaces a server
that died.  :class:`PooledExecutor` is the :class:`~.base.Executor` built on
top; the backends only differ in how they *launch* a server.

Example::

    >>> from lemmaflow.sandboxes import ForkServerExecutor
    >>> with ForkServerExecutor(pool_size=2) as ex:                  # doctest: +SKIP
    ...     [r.stdout for r in ex.map(["print(1)", "print(2)"])]
    ['1\\n', '2\\n']
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ._protocol import FrameError, read_frame, write_frame
from .base import ExecResult, Job, SandboxConfig, SandboxCrashed, SandboxError, SandboxUnavailable, wire_limits

if TYPE_CHECKING:
    from .session import Session

__all__ = ["BOOTSTRAP", "PooledExecutor", "ServerHandle", "ServerPool", "runtime_sources"]

_RUNTIME = ("_protocol", "_nsroot", "_confine", "_child", "_server")

#: What ``python -I -c`` runs inside the sandbox.  It receives the runtime
#: modules as source over the channel, so the sandbox never needs (and never
#: sees) the toolkit's files.  argv[1] is "RFD,WFD" or "unix:PATH".
BOOTSTRAP = r"""
import os, sys, json, struct, types
a = sys.argv[1]
if a.startswith("unix:"):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a[5:])
    r = w = s.detach()
else:
    r, w = (os.dup(int(x)) for x in a.split(","))
    n = os.open("/dev/null", os.O_RDWR)
    os.dup2(n, 0)
    os.dup2(2, 1)  # stray prints must not corrupt the channel
def rd(k):
    b = b""
    while len(b) < k:
        c = os.read(r, k - len(b))
        if not c:
            os._exit(3)
        b += c
    return b
msg = json.loads(rd(struct.unpack(">I", rd(4))[0]))
pkg = types.ModuleType("_lfsbx")
pkg.__path__ = []
sys.modules["_lfsbx"] = pkg
for name, src in msg["modules"]:
    m = types.ModuleType("_lfsbx." + name)
    m.__package__ = "_lfsbx"
    sys.modules[m.__name__] = m
    setattr(pkg, name, m)
    exec(compile(src, "<lemmaflow:%s>" % name, "exec"), m.__dict__)
sys.modules["_lfsbx._server"].main(r, w, msg["config"])
"""


@functools.lru_cache(maxsize=1)
def runtime_sources() -> list[list[str]]:
    here = Path(__file__).resolve().parent
    return [[name, (here / f"{name}.py").read_text()] for name in _RUNTIME]


class ServerHandle:
    """One running server and its frame channel.

    ``kill`` must end the server *and every job under it*; each launcher
    provides one that is right for its backend (pid namespace, bwrap's
    sandbox init, container).
    """

    def __init__(
        self,
        rfd: int,
        wfd: int,
        kill: Callable[[], None],
        log: IO[bytes] | None = None,
        name: str = "",
        cleanup: Callable[[], None] | None = None,
        log_reader: Callable[[], str] | None = None,
    ) -> None:
        self.rfd, self.wfd, self._kill, self.log, self.name = rfd, wfd, kill, log, name
        self._cleanup = cleanup
        self._log_reader = log_reader
        self.info: dict = {}
        self.dead = False
        self._ids = itertools.count(1)

    def log_tail(self, n: int = 4000) -> str:
        if self._log_reader is not None:
            try:
                return self._log_reader()[-n:]
            except Exception:
                return ""
        if self.log is None:
            return ""
        try:
            self.log.flush()
            self.log.seek(0)
            return self.log.read()[-n:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def hello(self, config: dict, timeout: float) -> dict:
        """Ship the runtime and config; wait for ``ready``.  Raises SandboxUnavailable."""
        try:
            write_frame(self.wfd, {"modules": runtime_sources(), "config": config})
            msg = read_frame(self.rfd, time.monotonic() + timeout)
        except (OSError, EOFError, TimeoutError, FrameError) as exc:
            self.kill(keep_log=True)
            raise SandboxUnavailable(
                f"{self.name} server did not start ({type(exc).__name__}: {exc}). Its log:\n{self.log_tail()}"
            ) from None
        if not isinstance(msg, dict) or msg.get("op") != "ready":
            self.kill(keep_log=True)
            detail = (msg.get("traceback") or msg.get("message")) if isinstance(msg, dict) else msg
            raise SandboxUnavailable(f"{self.name} server failed to start: {detail}\n{self.log_tail()}")
        self.info = msg
        return msg

    def request(self, msg: dict, timeout: float) -> dict:
        msg = {**msg, "id": next(self._ids)}
        try:
            write_frame(self.wfd, msg)
            while True:
                reply = read_frame(self.rfd, time.monotonic() + timeout)
                if isinstance(reply, dict) and reply.get("id") == msg["id"]:
                    return reply
        except (OSError, EOFError, TimeoutError, FrameError) as exc:
            self.kill(keep_log=True)
            raise SandboxCrashed(
                f"{self.name} server lost ({type(exc).__name__}: {exc}); it will be replaced. "
                f"Log tail:\n{self.log_tail(1500)}"
            ) from None

    def send(self, msg: dict) -> None:
        try:
            write_frame(self.wfd, msg)
        except OSError:
            self.kill()

    def kill(self, keep_log: bool = False) -> None:
        if self.dead:
            return
        self.dead = True
        for fd in {self.rfd, self.wfd}:
            try:
                os.close(fd)  # EOF alone makes a healthy server shut down
            except OSError:
                pass
        try:
            self._kill()
        finally:
            if self._cleanup:
                self._cleanup()
            if self.log is not None and not keep_log:
                self.log.close()

    def close(self) -> None:
        if not self.dead:
            self.send({"op": "shutdown"})
        self.kill()


def popen_kill(proc: subprocess.Popen, extra: Callable[[], None] | None = None) -> Callable[[], None]:
    def kill() -> None:
        if extra is not None:
            extra()
        try:
            proc.wait(timeout=2)  # it usually exits by itself on EOF
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.wait()

    return kill


class _Slot:
    __slots__ = ("handle", "busy", "generation")

    def __init__(self) -> None:
        self.handle: ServerHandle | None = None
        self.busy = False
        self.generation = 0


class ServerPool:
    """``size`` servers; ``acquire`` blocks until one (or the pinned one) is idle."""

    def __init__(self, launch: Callable[[int], ServerHandle], size: int) -> None:
        self._launch = launch
        self._slots = [_Slot() for _ in range(size)]
        self._cond = threading.Condition()
        self._closed = False
        self._rr = 0

    @property
    def size(self) -> int:
        return len(self._slots)

    def start(self) -> None:
        """Launch every server concurrently (they import sympy in parallel)."""
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                self._ensure(i)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.close()
            raise errors[0]

    def _ensure(self, i: int) -> ServerHandle:
        slot = self._slots[i]
        if slot.handle is None or slot.handle.dead:
            slot.handle = self._launch(i)
            slot.generation += 1
        return slot.handle

    def acquire(self, pinned: int | None = None) -> tuple[int, ServerHandle, int]:
        """Returns ``(slot, handle, generation)``; the caller must :meth:`release`."""
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("executor is closed")
                if pinned is not None:
                    if not self._slots[pinned].busy:
                        i = pinned
                        break
                else:
                    idle = [j for j, s in enumerate(self._slots) if not s.busy]
                    if idle:
                        # Prefer a live server; rotate so load spreads.
                        live = [j for j in idle if self._slots[j].handle and not self._slots[j].handle.dead]
                        pick = live or idle
                        i = pick[self._rr % len(pick)]
                        self._rr += 1
                        break
                self._cond.wait()
            self._slots[i].busy = True
        try:
            handle = self._ensure(i)  # relaunch outside the lock
        except BaseException:
            self.release(i)
            raise
        return i, handle, self._slots[i].generation

    def release(self, i: int) -> None:
        with self._cond:
            self._slots[i].busy = False
            self._cond.notify_all()

    def handles(self) -> list[ServerHandle]:
        return [s.handle for s in self._slots if s.handle is not None and not s.handle.dead]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            handles = [s.handle for s in self._slots if s.handle is not None]
        for h in handles:
            h.close()


class PooledExecutor:
    """Executor over a :class:`ServerPool`; subclasses implement :meth:`_launch`.

    Thread-safe: ``run`` may be called from many threads; ``arun`` runs the
    blocking wait in a private thread pool so the event loop never blocks.
    """

    kind = "pooled"
    config_cls: type[SandboxConfig] = SandboxConfig

    def __init__(self, config: SandboxConfig | None = None, **overrides: object) -> None:
        if config is None:
            config = self.config_cls(**overrides)
        elif overrides:
            config = config.model_copy(update=overrides)
        self.config = config
        self.limits = config.limits
        self._pool: ServerPool | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------
    def _pool_size(self) -> int:
        return self.config.pool_size

    def start(self) -> None:
        with self._lock:
            if self._pool is not None:
                return
            self._check_available()
            pool = ServerPool(self._launch, self._pool_size())
            pool.start()
            self._pool = pool
            self._threads = ThreadPoolExecutor(
                max_workers=max(32, 4 * pool.size), thread_name_prefix=f"lemmaflow-{self.kind}"
            )

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            threads, self._threads = self._threads, None
        if pool is not None:
            pool.close()
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> PooledExecutor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the real API
        try:
            self.close()
        except Exception:
            pass

    # -- backend hooks -------------------------------------------------------
    def _check_available(self) -> None:
        """Raise SandboxUnavailable with an install hint when the backend cannot run."""

    def _launch(self, index: int) -> ServerHandle:
        raise NotImplementedError

    def server_config(self, **extra: object) -> dict:
        cfg = {
            "preload": list(self.config.preload),
            "warmup": self.config.warmup,
            "allow_fork": self.limits.allow_fork,
            "work_root": "/work",
            "work_mb": self.limits.work_dir_mb,
            "max_sessions": self.config.max_sessions_per_server,
            "spares": self.config.spares,
            "limits": wire_limits(self.limits, Job(code="").resolved(self.limits)),
            "per_job_uid": False,
            "uid_base": 0,
            "uid_count": 1,
            "view": None,
            "pid_ns": False,
            "oneshot": False,
        }
        cfg.update(extra)
        return cfg

    # -- running ------------------------------------------------------------
    def _coerce(self, job: Job | str) -> Job:
        return Job(code=job) if isinstance(job, str) else job

    def _pool_or_start(self) -> ServerPool:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        return self._pool

    def _request(self, wire: dict, pinned: int | None = None) -> tuple[dict, int, int]:
        pool = self._pool_or_start()
        i, handle, gen = pool.acquire(pinned)
        try:
            reply = handle.request({"op": "run", "job": wire}, wire["timeout_s"] + self.config.reply_grace_s)
        finally:
            pool.release(i)
        return reply, i, gen

    def run(self, job: Job | str) -> ExecResult:
        """Run one job in a fresh confined process; blocks until it ends."""
        job = self._coerce(job)
        reply, _, _ = self._request(job.wire(self.limits))
        return ExecResult.from_wire(reply, self.kind)

    async def arun(self, job: Job | str) -> ExecResult:
        """``run`` without blocking the event loop (starting the pool included)."""
        return await self._in_thread(self.run, job)

    async def _in_thread(self, fn: Callable, *args: object):
        loop = asyncio.get_running_loop()
        if self._threads is None:  # start() takes seconds: not on the loop's thread
            await loop.run_in_executor(None, self._pool_or_start)
        return await loop.run_in_executor(self._threads, fn, *args)

    def map(self, jobs: Iterable[Job | str]) -> list[ExecResult]:
        """Run many jobs concurrently over the pool; results in input order."""
        self._pool_or_start()
        assert self._threads is not None
        return list(self._threads.map(self.run, list(jobs)))

    def session(self) -> Session:
        """A persistent interpreter (variables survive between runs); see :class:`Session`."""
        from .session import Session

        return Session(self)

    # used by Session
    def _session_request(self, wire: dict, pinned: int | None) -> tuple[dict, int, int]:
        return self._request(wire, pinned)

    def _session_close(self, sid: str, pinned: int, generation: int) -> None:
        pool = self._pool
        if pool is None:
            return
        try:
            i, handle, gen = pool.acquire(pinned)
        except SandboxError:
            return
        try:
            if gen == generation:
                handle.send({"op": "close_session", "session": sid})
        finally:
            pool.release(i)

    def server_pids(self) -> list[int]:
        """Host pids of the servers (for tests and monitoring)."""
        return [h.info.get("host_pid", 0) for h in (self._pool.handles() if self._pool else [])]

