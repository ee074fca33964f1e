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
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from ._protocol import FrameError, FrameReader, encode_frame, read_frame, write_all, write_frame
from .base import ExecResult, Job, SandboxConfig, SandboxCrashed, SandboxError, SandboxUnavailable, wire_limits
from .session import Session

__all__ = ["BOOTSTRAP", "PooledExecutor", "ServerHandle", "ServerPool", "runtime_sources"]

#: Requests up to this size are written straight from the event loop's thread:
#: well under a pipe's (and a unix socket's) buffer, into a channel that is empty.
_INLINE_WRITE = 16 << 10

_RUNTIME = ("_protocol", "_nsroot", "_confine", "_hugepages", "_child", "_server")

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
        # One decoder for both the blocking and the event-loop reader: a reply
        # is read in as few syscalls as the kernel hands it over.
        self._reader = FrameReader()
        # Set while a coroutine awaits a reply (see await_reply): kill() calls
        # it so that the waiter learns at once, like a thread blocked in read().
        self._abort: Callable[[], None] | None = None

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

    def _lost(self, exc: BaseException) -> SandboxCrashed:
        return SandboxCrashed(
            f"{self.name} server lost ({type(exc).__name__}: {exc}); it will be replaced. "
            f"Log tail:\n{self.log_tail(1500)}"
        )

    def _frames(self, data: bytes) -> list:
        if not data:
            raise EOFError("channel closed")
        return self._reader.feed(data)

    def request(self, msg: dict, timeout: float) -> dict:
        """Send one request and block (this thread only) until its reply."""
        rid = next(self._ids)
        try:
            write_all(self.wfd, encode_frame({**msg, "id": rid}))
        except (OSError, FrameError) as exc:
            self.kill(keep_log=True)
            raise self._lost(exc) from None
        return self.wait_reply(rid, time.monotonic() + timeout)

    def wait_reply(self, rid: int, deadline: float) -> dict:
        """Block until the reply to ``rid`` (``deadline``: a ``time.monotonic`` value)."""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                    raise TimeoutError("no reply before the deadline")
                for reply in self._frames(os.read(self.rfd, 1 << 16)):
                    if isinstance(reply, dict) and reply.get("id") == rid:
                        return reply
        except (OSError, EOFError, TimeoutError, FrameError) as exc:
            self.kill(keep_log=True)
            raise self._lost(exc) from None

    def frame(self, msg: dict) -> tuple[int, bytes]:
        """(request id, encoded frame) of a request to write on the channel."""
        rid = next(self._ids)
        return rid, encode_frame({**msg, "id": rid})

    def await_reply(
        self, loop: asyncio.AbstractEventLoop, rid: int, timeout: float, release: Callable[[], None],
    ) -> asyncio.Future:
        """Future of the reply to request ``rid``, read by a reader callback of
        ``loop`` itself: no thread is involved and none is woken.

        The future fails with the channel's error (OSError, EOFError,
        FrameError) or TimeoutError.  ``release()`` is called the moment a
        reply is in, before the future resolves, so the server goes to the next
        waiter in the same loop turn; on errors the caller releases.  If the
        caller cancels the future, a thread waits for the reply instead (the
        loop may close before the server answers) and then releases the server,
        or replaces it if it failed: exactly as long as a thread blocked in
        :meth:`request` would have held it.
        """
        fut: asyncio.Future = loop.create_future()
        deadline = time.monotonic() + timeout
        over = False

        def stop() -> None:
            nonlocal over
            over = True
            self._abort = None
            timer.cancel()
            loop.remove_reader(self.rfd)

        def finish(reply: dict | None, exc: BaseException | None) -> None:
            if over:
                return
            stop()
            if exc is not None:
                fut.set_exception(exc)
            else:
                release()
                fut.set_result(reply)

        def readable() -> None:
            try:
                frames = self._frames(os.read(self.rfd, 1 << 16))
            except (OSError, EOFError, FrameError) as exc:
                finish(None, exc)
                return
            for reply in frames:
                if isinstance(reply, dict) and reply.get("id") == rid:
                    finish(reply, None)
                    return

        def cancelled(f: asyncio.Future) -> None:
            if f.cancelled() and not over:
                stop()
                threading.Thread(target=self._drain, args=(rid, deadline, release), daemon=True,
                                 name=f"lemmaflow-{self.name}-drain").start()

        def abort() -> None:  # from kill(), on any thread; runs before any later reader of a reused fd
            try:
                loop.call_soon_threadsafe(finish, None, EOFError("channel closed"))
            except RuntimeError:  # that loop is closed already
                pass

        timer = loop.call_later(timeout, lambda: finish(None, TimeoutError("no reply before the deadline")))
        loop.add_reader(self.rfd, readable)
        self._abort = abort
        fut.add_done_callback(cancelled)
        return fut

    def _drain(self, rid: int, deadline: float, release: Callable[[], None]) -> None:
        try:
            self.wait_reply(rid, deadline)
        except SandboxCrashed:
            pass  # killed by wait_reply: the next acquire launches a new server
        finally:
            release()

    def send(self, msg: dict) -> None:
        try:
            write_frame(self.wfd, msg)
        except OSError:
            self.kill()

    def kill(self, keep_log: bool = False) -> None:
        if self.dead:
            return
        self.dead = True
        abort, self._abort = self._abort, None
        if abort is not None:
            abort()
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
    __slots__ = ("handle", "busy", "generation", "idle_since")

    def __init__(self) -> None:
        self.handle: ServerHandle | None = None
        self.busy = False
        self.generation = 0
        self.idle_since = 0.0


