"""What runs inside a forked job process.  Shipped as source into the server.

The server forks a *spare* ahead of time (fork of a process holding sympy costs
1-2 ms here; doing it before the job arrives takes it off the latency path).
The spare confines itself at once, in this order, then waits on fd 4 for a job:

1. ``setsid`` (own process group, so ``killpg`` reaches every descendant;
   seccomp later forbids leaving it), parent-death signal, fd layout
   (0 = /dev/null, 1/2 = output pipes, 3 = result frames, 4 = job frames;
   everything else, notably the host channel, is closed);
2. its own work dir ``/work/j<n>``, made by the server (``HOME`` and
   ``TMPDIR`` point there);
3. a uid of its own when the server is root (from the block of uids the host
   reserved for this server, see ``_uids``): no two live jobs share a uid, so
   ``RLIMIT_NPROC`` counts only this job's processes (it never binds root) and
   no job may signal or read another;
4. ``no_new_privs``, non-dumpable, the precompiled seccomp BPF plus the
   pid-specific signal filter.

Per job it then lowers the rlimits (address space relative to what the
preloaded interpreter already maps, CPU, file size, processes, open files),
writes the job's files, runs the code like a REPL cell (the value of a trailing
expression is ``repr``-ed), and writes one result frame on fd 3.  One-shot jobs
exit after that; session processes wait for the next cell with their globals.
"""

from __future__ import annotations

import ast
import base64
import builtins
import fcntl
import io
import linecache
import math
import os
import resource
import signal
import sys
import traceback

from . import _confine
from ._protocol import read_frame, write_frame

__all__ = ["run_cell", "spare_main"]

JOB_FD, RESULT_FD = 4, 3


def _fd_layout(out_w: int, err_w: int, res_w: int, job_r: int) -> None:
    # Move the sources out of the way first so dup2 never clobbers one of them.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64 + i) for i, fd in enumerate((out_w, err_w, res_w, job_r))]
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    for target, src in zip((1, 2, RESULT_FD, JOB_FD), high):
        os.dup2(src, target)
    os.closerange(JOB_FD + 1, 1 << 20)


def _streams() -> None:
    def wrap(fd: int) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "w", closefd=False)
        return io.TextIOWrapper(io.BufferedWriter(raw, 8192), encoding="utf-8",
                                errors="backslashreplace", line_buffering=True)

    sys.stdout, sys.stderr = wrap(1), wrap(2)
    sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")


def spare_main(ctx: dict) -> None:
    """Entry point right after ``fork`` in the server; never returns."""
    code = 70
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        _confine.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != ctx["server_pid"]:  # server died between fork and prctl
            os._exit(code)
        _fd_layout(*ctx["fds"])
        _streams()
        pid = os.getpid()
        work = ctx["work"]  # made by the server, owned by ``uid``
        uid = ctx["uid"]
        os.chdir(work)
        os.environ.update(HOME=work, TMPDIR=work, PWD=work)
        try:  # under memory pressure the OOM killer takes a job, not the server
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        import tempfile

        tempfile.tempdir = None  # the server may have cached another one
        if uid is not None:
            _confine.drop_privileges(uid, uid)
        _confine.set_no_new_privs()
        _confine.set_dumpable(False)
        _confine.load_bpf(ctx["bpf"])
        _confine.load_bpf(_confine.own_signal_filter(pid, ctx["seccomp_info"]))
    except BaseException as exc:  # cannot confine: never run anything
        try:
            os.write(2, f"sandbox: job process could not confine itself: {exc!r}\n".encode())
        finally:
            os._exit(code)
    try:
        _prefault()
        _serve(ctx)
    except BaseException:
        pass
    os._exit(code)


def _prefault() -> None:
    """Touch, while idle, the pages a job will touch anyway.

    After fork every page is shared copy-on-write; the first write to each one
    (refcounts, the frame stack, the json and ast machinery) costs a page
    fault.  Running a throw-away cell here moves most of those faults off the
    job's latency.
    """
    glb: dict = {"__name__": "__main__", "__builtins__": builtins}
    sink = io.StringIO()
    real = sys.stdout
    sys.stdout = sink
    try:
        run_cell("x = [i * i for i in range(50)]\nprint(sum(x))\nx", glb, "<job>", 100)
        json_roundtrip = {"code": "print(1+1)", "files": {}, "limits": {"memory_mb": 1}}
        from ._protocol import encode_frame

        encode_frame(json_roundtrip)
        import json

        json.loads(json.dumps(json_roundtrip))
    finally:
        sys.stdout = real
        linecache.cache.pop("<job>", None)


def _baseline_vm() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _count_processes() -> int:
    # Where jobs share a uid (bwrap, docker) RLIMIT_NPROC counts the server and
    # the session processes too, so the cap is set relative to what exists.
    try:
        return sum(1 for n in os.listdir("/proc") if n.isdigit())
    except OSError:
        return 8


