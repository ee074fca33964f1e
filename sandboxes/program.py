"""Run one external program confined: the provers (``coqidetop``, ``coqc``, the Lean REPL).

A proof text is as untrusted as the code the executors run: Coq's ``Redirect``
and ``Extraction`` write files, ``Load`` reads them, Lean's ``#eval`` runs any
``IO``.  So every prover process is started here, inside the same bubblewrap
picture the ``bwrap`` sandbox backend draws (:func:`.bwrap.bwrap_base_argv`,
one implementation for both):

* a read-only, allow-listed view of the host (:func:`._fsview.system_view`:
  ``/usr``, a few ``/etc`` files) plus the program's own files
  (``read_paths``: Coq's ``-Q`` directories, a Lean toolchain, the Mathlib
  project; absolute paths on the command line; an interpreter's ``sys.path``);
  the user's home, the run store, the skill library and the toolkit's own
  tree are simply absent;
* one writable, size-capped tmpfs as scratch directory (the working directory,
  ``$HOME`` and ``$TMPDIR``), gone when the process ends;
* new user, pid, network (empty: no interface but a down loopback), ipc, uts
  and cgroup namespaces, every capability dropped, no further user namespaces;
* a seccomp filter compiled by :func:`._confine.compile_filter` (no sockets, no
  ptrace, no mounts, no new namespaces and, unless ``allow_fork``, no new
  processes), loaded by bwrap right before it execs the program;
* ``RLIMIT_AS`` (memory), ``RLIMIT_CORE`` 0 and, as root, an unprivileged uid of
  its own (:mod:`._uids`, so ``RLIMIT_NPROC`` caps it alone) and a memory+pids
  cgroup (:mod:`._cgroup`); the root launcher (:func:`.bwrap.root_launcher`)
  drops to that uid before bwrap runs, so host root is never mapped inside.

The process runs in its own session and process group, which the program cannot
leave; killing that group (the provers' ``kill_group``) kills bwrap and the
program, pid 1 of its namespace, so everything it started goes too.  :func:`release` frees the uid block and cgroup.

Example::

    >>> import subprocess
    >>> from lemmaflow.sandboxes.program import ProgramConfinement, spawn_confined
    >>> p = spawn_confined(["sh", "-c", "echo hi > /etc/x; echo $?"], ProgramConfinement(),
    ...                    stdout=subprocess.PIPE)                           # doctest: +SKIP
    >>> p.communicate()[0]                                                   # doctest: +SKIP
    b'2\\n'
"""

from __future__ import annotations

import errno
import functools
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import weakref
from typing import IO, Any, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from ._cgroup import Cgroup
from ._fsview import FsView, interpreter_paths, system_view
from ._uids import UidBlock
from .base import SandboxUnavailable
from .bwrap import _bwrap_version, _explain, bwrap_base_argv, find_bwrap, root_launcher, stage_sources
from .forkserver import sandbox_env

__all__ = ["ProgramConfinement", "check_confinement", "confined_view", "release", "spawn_confined"]

_UID_BASE = 1_000_000  # the bwrap backend's default block allocator: provers and sandboxes never share a uid
_PYTHON = re.compile(r"^python\d*(\.\d+)?$")