class ServerPool:
    """``size`` servers; ``acquire`` blocks until one (or the pinned one) is idle.

    An idle server is picked least recently used first: after each reply a
    server forks its next spare and tidies up, so the one idle longest is the
    one most likely done with that and ready to answer at once.  Threads wait
    on a condition; coroutines (:meth:`aacquire`) wait on a future that
    :meth:`release` resolves by handing the slot over directly.
    """

    def __init__(self, launch: Callable[[int], ServerHandle], size: int) -> None:
        self._launch = launch
        self._slots = [_Slot() for _ in range(size)]
        self._cond = threading.Condition()
        self._closed = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future, int | None]] = []

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

    def _needs_launch(self, i: int) -> bool:
        h = self._slots[i].handle
        return h is None or h.dead

    def _pick(self, pinned: int | None) -> int | None:
        """Under the lock: an idle slot to take (marked busy), or None."""
        if self._closed:
            raise SandboxError("executor is closed")
        if pinned is not None:
            i = pinned if not self._slots[pinned].busy else None
        else:
            i, best = None, None
            for j, s in enumerate(self._slots):
                if s.busy:
                    continue
                # live servers first, then the one idle longest
                key = (s.handle is None or s.handle.dead, s.idle_since)
                if best is None or key < best:
                    i, best = j, key
        if i is not None:
            self._slots[i].busy = True
        return i

    def acquire(self, pinned: int | None = None) -> tuple[int, ServerHandle, int]:
        """Returns ``(slot, handle, generation)``; the caller must :meth:`release`."""
        with self._cond:
            while (i := self._pick(pinned)) is None:
                self._cond.wait()
        try:
            handle = self._ensure(i)  # relaunch outside the lock
        except BaseException:
            self.release(i)
            raise
        return i, handle, self._slots[i].generation

    async def aacquire(self, pinned: int | None = None) -> tuple[int, ServerHandle, int]:
        """:meth:`acquire` for coroutines: waits without holding a thread."""
        loop = asyncio.get_running_loop()
        with self._cond:
            i = self._pick(pinned)
            if i is None:
                fut: asyncio.Future = loop.create_future()
                self._waiters.append((loop, fut, pinned))
        if i is None:
            try:
                i = await fut
            except asyncio.CancelledError:
                with self._cond:
                    self._waiters = [w for w in self._waiters if w[1] is not fut]
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self.release(fut.result())  # handed over just as we were cancelled
                raise
        try:
            if self._needs_launch(i):  # a (re)launch takes seconds: not on the loop
                await loop.run_in_executor(None, self._ensure, i)
            handle = self._ensure(i)
        except BaseException:
            self.release(i)
            raise
        return i, handle, self._slots[i].generation

    def _deliver(self, fut: asyncio.Future, i: int) -> None:
        if fut.done():  # cancelled meanwhile: pass the slot on
            self.release(i)
        else:
            fut.set_result(i)

    def release(self, i: int) -> None:
        with self._cond:
            slot = self._slots[i]
            k = 0
            while k < len(self._waiters):
                loop, fut, pinned = self._waiters[k]
                if pinned is not None and pinned != i:
                    k += 1
                    continue
                del self._waiters[k]
                # stays busy: handed straight to the waiting coroutine
                if asyncio._get_running_loop() is loop:
                    if fut.done():  # cancelled while waiting: the next one
                        continue
                    fut.set_result(i)
                    return
                try:
                    loop.call_soon_threadsafe(self._deliver, fut, i)
                except RuntimeError:  # its loop is closed: the next one
                    continue
                return
            slot.busy = False
            slot.idle_since = time.monotonic()
            self._cond.notify_all()

    def handles(self) -> list[ServerHandle]:
        return [s.handle for s in self._slots if s.handle is not None and not s.handle.dead]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            handles = [s.handle for s in self._slots if s.handle is not None]
            waiters, self._waiters = self._waiters, []
        for loop, fut, _ in waiters:
            err = SandboxError("executor is closed")
            try:
                loop.call_soon_threadsafe(lambda f=fut, e=err: f.done() or f.set_exception(e))
            except RuntimeError:  # that loop is closed already
                pass
        for h in handles:
            h.close()