def _apply_limits(lim: dict, first: bool, session: bool, base_vm: int) -> None:
    mb = 1 << 20
    cpu_used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    per_job_cpu = int(math.ceil(lim["cpu_s"]))
    if session:
        hard = int(math.ceil(lim["session_cpu_s"]))
        _confine.set_rlimit(resource.RLIMIT_CPU, min(hard, int(cpu_used) + per_job_cpu), hard)
    else:
        _confine.set_rlimit(resource.RLIMIT_CPU, per_job_cpu, per_job_cpu + 1)
    if first:  # session limits are fixed by the first cell (hard limits only go down)
        _confine.set_rlimit(resource.RLIMIT_AS, base_vm + lim["memory_mb"] * mb)
        _confine.set_rlimit(resource.RLIMIT_FSIZE, lim["max_file_mb"] * mb)
        _confine.set_rlimit(resource.RLIMIT_NOFILE, lim["max_open_files"])
        _confine.set_rlimit(resource.RLIMIT_CORE, 0)
        nproc = lim["max_processes"] + (_count_processes() + 4 if lim["shared_uid"] else 1)
        _confine.set_rlimit(resource.RLIMIT_NPROC, nproc)


def _write_files(files: dict) -> None:
    """Write the job's files into the work dir and make Python modules among them importable.

    The work dir goes first on ``sys.path`` (like the script's directory of ``python script.py``;
    ``-I`` left it out), import caches are invalidated, and in a session a module that a new file
    replaces is dropped from ``sys.modules`` so the next import reads the new version.
    """
    written = set()
    for name, b64 in files.items():
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts or ".." in parts or name.startswith("/"):
            raise ValueError(f"bad file name {name!r}")
        path = os.path.join(*parts)
        if len(parts) > 1:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(b64))
        written.add(os.path.abspath(path))
    if not written:
        return
    import importlib

    work = os.getcwd()
    if not sys.path or sys.path[0] != work:
        sys.path.insert(0, work)
    importlib.invalidate_caches()
    for mod_name, mod in list(sys.modules.items()):
        mod_file = getattr(mod, "__file__", None)
        if isinstance(mod_file, str) and os.path.abspath(mod_file) in written:
            del sys.modules[mod_name]


def _serve(ctx: dict) -> None:
    glb: dict = {"__name__": "__main__", "__builtins__": builtins}
    base_vm = _baseline_vm()
    first, cell = True, 0
    out, err = sys.stdout, sys.stderr
    while True:
        try:
            job = read_frame(JOB_FD)
        except (EOFError, OSError):
            os._exit(0)
        session = bool(job.get("session"))
        _apply_limits(job["limits"], first, session, base_vm)
        first = False
        cell += 1
        npr = sys.modules.get("numpy.random")
        if npr is not None and cell == 1:  # forked children would share one stream
            try:
                npr.seed(int.from_bytes(os.urandom(4), "little"))
            except Exception:
                pass
        try:
            _write_files(job.get("files") or {})
        except Exception as exc:
            res = {"exit_code": 1, "error": f"could not write job files: {exc}", "value": None, "memory": False}
        else:
            fname = f"<cell {cell}>" if session else "<job>"
            res = run_cell(job["code"], glb, fname, job["limits"]["value_limit"])
        sys.stdout, sys.stderr = out, err  # a cell may have replaced them
        for s in (out, err):
            try:
                s.flush()
            except Exception:
                pass
        write_frame(RESULT_FD, res)
        if not session:
            os._exit(res["exit_code"] & 0xFF)


def _is_user_file(name: str) -> bool:
    return name == "<job>" or name.startswith("<cell ")


def _format_exc(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and not _is_user_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next  # drop the runner's own frames
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _describe(exc: BaseException) -> str:
    try:
        msg = str(exc)
    except Exception:
        msg = "<unprintable>"
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return text[:2000]


def _safe_repr(value: object, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr failed: {_describe(exc)}>"
    if len(text) > limit:
        text = text[:limit] + f"... [value truncated: {len(text) - limit} more characters]"
    return text


def run_cell(code: str, glb: dict, filename: str, value_limit: int) -> dict:
    """Execute ``code`` in ``glb`` like a REPL cell; returns the result-frame dict."""
    res = {"exit_code": 0, "error": None, "value": None, "memory": False}
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        tree = ast.parse(code, filename, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = tree.body.pop()
        exec(compile(tree, filename, "exec"), glb)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), filename, "eval"), glb)
            if value is not None:
                glb["_"] = value
                res["value"] = _safe_repr(value, value_limit)
    except SystemExit as exc:
        if exc.code is None:
            res["exit_code"] = 0
        elif isinstance(exc.code, int):
            res["exit_code"] = exc.code
        else:
            print(exc.code, file=sys.stderr)
            res["exit_code"] = 1
    except MemoryError as exc:
        glb.clear()  # give the formatter some room back
        glb.update({"__name__": "__main__", "__builtins__": builtins})
        res.update(exit_code=1, memory=True, error="MemoryError")
        try:
            sys.stderr.write(_format_exc(exc))
        except BaseException:
            pass
    except BaseException as exc:
        res["exit_code"] = 1
        res["memory"] = isinstance(exc, MemoryError)
        try:
            res["error"] = _describe(exc)
            sys.stderr.write(_format_exc(exc))
        except MemoryError:
            res.update(memory=True, error="MemoryError")
    return res
