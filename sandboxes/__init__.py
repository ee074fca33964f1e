"""Sandboxed executors for model-written code: nothing runs in the toolkit's process.

Backends (pick with :func:`make_executor`):

* ``"forkserver"`` (default): warm fork-server pool on the host (root needed);
  per-job uid, rlimits, seccomp, private read-only root, pid/net namespaces.
* ``"bwrap"``: the same fork-server inside bubblewrap sandboxes (user, pid,
  net, mount namespaces; all capabilities dropped); works without root.
* ``"docker"``: the fork-server inside locked-down containers (``--network
  none``, read-only root, no capabilities, memory/pids limits, non-root user).
* ``"subprocess"``: a cold confined interpreter per job (the baseline).

Example::

    >>> from lemmaflow.sandboxes import make_executor, Job
    >>> with make_executor("forkserver", pool_size=1) as ex:      # doctest: +SKIP
    ...     r = ex.run(Job(code="print(1 + 1)\\n2 ** 10", timeout_s=5))
    >>> r.stdout, r.value, r.killed_by                            # doctest: +SKIP
    ('2\\n', '1024', None)

See ``docs/sandboxes.md`` for the attack table and setup requirements.
"""

from __future__ import annotations

from typing import Literal

from .base import (
    DEFAULT_PRELOAD,
    DEFAULT_WARMUP,
    BackendKind,
    ExecResult,
    Executor,
    Job,
    KilledBy,
    Limits,
    SandboxConfig,
    SandboxCrashed,
    SandboxError,
    SandboxUnavailable,
)
from .forkserver import ForkServerExecutor, SubprocessExecutor
from .pool import PooledExecutor
from .session import Session

__all__ = [
    "DEFAULT_PRELOAD",
    "DEFAULT_WARMUP",
    "BackendKind",
    "BwrapConfig",
    "BwrapExecutor",
    "DockerConfig",
    "DockerExecutor",
    "ExecResult",
    "Executor",
    "ForkServerExecutor",
    "Job",
    "KilledBy",
    "Limits",
    "PooledExecutor",
    "SandboxConfig",
    "SandboxCrashed",
    "SandboxError",
    "SandboxUnavailable",
    "Session",
    "SubprocessExecutor",
    "make_executor",
]


def make_executor(
    kind: Literal["forkserver", "bwrap", "docker", "subprocess"] = "forkserver",
    config: SandboxConfig | None = None,
    **overrides: object,
) -> PooledExecutor:
    """Create (not start) an executor; ``overrides`` are fields of the backend's config.

    >>> ex = make_executor("bwrap", pool_size=2, limits=Limits(timeout_s=5))   # doctest: +SKIP
    """
    if kind == "forkserver":
        return ForkServerExecutor(config, **overrides)
    if kind == "subprocess":
        return SubprocessExecutor(config, **overrides)
    if kind == "bwrap":
        from .bwrap import BwrapExecutor

        return BwrapExecutor(config, **overrides)
    if kind == "docker":
        from .docker_backend import DockerExecutor  # imports the docker SDK lazily

        return DockerExecutor(config, **overrides)
    raise ValueError(f"unknown sandbox kind {kind!r}; choose forkserver, bwrap, docker or subprocess")


def __getattr__(name: str) -> object:
    # Backends with optional system dependencies load on first use only.
    if name in ("BwrapExecutor", "BwrapConfig"):
        from . import bwrap

        return getattr(bwrap, name)
    if name in ("DockerExecutor", "DockerConfig"):
        from . import docker_backend

        return getattr(docker_backend, name)
    raise AttributeError(name)