class ProgramConfinement(BaseModel):
    """How one program is confined (the provers fill it from their configs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    bwrap: str = "bwrap"
    read_paths: tuple[str, ...] = Field((), description="host paths readable inside, at the same place")
    scratch_mb: int = Field(256, ge=1, description="size cap of the writable scratch tmpfs")
    memory_mb: int | None = Field(4096, ge=64, description="RLIMIT_AS of each process (and the cgroup, as root)")
    max_processes: int = Field(64, ge=4, description="processes+threads (RLIMIT_NPROC / pids cgroup, as root)")
    allow_fork: bool = Field(False, description="may the program start other processes (lake env does)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment inside")


def _resolve(argv0: str) -> str:
    if os.sep in argv0:
        return os.path.abspath(argv0)
    return shutil.which(argv0) or argv0


def confined_view(argv: Sequence[str], read_paths: Sequence[str] = ()) -> tuple[list[str], FsView]:
    """The argv to run (``argv[0]`` made absolute) and the read-only view it gets: the system part,
    ``read_paths``, every absolute path on the command line and, for a Python interpreter, its
    ``sys.path`` (the Lean REPL double is a Python script)."""
    argv = [_resolve(argv[0]), *argv[1:]]
    if not (os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK)):
        # what Popen would say, rather than bwrap's own failure once the process runs
        raise FileNotFoundError(errno.ENOENT, "no such executable", argv[0])
    extra = [p for p in read_paths if p]
    extra += [a for a in argv if os.path.isabs(a) and os.path.exists(a)]
    if _PYTHON.match(os.path.basename(os.path.realpath(argv[0]))):
        extra += interpreter_paths(argv[0])
    view = system_view(extra)
    # A program named through a symlink (elan's proxies dispatch on their own name) keeps that
    # name inside: link it to the bound target unless the path is already visible.
    for a in [argv[0], *read_paths]:
        if os.path.islink(a) and not any(a == b or a.startswith(b.rstrip("/") + "/") for b in view.binds):
            view.symlinks[a] = os.path.realpath(a)
    return argv, view


@functools.lru_cache(maxsize=4)
def _seccomp(allow_fork: bool) -> bytes:
    from ._confine import compile_filter

    try:
        return compile_filter(allow_fork=allow_fork, allow_exec=True)[0]
    except RuntimeError as e:  # pyseccomp or libseccomp missing
        raise SandboxUnavailable(f"{e} (or: pip install 'lemmaflow[sandbox]')") from None


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # inheritable: bwrap reads it in the child
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


_releases: "weakref.WeakKeyDictionary[subprocess.Popen, weakref.finalize]" = weakref.WeakKeyDictionary()
_releases_lock = threading.Lock()


def release(proc: subprocess.Popen | None) -> None:
    """Free what :func:`spawn_confined` reserved for ``proc`` (uid block, cgroup); idempotent.
    Call it after the process is dead (the provers' ``kill_group`` does)."""
    if proc is None:
        return
    with _releases_lock:
        fin = _releases.pop(proc, None)
    if fin is not None:
        fin()


def spawn_confined(
    argv: Sequence[str], confinement: ProgramConfinement | None = None, *,
    files: Mapping[str, bytes] | None = None, cwd: str | None = None, stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None, stderr: int | IO[Any] | None = None,
) -> subprocess.Popen:
    """Start ``argv`` confined (see the module doc). ``files`` (name -> content) are put into the
    scratch tmpfs first; the working directory is the scratch, or ``cwd``, which is then bound
    read-only (a Lean project, where ``lake env`` must run). Raises :class:`SandboxUnavailable` when
    no confinement can run here (no bwrap, no user namespaces, no seccomp), saying what to install."""
    c = confinement or ProgramConfinement()
    bwrap = find_bwrap(c.bwrap)
    seccomp = _seccomp(c.allow_fork)
    argv, view = confined_view(argv, (*c.read_paths, *([cwd] if cwd else [])))
    root = os.geteuid() == 0
    block = UidBlock.acquire(_UID_BASE) if root else None
    uid = block.first if block else os.getuid()
    cgroup = Cgroup.create("prover", c.memory_mb or (1 << 20), c.max_processes) if root else None

    def free() -> None:
        if block is not None:
            block.release()
        if cgroup is not None:
            cgroup.destroy()

    fds: list[int] = []
    try:
        scratch = view.work_root
        env = sandbox_env(scratch, TMPDIR=scratch, **c.env)
        sources, staged, stage = stage_sources(view.binds, root)
        # No --new-session: the program stays in the process group we start (itself a new session,
        # so no controlling terminal, and seccomp refuses TIOCSTI, setsid and setpgid), so killing
        # that group kills bwrap *and* the program, pid 1 of its namespace, with all it started.
        # (--die-with-parent would tie the program to the *thread* that started it.)
        cmd = bwrap_base_argv(bwrap, uid, c.scratch_mb, sources, view.symlinks, view.hidden,
                              _bwrap_version(bwrap) >= (0, 8), scratch, env, new_session=False)
        for name, data in (files or {}).items():
            fds.append(_memfd("lemmaflow-file", data))
            cmd += ["--file", str(fds[-1]), f"{scratch}/{name}"]
        fds.append(_memfd("lemmaflow-seccomp", seccomp))
        cmd += ["--seccomp", str(fds[-1]), "--chdir", os.path.abspath(cwd) if cwd else scratch, "--", *argv]
        if root:
            cmd = root_launcher(sys.executable, cmd, uid, stage, staged, cgroup.procs_files if cgroup else [])
        limits = _rlimits(c.memory_mb, c.max_processes if block else None)
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr, pass_fds=fds, env=sandbox_env(),
                                cwd="/", start_new_session=True, preexec_fn=limits)
    except BaseException:
        free()
        raise
    finally:
        for fd in fds:
            os.close(fd)
    with _releases_lock:
        _releases[proc] = weakref.finalize(proc, free)
    return proc


def _rlimits(memory_mb: int | None, nproc: int | None):
    def apply() -> None:  # in the child, before the launcher / bwrap execs
        if memory_mb:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if nproc:  # counted per uid: only meaningful for a uid of our own (root hosts)
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    return apply


_checked: set[tuple[str, int]] = set()


def check_confinement(bwrap: str = "bwrap") -> None:
    """Make sure a confined program can start here (once per process and bwrap), else raise
    :class:`SandboxUnavailable` with bwrap's own error and what to install or enable."""
    path = find_bwrap(bwrap)
    key = (path, os.geteuid())
    if key in _checked:
        return
    proc = spawn_confined(["true"], ProgramConfinement(bwrap=bwrap, memory_mb=None),
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        err = b"bwrap did not finish a trivial program in 60 s"
    finally:
        release(proc)
    if proc.returncode != 0:
        why = err.decode(errors="replace").strip()
        raise SandboxUnavailable(_explain(f"bwrap cannot confine a program here: {why}"))
    _checked.add(key)
