"""The default backend: warm fork-servers on the host, confined with plain syscalls.

Each server is a fresh ``python -I`` started by the host, which

* enters a new **pid namespace** (it is pid 1 there; killing the one host pid
  the host knows kills every job under it), and new mount/net/ipc/uts
  namespaces with a **read-only private root** holding only ``/usr`` and the
  interpreter's own directories (see ``_nsroot`` and ``_fsview``),
* imports the math stack once (sympy, numpy, ... and sympy's lazily-loaded
  submodules), runs a warm-up cell, compiles the seccomp filter,
* forks one **spare** job process ahead of each job.  The spare calls setsid,
  takes a uid of its own from a block the host reserved (``_uids``), sets
  rlimits (address space, CPU, file size, processes, open files), drops to that
  uid, sets no_new_privs and loads seccomp (no sockets, exec, ptrace, mounts,
  namespaces; signals only to itself), then waits for its job.

A job that times out is killed with its whole process group.  ``pool_size``
servers serve concurrent jobs.  Needs root (to hand out uids and build the
namespace); as a normal user use ``kind="bwrap"``.

Example::

    >>> from lemmaflow.sandboxes import ForkServerExecutor, Job
    >>> with ForkServerExecutor(pool_size=1) as ex:                  # doctest: +SKIP
    ...     r = ex.run(Job(code="import sympy as sp\\nsp.factor(sp.Symbol('x')**2 - 1)"))
    >>> r.value                                                       # doctest: +SKIP
    '(x - 1)*(x + 1)'
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from ._cgroup import Cgroup
from ._fsview import compute_view
from ._uids import UidBlock
from .base import ExecResult, Job, SandboxConfig, SandboxUnavailable
from .pool import BOOTSTRAP, PooledExecutor, ServerHandle, popen_kill

__all__ = ["ForkServerExecutor", "SubprocessExecutor", "protect_from_oom", "sandbox_env"]


def protect_from_oom(pid: int) -> None:
    """Make the server the OOM killer's last choice; job processes raise their
    own score to the maximum (see _child), so a memory bomb dies first."""
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write("-1000")
    except OSError:
        pass


def sandbox_env(work_root: str = "/work", **extra: str) -> dict[str, str]:
    """The whole environment a server (and so a job) starts with: nothing of the host's."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": work_root,
        # One BLAS thread: the server must stay single-threaded to fork safely,
        # and a job must not spawn a thread per core.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
    }
    env.update(extra)
    return env


def _require_root(kind: str) -> None:
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            f"the {kind} backend must run as root: it gives each job its own uid and builds its "
            "namespaces with mount(2). As a normal user use kind='bwrap' (apt-get install bubblewrap)."
        )


def launch_native(executor: PooledExecutor, name: str, **cfg_extra: object) -> ServerHandle:
    """Start one native server (pid/mount/net namespaces, per-job uids)."""
    config = executor.config
    python = config.python or sys.executable
    block = UidBlock.acquire(config.uid_base)
    cgroup = Cgroup.create(name, *config.server_cgroup_limits())
    try:
        view = compute_view(python)
        log = tempfile.TemporaryFile(prefix=f"lemmaflow-{name}-")
        host_r, srv_w = os.pipe()
        srv_r, host_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [python, "-I", "-B", "-c", BOOTSTRAP, "0,1"],
                stdin=srv_r, stdout=srv_w, stderr=log, env=sandbox_env(view.work_root),
                start_new_session=True, close_fds=True, cwd="/",
            )
        finally:
            os.close(srv_r)
            os.close(srv_w)
        # Before the server sees its config, hence before it forks anything.
        if cgroup is not None:
            cgroup.add(proc.pid)
        protect_from_oom(proc.pid)
    except BaseException:
        block.release()
        if cgroup is not None:
            cgroup.destroy(0)
        raise

    def cleanup() -> None:
        block.release()
        if cgroup is not None:
            cgroup.destroy()

    handle = ServerHandle(host_r, host_w, kill=popen_kill(proc), log=log, name=name, cleanup=cleanup)
    cfg = executor.server_config(
        per_job_uid=True, uid_base=block.first, uid_count=block.count, view=view.as_dict(), pid_ns=True,
        work_root=view.work_root,
        **cfg_extra,
    )
    handle.hello(cfg, config.start_timeout_s)
    handle.info["cgroup"] = cgroup is not None
    return handle


class ForkServerExecutor(PooledExecutor):
    """Warm fork-server pool on the host (root); the default backend."""

    kind = "forkserver"
    config_cls = SandboxConfig

    def _check_available(self) -> None:
        _require_root(self.kind)
        if not hasattr(os, "pidfd_open") or sys.platform != "linux":
            raise SandboxUnavailable("the forkserver backend needs Linux and Python >= 3.9")

    def _launch(self, index: int) -> ServerHandle:
        return launch_native(self, self.kind)


class SubprocessExecutor(PooledExecutor):
    """A cold interpreter per job, with the same confinement as the fork-server.

    The baseline the others are measured against, and a fallback that keeps no
    process between jobs.  Nothing is preloaded unless ``preload`` says so.
    A session gets a dedicated server of its own for its lifetime.
    """

    kind = "subprocess"

    def __init__(self, config: SandboxConfig | None = None, **overrides: object) -> None:
        if config is None:
            overrides.setdefault("preload", ())
            overrides.setdefault("warmup", None)
            overrides.setdefault("pool_size", 1)
        super().__init__(config, **overrides)

    def _check_available(self) -> None:
        _require_root(self.kind)

    def start(self) -> None:
        self._check_available()  # nothing stays warm

    def _launch(self, index: int) -> ServerHandle:  # used by sessions
        return launch_native(self, self.kind)

    def run(self, job: Job | str) -> ExecResult:
        job = self._coerce(job)
        wire = job.wire(self.limits)
        t0 = time.perf_counter()
        handle = launch_native(self, self.kind, oneshot=True)
        try:
            reply = handle.request({"op": "run", "job": wire}, wire["timeout_s"] + self.config.reply_grace_s)
        finally:
            handle.kill()
        res = ExecResult.from_wire(reply, self.kind)
        res.duration_s = round(time.perf_counter() - t0, 6)  # cold start is the point here
        return res

    async def arun(self, job: Job | str) -> ExecResult:
        import asyncio

        return await asyncio.to_thread(self.run, job)

    async def _in_thread(self, fn, *args):  # sessions of a subprocess executor
        import asyncio

        return await asyncio.to_thread(fn, *args)

    def map(self, jobs):  # type: ignore[override]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, self.config.pool_size)) as tp:
            return list(tp.map(self.run, list(jobs)))

    def session(self):  # type: ignore[override]
        from .session import Session

        dedicated = ForkServerExecutor(self.config.model_copy(update={"pool_size": 1}))
        dedicated.kind = self.kind
        dedicated._check_available = self._check_available  # type: ignore[method-assign]
        return Session(dedicated, owns_executor=True)