class PooledExecutor:
    """Executor over a :class:`ServerPool`; subclasses implement :meth:`_launch`.

    Thread-safe: ``run`` may be called from many threads.  ``arun`` (and a
    session's ``arun``) talks to the server from the event loop itself: the
    request is written inline and the reply read by a loop reader callback, so
    a job costs no thread hop; the loop never blocks (server launches and large
    writes go to a thread).
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
            "huge_pages": self.config.huge_pages,
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
        job = self._coerce(job)
        reply, _, _ = await self._arequest(job.wire(self.limits))
        return ExecResult.from_wire(reply, self.kind)

    async def _apool(self) -> ServerPool:
        if self._pool is None:  # start() takes seconds: not on the loop's thread
            await asyncio.get_running_loop().run_in_executor(None, self._pool_or_start)
        assert self._pool is not None
        return self._pool

    async def _arequest(self, wire: dict, pinned: int | None = None) -> tuple[dict, int, int]:
        pool = await self._apool()
        i, handle, gen = await pool.aacquire(pinned)
        loop = asyncio.get_running_loop()
        timeout = wire["timeout_s"] + self.config.reply_grace_s

        try:
            rid, data = handle.frame({"op": "run", "job": wire})
            if len(data) <= _INLINE_WRITE:
                # The server has read every earlier request (it answered them),
                # so the channel is empty and a small frame cannot block.
                write_all(handle.wfd, data)
            else:
                await loop.run_in_executor(None, write_all, handle.wfd, data)
        except asyncio.CancelledError:
            # cancelled while a large frame was being written: free the server once it answers
            handle.await_reply(loop, rid, timeout, functools.partial(pool.release, i)).cancel()
            raise
        except (OSError, FrameError) as exc:
            await loop.run_in_executor(None, functools.partial(handle.kill, keep_log=True))
            pool.release(i)
            raise handle._lost(exc) from None
        except BaseException:
            pool.release(i)
            raise
        try:
            # A reply releases the server itself; so does cancelling (once the server answers).
            reply = await handle.await_reply(loop, rid, timeout, functools.partial(pool.release, i))
        except (OSError, EOFError, TimeoutError, FrameError) as exc:
            # Killing waits for the server to exit (up to seconds): not on the loop.
            await loop.run_in_executor(None, functools.partial(handle.kill, keep_log=True))
            pool.release(i)
            raise handle._lost(exc) from None
        return reply, i, gen

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
        return Session(self)

    # used by Session (see session.SessionHost)
    def _session_request(self, wire: dict, pinned: int | None) -> tuple[dict, int, int]:
        return self._request(wire, pinned)

    async def _session_arequest(self, wire: dict, pinned: int | None) -> tuple[dict, int, int]:
        return await self._arequest(wire, pinned)

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

    async def _session_aclose(self, sid: str, pinned: int, generation: int) -> None:
        pool = self._pool
        if pool is None:
            return
        try:
            i, handle, gen = await pool.aacquire(pinned)
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

