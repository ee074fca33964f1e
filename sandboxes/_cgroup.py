"""Best-effort cgroup (memory + pids) around one sandbox server and its jobs.

RLIMIT_AS caps each process, RLIMIT_NPROC each uid; a job that forks could
still multiply its memory cap by its process cap.  A cgroup per server puts
one ceiling over the server, its spares, sessions and every job process.
Docker containers have this already; this module gives it to the native and
bwrap servers when the host runs as root.

The cgroup is created *below the caller's own cgroup*, so whatever accounts
for the caller (systemd, a CI runner) still accounts for the sandbox.  cgroup
v1 (``memory`` and ``pids`` hierarchies) and v2 (when the caller's cgroup can
delegate both controllers) are supported; elsewhere :meth:`Cgroup.create`
returns ``None`` and the per-process rlimits stay the only memory bound.

Example::

    >>> cg = Cgroup.create("demo", memory_mb=512, pids=64)   # doctest: +SKIP
    >>> cg.add(pid); ...; cg.destroy()                        # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["Cgroup"]

_ROOT = "/sys/fs/cgroup"


def _own_paths() -> dict[str, str]:
    """controller (or '' for v2) -> this process's cgroup path."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in ctrls.split(",") if ctrls else [""]:
                    out[c] = path
    except OSError:
        pass
    return out


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class Cgroup:
    def __init__(self, dirs: list[str], procs_files: list[str]) -> None:
        self.dirs = dirs
        self.procs_files = procs_files

    @classmethod
    def create(cls, name: str, memory_mb: int, pids: int) -> Cgroup | None:
        if os.geteuid() != 0:
            return None
        leaf = f"lemmaflow-{name}-{uuid.uuid4().hex[:8]}"
        own = _own_paths()
        made: list[str] = []
        try:
            if os.path.exists(f"{_ROOT}/memory/memory.limit_in_bytes") and "memory" in own:  # v1
                mem = f"{_ROOT}/memory{own['memory'].rstrip('/')}/{leaf}"
                os.mkdir(mem)
                made.append(mem)
                _write(f"{mem}/memory.limit_in_bytes", str(memory_mb << 20))
                if os.path.exists(f"{mem}/memory.memsw.limit_in_bytes"):
                    _write(f"{mem}/memory.memsw.limit_in_bytes", str(memory_mb << 20))
                if os.path.exists(f"{_ROOT}/pids") and "pids" in own:
                    pid_dir = f"{_ROOT}/pids{own['pids'].rstrip('/')}/{leaf}"
                    os.mkdir(pid_dir)
                    made.append(pid_dir)
                    _write(f"{pid_dir}/pids.max", str(pids))
                return cls(made, [f"{d}/cgroup.procs" for d in made])
            base = f"{_ROOT}{own.get('', '/').rstrip('/')}"
            with open(f"{base}/cgroup.controllers") as f:  # v2
                if not {"memory", "pids"} <= set(f.read().split()):
                    return None
            with open(f"{base}/cgroup.subtree_control") as f:
                enabled = set(f.read().split())
            if not {"memory", "pids"} <= enabled:
                _write(f"{base}/cgroup.subtree_control", "+memory +pids")
            d = f"{base}/{leaf}"
            os.mkdir(d)
            made.append(d)
            _write(f"{d}/memory.max", str(memory_mb << 20))
            if os.path.exists(f"{d}/memory.swap.max"):
                _write(f"{d}/memory.swap.max", "0")
            _write(f"{d}/pids.max", str(pids))
            return cls(made, [f"{d}/cgroup.procs"])
        except OSError:
            for d in reversed(made):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            return None

    def add(self, pid: int) -> None:
        for f in self.procs_files:
            _write(f, str(pid))

    def destroy(self, timeout: float = 3.0) -> None:
        """Remove the cgroup once its processes are gone (they are being killed)."""
        deadline = time.monotonic() + timeout
        for d in self.dirs:
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
