"""The sandbox server: a warm interpreter that forks one confined process per job.

Shipped as source into the sandbox (native namespace, bwrap or a container) by
``_bootstrap``; stdlib + ``pyseccomp`` only.  It is single-threaded on purpose:
``fork`` from a threaded process can deadlock in the child.

Life cycle: build the private root when asked (native, root), import the
preload list and run the warm-up cell so the first job does not pay for
sympy's lazily-loaded submodules, compile the seccomp filter, fork a *spare*,
say ``ready``.  Then for each ``run`` frame from the host: hand the job to the
spare (or to the session's process), supervise it (wall-clock deadline, output
caps, death), kill its whole process group, reply, and only then do the
slow housekeeping (fork the next spare, remove the work dir, reap).

The host channel going away (EOF) ends the server and every job with it.
"""

from __future__ import annotations

import collections
import gc
import importlib
import math
import os
import select
import shutil
import signal
import sys
import time
import traceback

from . import _child, _confine, _hugepages, _nsroot
from ._protocol import FrameError, FrameReader, read_frame, write_frame

__all__ = ["main"]

_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGSYS}


class _Proc:
    """A forked job process (spare, one-shot job or session interpreter)."""

    __slots__ = ("pid", "pidfd", "job_w", "res_r", "out_r", "err_r", "reader", "session",
                 "created", "reaped", "uid", "work")

    def __init__(self, pid: int, pidfd: int | None, job_w: int, res_r: int, out_r: int, err_r: int,
                 uid: int | None, work: str):
        self.pid, self.pidfd, self.uid, self.work = pid, pidfd, uid, work
        self.job_w, self.res_r, self.out_r, self.err_r = job_w, res_r, out_r, err_r
        self.reader = FrameReader(64 << 20)
        self.session: str | None = None
        self.created = time.monotonic()
        self.reaped = False


