"""Process handling shared by the prover clients (Coq's ``coqidetop``/``coqc``, the Lean REPL).

Every prover process runs in its own session (process group) so that a timeout can kill the
checker *and* everything it started; its address space is capped with ``RLIMIT_AS`` and it may
not write core dumps (a crashing checker on a full disk must not fill it further).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from typing import Callable

__all__ = ["confine_fn", "kill_group"]


def confine_fn(memory_limit_bytes: int | None) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the child's address space (when a limit is given) and core size."""

    def confine() -> None:  # runs in the child between fork and exec
        if memory_limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return confine


def kill_group(proc: subprocess.Popen | None) -> None:
    """SIGKILL the process group led by ``proc``, reap it and close its pipes. Never raises."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is None:
            continue
        try:
            stream.close()
        except Exception:
            pass
