"""Process handling shared by the prover clients (Coq's ``coqidetop``/``coqc``, the Lean REPL).

A prover runs the model's text, and that text is untrusted: Coq's ``Redirect`` /
``Extraction`` write files, ``Load`` reads them, Lean's ``#eval`` runs any ``IO``.
So :func:`spawn_prover` starts every prover process **confined** by default,
through the sandbox layer's own mechanism (:mod:`lemmaflow.sandboxes.program`:
bubblewrap namespaces, a read-only allow-listed view, one discarded scratch
tmpfs, no network, seccomp, an unprivileged uid, cgroup and rlimits). Where no
confinement can run, starting fails with :class:`ProverConfinementUnavailable`
(what to install), unless the caller opted out with ``confine=False``; then the
process runs with the user's rights, as before: its own session (a timeout kills
the checker *and* everything it started), ``RLIMIT_AS``, no core dumps.

See ``docs/prover-confinement.md``.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from typing import Callable, Mapping, Sequence

from .base import ProverConfinementUnavailable

__all__ = ["ProverConfinementUnavailable", "confine_fn", "kill_group", "release_process", "require_confinement",
           "spawn_prover"]


def confine_fn(memory_limit_bytes: int | None) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the child's address space (when a limit is given) and core size."""

    def confine() -> None:  # runs in the child between fork and exec
        if memory_limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return confine


def spawn_prover(
    argv: Sequence[str], *, confine: bool, memory_limit_bytes: int | None, cwd: str | None = None,
    env: Mapping[str, str] | None = None, read_paths: Sequence[str] = (), allow_fork: bool = False,
    max_processes: int = 64, files: Mapping[str, bytes] | None = None, stdin=None, stdout=None, stderr=None,
) -> subprocess.Popen:
    """Start one prover process, confined unless ``confine=False``.

    Confined, it runs in its scratch tmpfs, or in ``cwd`` made read-only (the Lean project, where
    ``lake env`` must run; ``$HOME``/``$TMPDIR`` stay the scratch), ``files`` put into the scratch
    first, with a clean environment plus ``env``; unconfined, in ``cwd`` with the host environment
    updated by ``env`` (``files`` are written into ``cwd``)."""
    if not confine:
        if files:
            assert cwd is not None, "files need a working directory"
            for name, data in files.items():
                with open(os.path.join(cwd, name), "wb") as f:
                    f.write(data)
        return subprocess.Popen(
            list(argv), stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
            env={**os.environ, **(env or {})}, start_new_session=True, preexec_fn=confine_fn(memory_limit_bytes),
        )
    from ...sandboxes.base import SandboxUnavailable
    from ...sandboxes.program import ProgramConfinement, spawn_confined

    memory_mb = max(64, memory_limit_bytes >> 20) if memory_limit_bytes else None
    spec = ProgramConfinement(read_paths=tuple(read_paths), memory_mb=memory_mb,
                              max_processes=max_processes, allow_fork=allow_fork, env=dict(env or {}))
    require_confinement()
    try:
        return spawn_confined(argv, spec, files=files, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr)
    except SandboxUnavailable as e:
        raise _unavailable(e) from None


def _unavailable(e: Exception) -> ProverConfinementUnavailable:
    return ProverConfinementUnavailable(
        f"cannot confine the prover: {e}. Install bubblewrap (apt-get install bubblewrap) and enable "
        "unprivileged user namespaces, or run as root; to run the prover with your full rights instead, "
        "opt out explicitly: confine=False (CoqProver, CoqcProver, LeanProver) or --unconfined-prover (CLI)")


def require_confinement() -> None:
    """Raise :class:`ProverConfinementUnavailable` unless a confined prover can start here (checked
    once per process: a trivial program is run the way a prover would be)."""
    from ...sandboxes.base import SandboxUnavailable
    from ...sandboxes.program import check_confinement

    try:
        check_confinement()
    except SandboxUnavailable as e:
        raise _unavailable(e) from None


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
    release_process(proc)


def release_process(proc: subprocess.Popen | None) -> None:
    """Free the uid block and cgroup of a confined process once it is dead (nothing for others)."""
    program = sys.modules.get(f"{__package__.rsplit('.', 2)[0]}.sandboxes.program")
    if program is not None:  # not loaded: nothing was confined, nothing to free
        program.release(proc)
