"""bubblewrap backend: the fork-server itself runs inside a bwrap sandbox.

Each pool server is one ``bwrap`` sandbox (Debian ``bubblewrap``): new user,
pid, network, ipc, uts and cgroup namespaces, all capabilities dropped, no
further user namespaces, a read-only root built only from ``/usr`` and the
interpreter's directories, private read-only ``/tmp``, a size-capped ``/work``
tmpfs.  Inside, the same fork-server as the native backend forks confined job
processes (rlimits, seccomp, setsid), so latency stays in milliseconds.

Jobs share the sandbox's uid with their server (a user namespace maps one
uid), so what keeps a job off its server and its siblings is seccomp (signals
only to itself, no ptrace or process_vm_*) and the server being non-dumpable
(no /proc/<pid>/mem).  When the host runs as root, bwrap runs as a reserved
unprivileged uid (``_uids``) rather than as root: a user namespace would
otherwise map the sandbox to host uid 0, the owner of every root-only file.
Interpreter directories that uid cannot reach (a Python under ``/root``) are
bind-mounted first, by root, into a private staging tmpfs.

``mode="per_job"`` starts a fresh bwrap (and interpreter) for every job
instead: slow, but nothing at all is shared between jobs.

Example::

    >>> from lemmaflow.sandboxes import BwrapExecutor
    >>> with BwrapExecutor(pool_size=1) as ex:                      # doctest: +SKIP
    ...     ex.run("import socket; socket.create_connection(('1.1.1.1', 53))").error
    'PermissionError: [Errno 1] Operation not permitted'
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Literal

from pydantic import Field

from ._cgroup import Cgroup
from ._fsview import compute_view, needs_staging
from ._uids import UidBlock
from .base import ExecResult, Job, SandboxConfig, SandboxUnavailable
from .forkserver import sandbox_env
from .pool import BOOTSTRAP, PooledExecutor, ServerHandle, popen_kill

__all__ = ["BwrapConfig", "BwrapExecutor", "bwrap_base_argv", "bwrap_command", "find_bwrap", "root_launcher",
           "stage_sources"]

# Runs as root between the host and bwrap: stage root-only directories where
# the unprivileged sandbox uid can bind them, then become that uid and exec.
_LAUNCHER_MAIN = r"""
import json, os, sys
a = json.loads(sys.argv[1])
for f in a["cgroup_procs"]:  # join the server's cgroup before anything forks
    with open(f, "w") as fh:
        fh.write(str(os.getpid()))
try:  # needs CAP_SYS_RESOURCE, which some hosts withhold even from root
    with open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("-1000")
except OSError:
    pass