class _Capture:
    """Keeps the head and the tail of a stream within ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.head_max = max(0, limit - limit // 4)
        self.tail_max = limit - self.head_max
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_max:
            self.tail += data
            if len(self.tail) > self.tail_max:
                del self.tail[: len(self.tail) - self.tail_max]

    def text(self, name: str) -> tuple[str, bool]:
        kept = len(self.head) + len(self.tail)
        if self.total <= kept:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace"), False
        dropped = self.total - kept
        marker = f"\n... [{name} truncated: {dropped} bytes omitted] ...\n"
        return (self.head.decode("utf-8", "replace") + marker + self.tail.decode("utf-8", "replace")), True


def _read_nb(fd: int) -> bytes | None:
    """Non-blocking read: bytes, b'' at EOF, None when nothing is there yet."""
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return None
    except OSError:
        return b""


class Server:
    def __init__(self, rfd: int, wfd: int, cfg: dict) -> None:
        self.rfd, self.wfd, self.cfg = rfd, wfd, cfg
        # Confined job processes waiting for a job, oldest (most surely ready) first.
        self.spares: collections.deque[_Proc] = collections.deque()
        self.sessions: collections.OrderedDict[str, _Proc] = collections.OrderedDict()
        self.lost_sessions: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.groups: dict[int, float] = {}  # process groups still to be reaped
        self.trash: list[_Proc] = []
        self.failed_imports: dict[str, str] = {}
        # Native mode: each live job process gets a uid of its own from the
        # block the host reserved for this server.
        self.free_uids = list(range(cfg["uid_base"], cfg["uid_base"] + cfg["uid_count"]))
        self.work_seq = 0
        self.shared_uid = not cfg["per_job_uid"]
        # Never strays and never reused while we live: the server itself and
        # pid 1 (a sandbox's init, or this server as its namespace's init).
        self.static_pids: set[str] = {str(os.getpid()), "1"}

    # ------------------------------------------------------------------ setup
    def setup(self) -> dict:
        cfg = self.cfg
        t0 = time.perf_counter()
        if cfg.get("view") is not None:
            _nsroot.enter_private_root(cfg["view"], cfg["work_mb"], cfg["work_root"])
        if cfg["per_job_uid"] and os.geteuid() != 0:
            raise RuntimeError("per-job uids need the server to run as root")
        os.makedirs(cfg["work_root"], exist_ok=True)
        os.chdir(cfg["work_root"])
        for name in cfg.get("preload", []):
            try:
                importlib.import_module(name)
            except Exception as exc:  # optional extras may be missing
                self.failed_imports[name] = f"{type(exc).__name__}: {exc}"
        if cfg.get("warmup"):
            try:
                exec(compile(cfg["warmup"], "<warmup>", "exec"), {"__name__": "__warmup__"})
            except Exception as exc:
                self.failed_imports["<warmup>"] = f"{type(exc).__name__}: {exc}"
        self.bpf, self.seccomp_info = _confine.compile_filter(cfg["allow_fork"], deny_chmod=self.shared_uid)
        self._work_writable(False)
        _confine.set_subreaper()  # orphaned grandchildren come back to us
        _confine.set_dumpable(False)
        # Frozen objects are skipped by the collector, so children do not touch
        # (and copy-on-write) the pages of everything the preload created.
        gc.collect()
        gc.freeze()
        # One page-table entry per 2 MiB instead of 512 for the fork of every
        # job and its exit (see _hugepages); before the first fork.
        huge = _hugepages.collapse_heap() if cfg.get("huge_pages", True) else {"error": "off"}
        self._selftest()
        self._refill_spares()
        return {
            "op": "ready",
            "pid": os.getpid(),
            "uid": os.getuid(),
            "python": sys.version.split()[0],
            "setup_s": round(time.perf_counter() - t0, 4),
            "failed_imports": self.failed_imports,
            "modules": len(sys.modules),
            "huge_pages": huge,
        }

    def _selftest(self) -> None:
        """Run one trivial job through the real path: refuse to serve if a job
        process cannot confine itself (it would then report exit code 70)."""
        job = {"code": "6 * 7", "timeout_s": 30.0, "limits": self.cfg["limits"]}
        res = self.handle_run({"op": "run", "id": 0, "job": job})
        self._housekeeping()
        if res["value"] != "42":
            raise RuntimeError(
                f"self-test job failed (exit {res['exit_code']}, {res['killed_by']}): "
                f"{(res['stderr'] or res['error'] or '')[-2000:]}"
            )

    def _work_writable(self, on: bool) -> None:
        """Shared-uid backends: /work is writable only while the server edits it.

        The server (not the job) creates and removes work dirs; in between,
        /work is r-x, and seccomp forbids a job the chmod that would undo it.
        (With per-job uids /work is root's and mode 0711 anyway.)
        """
        if self.shared_uid:
            os.chmod(self.cfg["work_root"], 0o755 if on else 0o555)

    def _make_work_dir(self, uid: int | None) -> str:
        self.work_seq += 1
        work = f"{self.cfg['work_root']}/j{self.work_seq}"
        self._work_writable(True)
        try:
            shutil.rmtree(work, ignore_errors=True)
            os.mkdir(work, 0o700)
            if uid is not None:
                os.chown(work, uid, uid)
        finally:
            self._work_writable(False)
        return work

    # ---------------------------------------------------------- job processes
    def _fork_spare(self) -> _Proc:
        if len(self.trash) >= 16 or (self.trash and self.cfg["per_job_uid"] and not self.free_uids):
            # Requests kept arriving, so the chores waited; the finished jobs'
            # fds and uids (their processes are SIGKILLed already) must come
            # back before they run out.
            self._housekeeping()
        uid = None
        if self.cfg["per_job_uid"]:
            while not self.free_uids and self.sessions:
                self._drop_session(next(iter(self.sessions)))
                self._housekeeping()
            if not self.free_uids:
                raise RuntimeError("no free job uid")
            uid = self.free_uids.pop(0)
        work = self._make_work_dir(uid)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        job_r, job_w = os.pipe()
        ctx = {
            "fds": (out_w, err_w, res_w, job_r),
            "server_pid": os.getpid(),
            "work": work,
            "uid": uid,
            "bpf": self.bpf,
            "seccomp_info": self.seccomp_info,
        }
        pid = os.fork()
        if pid == 0:
            try:
                _child.spare_main(ctx)
            finally:
                os._exit(70)
        for fd in (out_w, err_w, res_w, job_r):
            os.close(fd)
        for fd in (out_r, err_r, res_r):
            os.set_blocking(fd, False)
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):  # old kernel or a seccomp profile without it
            pidfd = None
        return _Proc(pid, pidfd, job_w, res_r, out_r, err_r, uid, work)

    def _take_spare(self) -> _Proc:
        while self.spares:
            p = self.spares.popleft()
            if not self._exited(p):
                return p
            self._finalize(p)
        return self._fork_spare()

    def _spares_wanted(self) -> int:
        # Two by default: back-to-back jobs then always find one that has
        # finished confining itself, while the newest is still starting up.
        return 0 if self.cfg.get("oneshot") else self.cfg.get("spares", 2)

    def _refill_spares(self, one: bool = False) -> bool:
        """Fork missing spares (only one when ``one``); True if any was forked."""
        forked = False
        while len(self.spares) < self._spares_wanted():
            self.spares.append(self._fork_spare())
            forked = True
            if one:
                break
        return forked

    def _exited(self, p: _Proc) -> bool:
        if p.pidfd is not None:
            return bool(select.select([p.pidfd], [], [], 0)[0])
        try:
            return os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _kill_group(self, p: _Proc) -> None:
        # Safe even after the leader exited as long as it is not reaped (a
        # zombie keeps its pid, which is the group id).  Once reaped, the group
        # was already killed before the reaping (see _supervise).
        if p.reaped:
            return
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _finalize(self, p: _Proc) -> None:
        """Kill the process group now; fds, work dir and reaping happen later."""
        self._kill_group(p)
        self.groups[p.pid] = time.monotonic()
        self.trash.append(p)

    def _kill_strays(self, p: _Proc) -> None:
        """After a session cell: kill everything in its group but the interpreter."""
        me = str(p.pid)
        try:
            names = os.listdir("/proc")
        except OSError:
            return
        # A stray is a process this server does not track: a tracked pid is
        # alive or an unreaped zombie, so no stray can reuse it.  Reading the
        # stat file of untracked pids only keeps a cell's tail cheap (usually
        # there is none).
        known = self.static_pids | {str(q.pid) for q in self._tracked() if not q.reaped}
        for name in names:
            if not name.isdigit() or name in known:
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 3 and fields[3] == me.encode():  # field 5: pgrp
                try:
                    os.kill(int(name), signal.SIGKILL)
                except OSError:
                    pass

    def _tracked(self) -> list[_Proc]:
        return [*self.spares, *self.sessions.values(), *self.trash]

    def _housekeeping(self) -> None:
        if self.trash:
            self._work_writable(True)
        for p in self.trash:
            for fd in (p.job_w, p.res_r, p.out_r, p.err_r, p.pidfd):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            try:
                os.rmdir(p.work)  # the common case: the job left nothing behind
            except OSError:
                shutil.rmtree(p.work, ignore_errors=True)
            if p.uid is not None:
                self.free_uids.append(p.uid)  # its processes are SIGKILLed already
        if self.trash:
            self._work_writable(False)
        self.trash.clear()
        now = time.monotonic()
        for pgid, since in list(self.groups.items()):
            try:
                while True:
                    pid, _ = os.waitpid(-pgid, os.WNOHANG)
                    if pid == 0:
                        break
            except ChildProcessError:
                if now - since > 2.0:  # late orphans had time to come back to us
                    del self.groups[pgid]

    # ----------------------------------------------------------- supervision
    def _status(self, p: _Proc) -> tuple[int | None, object]:
        """Exit status and rusage of an exited (but not reaped) process."""
        try:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        except ChildProcessError:
            return None, None
        if pid == 0:
            return None, None
        p.reaped = True
        return status, ru

    def _supervise(self, p: _Proc, job: dict, t0: float, deadline: float) -> dict:
        lim = job["limits"]
        outc, errc = _Capture(lim["output_limit_bytes"]), _Capture(lim["output_limit_bytes"])
        streams = {p.out_r: outc, p.err_r: errc}
        poller = select.poll()
        for fd in (p.out_r, p.err_r, p.res_r):
            poller.register(fd, select.POLLIN)
        if p.pidfd is not None:
            poller.register(p.pidfd, select.POLLIN)
        poller.register(self.rfd, select.POLLHUP)  # the host leaving aborts everything
        result: dict | None = None
        killed_by = None
        exited = False
        while result is None and killed_by is None and not exited:
            left = deadline - time.monotonic()
            if left <= 0:
                killed_by = "timeout"
                break
            wait_ms = left * 1000 if p.pidfd is not None else min(left * 1000, 10)
            for fd, ev in poller.poll(math.ceil(wait_ms)):
                if fd in streams:
                    data = _read_nb(fd)
                    if data:
                        streams[fd].feed(data)
                    elif data == b"":
                        poller.unregister(fd)
                elif fd == p.res_r:
                    data = _read_nb(fd)
                    if data == b"":
                        poller.unregister(fd)
                    elif data:
                        try:
                            frames = p.reader.feed(data)
                        except FrameError:
                            frames, exited = [], True
                            poller.unregister(fd)
                        if frames and isinstance(frames[0], dict):
                            result = frames[0]
                elif fd == p.pidfd:
                    exited = True
                elif fd == self.rfd:
                    self._shutdown(1)
            if p.pidfd is None and result is None and self._exited(p):
                exited = True
            if outc.total + errc.total > lim["output_kill_bytes"]:
                killed_by = "output"
        duration = time.perf_counter() - t0
        if result is None and exited:  # a frame may have landed right before death
            data = _read_nb(p.res_r)
            if data:
                try:
                    frames = p.reader.feed(data)
                    result = frames[0] if frames and isinstance(frames[0], dict) else None
                except FrameError:
                    pass
        alive_session = bool(job.get("session")) and result is not None and killed_by is None
        if not alive_session:
            self._kill_group(p)
        for fd, cap in streams.items():  # whatever was written before the end
            for _ in range(64):
                data = _read_nb(fd)
                if not data:
                    break
                cap.feed(data)
        out, out_tr = outc.text("stdout")
        err, err_tr = errc.text("stderr")
        res = {
            "op": "result", "stdout": out, "stderr": err, "stdout_truncated": out_tr,
            "stderr_truncated": err_tr, "value": None, "error": None, "exit_code": None,
            "killed_by": killed_by, "duration_s": round(duration, 6), "session_reset": False,
            "dead": not alive_session,
        }
        if killed_by == "timeout":
            res.update(exit_code=-signal.SIGKILL, error=f"Timeout: exceeded the {job['timeout_s']:g} s wall-clock limit")
        elif killed_by == "output":
            res.update(exit_code=-signal.SIGKILL,
                       error=f"OutputLimit: more than {lim['output_kill_bytes']} bytes of output")
        elif result is not None:
            res.update(value=result.get("value"), error=result.get("error"), exit_code=result.get("exit_code", 1))
            if result.get("memory"):
                res["killed_by"] = "memory"
        else:
            self._classify_death(p, lim, res)
        return res

    def _classify_death(self, p: _Proc, lim: dict, res: dict) -> None:
        status, ru = self._status(p)
        if status is None:
            res.update(killed_by="crash", error="Crash: job process vanished")
        elif os.WIFEXITED(status):
            res["exit_code"] = os.WEXITSTATUS(status)  # os._exit() in user code
        else:
            sig = os.WTERMSIG(status)
            res["exit_code"] = -sig
            cpu = (ru.ru_utime + ru.ru_stime) if ru else 0.0
            rss_mb = (ru.ru_maxrss / 1024) if ru else 0.0
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= lim["cpu_s"] - 0.05):
                res.update(killed_by="timeout", error=f"Timeout: CPU time limit ({lim['cpu_s']:g} s)")
            elif sig == signal.SIGKILL and rss_mb >= 0.8 * lim["memory_mb"]:
                res.update(killed_by="memory", error=f"MemoryLimit: killed at {rss_mb:.0f} MiB")
            elif sig in _CRASH_SIGNALS:
                res.update(killed_by="crash", error=f"Crash: killed by {name}")
            else:
                res.update(killed_by="signal", error=f"Signal: killed by {name}")

    # --------------------------------------------------------------- requests
    def handle_run(self, msg: dict) -> dict:
        job = msg["job"]
        sid = job.get("session")
        reset = False
        if sid:
            p = self.sessions.get(sid)
            if p is not None and self._exited(p):
                self._drop_session(sid)
                p, reset = None, True
            if p is None:
                reset = reset or sid in self.lost_sessions
                self.lost_sessions.pop(sid, None)
                p = self._take_spare()
                p.session = sid
                self.sessions[sid] = p
                self._evict_sessions()
            self.sessions.move_to_end(sid)
            for fd in (p.out_r, p.err_r):  # late writes of the previous cell's strays
                while _read_nb(fd):
                    pass
        else:
            p = self._take_spare()
        # Where jobs share the server's uid, RLIMIT_NPROC must leave room for it.
        job["limits"]["shared_uid"] = not self.cfg["per_job_uid"]
        frame = {
            "code": job["code"],
            "files": job.get("files") or {},
            "limits": job["limits"],
            "session": bool(sid),
        }
        # The clock starts before the write: the spare often runs the whole job
        # before the server gets the CPU back from this write.
        t0 = time.perf_counter()
        deadline = time.monotonic() + job["timeout_s"]
        try:
            write_frame(p.job_w, frame)
        except OSError:
            pass  # the process is gone; supervision reports how it died
        res = self._supervise(p, job, t0, deadline)
        if sid:
            if res["dead"]:
                self._drop_session(sid)
                self.lost_sessions.pop(sid, None)
                res["session_reset"] = True
            else:
                self._kill_strays(p)
                res["session_reset"] = reset
        else:
            self._finalize(p)
        res.pop("dead")
        res["id"] = msg.get("id")
        return res

    def _drop_session(self, sid: str) -> None:
        p = self.sessions.pop(sid, None)
        if p is not None:
            self._finalize(p)
            self.lost_sessions[sid] = None
            while len(self.lost_sessions) > 4096:
                self.lost_sessions.popitem(last=False)

    def _evict_sessions(self) -> None:
        while len(self.sessions) > self.cfg["max_sessions"]:
            sid = next(iter(self.sessions))
            self._drop_session(sid)

    def _shutdown(self, code: int) -> None:
        for p in list(self.sessions.values()) + list(self.spares):
            self._kill_group(p)
        os._exit(code)

    def loop(self) -> None:
        while True:
            try:
                msg = read_frame(self.rfd)
            except (EOFError, OSError, FrameError):
                self._shutdown(0)
            op = msg.get("op")
            if op == "run":
                write_frame(self.wfd, self.handle_run(msg))
                if self.cfg.get("oneshot") and not self.sessions:
                    self._housekeeping()
                    self._shutdown(0)
            elif op == "close_session":
                self._drop_session(msg["session"])
                self.lost_sessions.pop(msg["session"], None)
            elif op == "ping":
                write_frame(self.wfd, {"op": "pong", "id": msg.get("id"), "sessions": len(self.sessions)})
            elif op == "shutdown":
                self._shutdown(0)
            # Slow chores (fork the next spare, remove work dirs, reap) only when
            # no request is already waiting: a queued job takes a spare that is
            # ready now.  (Waiting longer for quiet makes chores pile up and
            # costs more than it saves; measured on 2 cores.)
            # One chore at a time, the channel checked in between: a request
            # that arrives meanwhile waits for one fork at most, never for a
            # whole refill plus the tidying.
            while not (self.spares and select.select([self.rfd], [], [], self.cfg.get("idle_s", 0.0))[0]):
                if not self._refill_spares(one=True):
                    self._housekeeping()
                    break


def _enter_pid_namespace(rfd: int, wfd: int) -> None:
    """Make the rest of the server pid 1 of a new pid namespace.

    The process the host started stays outside and only waits; the server
    (its child) gets SIGKILL when it dies.  So killing that one host pid
    kills the server, and the kernel then kills every process left in the
    namespace: no job or background child can outlive its server.
    """
    _nsroot.unshare(_nsroot.CLONE_NEWPID)
    pid = os.fork()
    if pid:
        for fd in {rfd, wfd}:
            os.close(fd)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    # (getppid() is 0 here: the parent lives outside the namespace.  Should it
    # die before this prctl, the closed host channel still ends us.)
    _confine.set_pdeathsig(signal.SIGKILL)


def main(rfd: int, wfd: int, cfg: dict) -> None:
    """Run the server on an already-open channel; never returns."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    host_pid = os.getpid()
    if cfg.get("pid_ns"):
        try:
            _enter_pid_namespace(rfd, wfd)
        except OSError as exc:
            write_frame(wfd, {"op": "error", "message": f"pid namespace: {exc}"})
            os._exit(1)
    srv = Server(rfd, wfd, cfg)
    try:
        ready = srv.setup()
    except BaseException as exc:
        write_frame(wfd, {"op": "error", "message": f"{type(exc).__name__}: {exc}",
                          "traceback": traceback.format_exc()})
        os._exit(1)
    ready["host_pid"] = host_pid
    write_frame(wfd, ready)
    srv.loop()