unshare(CLONE_NEWNS)
mount(None, "/", None, MS_REC | MS_PRIVATE)
mount("tmpfs", a["stage"], "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
for i, src in enumerate(a["staged"]):
    bind_ro(src, "%s/%d" % (a["stage"], i))
os.setgroups([])
os.setresgid(a["uid"], a["uid"], a["uid"])
os.setresuid(a["uid"], a["uid"], a["uid"])
os.execv(a["argv"][0], a["argv"])
"""


class BwrapConfig(SandboxConfig):
    bwrap: str = Field("bwrap", description="bwrap executable")
    mode: Literal["warm", "per_job"] = Field("warm", description="warm fork-servers, or a fresh bwrap per job")


@functools.lru_cache(maxsize=8)  # asked before every confined prover start (one-shot coqc: every check)
def _bwrap_version(path: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return tuple(int(x) for x in out.split()[-1].split("."))
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return (0,)


def bwrap_base_argv(
    bwrap: str, uid: int, work_mb: int, sources: dict[str, str], view_symlinks: dict[str, str],
    hidden: list[str], disable_userns: bool, work_root: str, env: dict[str, str], new_session: bool = True,
) -> list[str]:
    """The sandbox part of a bwrap argv (namespaces, uid, read-only view, the writable ``work_root``
    tmpfs, a clean environment), to be followed by ``--chdir``, ``--`` and the program.

    ``sources`` maps each in-sandbox path to its host source.  Shared by the fork-server sandboxes
    and the confined provers (:mod:`.program`), so both draw exactly the same picture."""
    # --as-pid-1: no bwrap init inside.  That init would be a dumpable,
    # unfiltered process of the jobs' own uid: writing its /proc/1/mem would
    # be a way out of seccomp.  Our (non-dumpable) server is pid 1 instead.
    argv = [bwrap, "--unshare-all", "--unshare-user", *(["--new-session"] if new_session else []),
            "--cap-drop", "ALL", "--as-pid-1"]
    if disable_userns:
        argv.append("--disable-userns")
    argv += ["--uid", str(uid), "--gid", str(uid), "--hostname", "sandbox",
             "--proc", "/proc", "--dev", "/dev",
             "--size", str(1 << 20), "--tmpfs", "/tmp",
             "--size", str(work_mb << 20), "--tmpfs", work_root]
    for path, target in sorted(view_symlinks.items()):
        argv += ["--symlink", target, path]
    for dst in sorted(sources, key=lambda p: (p.count("/"), p)):
        argv += ["--ro-bind", sources[dst], dst]
    for h in hidden:
        argv += ["--tmpfs", h, "--remount-ro", h]
    argv += ["--remount-ro", "/tmp", "--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for k, v in env.items():
        argv += ["--setenv", k, v]
    return argv


def bwrap_command(
    bwrap: str, python: str, uid: int, work_mb: int, info_fd: int, sources: dict[str, str],
    view_symlinks: dict[str, str], hidden: list[str], disable_userns: bool, work_root: str = "/work",
) -> list[str]:
    """The bwrap argv of a fork-server; ``sources`` maps each in-sandbox path to its host source."""
    argv = bwrap_base_argv(bwrap, uid, work_mb, sources, view_symlinks, hidden, disable_userns, work_root,
                           sandbox_env(work_root))
    argv += ["--chdir", work_root, "--info-fd", str(info_fd),
             "--", python, "-I", "-B", "-c", BOOTSTRAP, "0,1"]
    return argv


def find_bwrap(name: str = "bwrap") -> str:
    """The bwrap executable, or :class:`SandboxUnavailable` saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise SandboxUnavailable("bwrap not installed: apt-get install bubblewrap")
    if _bwrap_version(path) < (0, 5):  # --size (tmpfs caps) came with 0.5
        raise SandboxUnavailable(f"{path} is too old (need bubblewrap >= 0.5)")
    return path


def stage_sources(binds: list[str], root: bool) -> tuple[dict[str, str], list[str], str]:
    """Map each bind to its host source; as root, paths an unprivileged uid cannot reach (under
    ``/root``) are staged: ``(sources, staged host paths, staging dir)`` for :func:`root_launcher`."""
    stage = "/mnt" if os.path.isdir("/mnt") else tempfile.mkdtemp(prefix="lemmaflow-stage-")
    staged: list[str] = []
    sources: dict[str, str] = {}
    for path in binds:
        if root and needs_staging(path):
            sources[path] = f"{stage}/{len(staged)}"
            staged.append(path)
        else:
            sources[path] = path
    return sources, staged, stage


def root_launcher(python: str, argv: list[str], uid: int, stage: str, staged: list[str],
                  cgroup_procs: list[str]) -> list[str]:
    """As root: the argv that stages ``staged``, joins the cgroup, becomes ``uid`` and execs ``argv``
    (bwrap), so that the sandbox's user namespace never maps host root."""
    from .pool import runtime_sources

    nsroot = dict(runtime_sources())["_nsroot"]
    spec = {"stage": stage, "staged": staged, "uid": uid, "argv": argv, "cgroup_procs": cgroup_procs}
    return [python, "-I", "-B", "-c", nsroot + "\n" + _LAUNCHER_MAIN, json.dumps(spec)]


def _read_info(fd: int, timeout: float) -> dict:
    buf, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        try:
            return json.loads(buf)
        except ValueError:
            continue
    return {}


class BwrapExecutor(PooledExecutor):
    """Fork-server pool, each server inside its own bubblewrap sandbox."""

    kind = "bwrap"
    config_cls = BwrapConfig
    config: BwrapConfig

    def _check_available(self) -> None:
        find_bwrap(self.config.bwrap)

    def _launch(self, index: int, oneshot: bool = False) -> ServerHandle:
        cfg = self.config
        python = cfg.python or sys.executable
        bwrap = shutil.which(cfg.bwrap) or cfg.bwrap
        root = os.geteuid() == 0
        block = UidBlock.acquire(cfg.uid_base) if root else None
        uid = block.first if block else os.getuid()
        cgroup = Cgroup.create("bwrap", *cfg.server_cgroup_limits()) if root else None

        def release() -> None:
            if block is not None:
                block.release()
            if cgroup is not None:
                cgroup.destroy()

        try:
            view = compute_view(python)
            sources, staged, stage = stage_sources(view.binds, root)
            info_r, info_w = os.pipe()
            argv = bwrap_command(bwrap, python, uid, self.limits.work_dir_mb, info_w, sources,
                                 view.symlinks, view.hidden, _bwrap_version(bwrap) >= (0, 8), view.work_root)
            if root:
                argv = root_launcher(python, argv, uid, stage, staged, cgroup.procs_files if cgroup else [])
            log = tempfile.TemporaryFile(prefix="lemmaflow-bwrap-")
            host_r, srv_w = os.pipe()
            srv_r, host_w = os.pipe()
            try:
                proc = subprocess.Popen(argv, stdin=srv_r, stdout=srv_w, stderr=log, pass_fds=(info_w,),
                                        env=sandbox_env(), start_new_session=True, cwd="/")
            finally:
                for fd in (srv_r, srv_w, info_w):
                    os.close(fd)
        except BaseException:
            release()
            raise
        info = _read_info(info_r, cfg.start_timeout_s)
        os.close(info_r)
        pidfd = None
        if info.get("child-pid"):
            try:
                pidfd = os.pidfd_open(info["child-pid"])
            except OSError:
                pidfd = None

        def kill_sandbox() -> None:
            # SIGKILL to the sandbox's pid 1 takes the whole pid namespace down.
            if pidfd is not None:
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except OSError:
                    pass
                os.close(pidfd)

        def cleanup() -> None:
            release()

        handle = ServerHandle(host_r, host_w, kill=popen_kill(proc, kill_sandbox), log=log, name="bwrap",
                              cleanup=cleanup)
        server_cfg = self.server_config(oneshot=oneshot, work_root=view.work_root)
        try:
            handle.hello(server_cfg, cfg.start_timeout_s)
        except SandboxUnavailable as exc:
            raise SandboxUnavailable(_explain(str(exc))) from None
        handle.info["host_pid"] = info.get("child-pid", 0)
        handle.info["cgroup"] = cgroup is not None
        return handle

    # per_job mode: nothing warm, a fresh sandbox for every job
    def start(self) -> None:
        if self.config.mode == "per_job":
            self._check_available()
            return
        super().start()

    def run(self, job: Job | str) -> ExecResult:
        if self.config.mode != "per_job":
            return super().run(job)
        job = self._coerce(job)
        wire = job.wire(self.limits)
        handle = self._launch(0, oneshot=True)
        try:
            reply = handle.request({"op": "run", "job": wire}, wire["timeout_s"] + self.config.reply_grace_s)
        finally:
            handle.kill()
        return ExecResult.from_wire(reply, self.kind)

    async def arun(self, job: Job | str) -> ExecResult:
        if self.config.mode != "per_job":
            return await super().arun(job)
        import asyncio

        return await asyncio.to_thread(self.run, job)

    def session(self):  # type: ignore[override]
        if self.config.mode != "per_job":
            return super().session()
        from .session import Session

        warm = BwrapExecutor(self.config.model_copy(update={"mode": "warm", "pool_size": 1}))
        return Session(warm, owns_executor=True)


def _explain(msg: str) -> str:
    low = msg.lower()
    if "no permissions to creat" in low or ("operation not permitted" in low and "namespace" in low):
        return (msg + "\nbwrap could not create namespaces: enable unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0).")
    return msg

