"""Protocol, data models and errors shared by every sandbox backend.

A job's own failure (an exception in user code, a timeout, a memory bomb) is a
normal :class:`ExecResult`; exceptions are reserved for the sandbox itself:
:class:`SandboxUnavailable` (the backend cannot start on this machine, with an
install hint) and :class:`SandboxCrashed` (a running sandbox died under us; the
executor replaces it and stays usable).

Example::

    >>> from lemmaflow.sandboxes import Job, Limits
    >>> job = Job(code="x = 6 * 7\\nx", timeout_s=2)
    >>> job.resolved(Limits()).timeout_s
    2.0
    >>> ExecResult(stdout="2\\n", exit_code=0, duration_s=0.001).ok
    True
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "BackendKind",
    "ExecResult",
    "Executor",
    "Job",
    "KilledBy",
    "Limits",
    "SandboxConfig",
    "SandboxCrashed",
    "SandboxError",
    "SandboxUnavailable",
    "SessionLike",
    "DEFAULT_PRELOAD",
    "DEFAULT_WARMUP",
]

BackendKind = Literal["forkserver", "bwrap", "docker", "subprocess"]
KilledBy = Literal["timeout", "memory", "output", "crash", "signal"]


class SandboxError(RuntimeError):
    """Base class of the sandbox's own failures (never raised for a job's failure)."""


class SandboxUnavailable(SandboxError):
    """The backend cannot run here; the message says what to install or start."""


class SandboxCrashed(SandboxError):
    """A sandbox server died or stopped answering; it is replaced on the next run."""


class Limits(BaseModel):
    """Per-job resource limits (defaults of an executor; a :class:`Job` may override some)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(10.0, gt=0, le=3600, description="wall-clock limit of one job")
    memory_mb: int = Field(
        1024, ge=16, description="address space a job may add on top of the preloaded interpreter (RLIMIT_AS)"
    )
    output_limit_bytes: int = Field(
        64_000, ge=256, description="bytes kept per stream (head + tail); the rest is cut with a marker"
    )
    output_kill_bytes: int = Field(
        8 << 20, ge=1024, description="total stdout+stderr after which the job is killed (killed_by='output')"
    )
    max_processes: int = Field(32, ge=1, description="processes+threads a job may add (RLIMIT_NPROC)")
    max_file_mb: int = Field(16, ge=0, description="largest file a job may write (RLIMIT_FSIZE)")
    max_open_files: int = Field(256, ge=16, description="RLIMIT_NOFILE")
    work_dir_mb: int = Field(64, ge=1, description="size of the tmpfs that holds job work dirs")
    allow_fork: bool = Field(True, description="let jobs fork (bounded by max_processes); exec is never allowed")
    session_cpu_s: float = Field(3600.0, gt=0, description="CPU budget of a session interpreter over its life")


class Job(BaseModel):
    """One piece of code to run.  ``None`` fields take the executor's :class:`Limits`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    files: dict[str, bytes | str] = Field(default_factory=dict, description="written into the work dir first")
    timeout_s: float | None = Field(None, gt=0, le=3600)
    memory_mb: int | None = Field(None, ge=16)
    output_limit_bytes: int | None = Field(None, ge=256)

    @field_validator("files")
    @classmethod
    def _relative_names(cls, files: dict[str, bytes | str]) -> dict[str, bytes | str]:
        for name in files:
            parts = name.split("/")
            if not name or name.startswith("/") or ".." in parts or "\0" in name:
                raise ValueError(f"job file names must be relative paths without '..': {name!r}")
        return files

    def resolved(self, limits: Limits) -> Job:
        """Copy with every ``None`` limit filled from ``limits``."""
        return self.model_copy(
            update={
                "timeout_s": float(self.timeout_s if self.timeout_s is not None else limits.timeout_s),
                "memory_mb": self.memory_mb if self.memory_mb is not None else limits.memory_mb,
                "output_limit_bytes": (
                    self.output_limit_bytes if self.output_limit_bytes is not None else limits.output_limit_bytes
                ),
            }
        )

    def wire(self, limits: Limits, session: str | None = None) -> dict:
        """The JSON frame the server expects (limits flattened, files base64)."""
        job = self.resolved(limits)
        files = {
            name: base64.b64encode(data.encode() if isinstance(data, str) else data).decode("ascii")
            for name, data in job.files.items()
        }
        return {
            "code": job.code,
            "files": files,
            "timeout_s": job.timeout_s,
            "session": session,
            "limits": wire_limits(limits, job),
        }


def wire_limits(limits: Limits, job: Job) -> dict:
    return {
        "memory_mb": job.memory_mb,
        "cpu_s": float(int(job.timeout_s) + 1),
        "session_cpu_s": limits.session_cpu_s,
        "max_file_mb": limits.max_file_mb,
        "max_open_files": limits.max_open_files,
        "max_processes": limits.max_processes,
        "output_limit_bytes": job.output_limit_bytes,
        "output_kill_bytes": max(limits.output_kill_bytes, job.output_limit_bytes),
        "value_limit": job.output_limit_bytes,
    }


class ExecResult(BaseModel):
    """What one job did.  ``stdout``/``stderr`` carry a marker line where cut."""

    model_config = ConfigDict(extra="forbid")

    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    value: str | None = Field(None, description="repr() of the trailing expression, like a REPL; None if none")
    error: str | None = Field(None, description="'ExcType: message' of an uncaught exception or of the kill")
    exit_code: int | None = Field(None, description="exit status; -N when killed by signal N")
    killed_by: KilledBy | None = None
    duration_s: float = 0.0
    session_reset: bool = Field(
        False, description="session mode: the interpreter was (re)created, earlier variables are gone"
    )
    backend: str = ""

    @property
    def ok(self) -> bool:
        """Ran to the end without an exception or a kill."""
        return self.exit_code == 0 and self.killed_by is None

    @classmethod
    def from_wire(cls, frame: Mapping, backend: str) -> ExecResult:
        fields = {k: frame[k] for k in cls.model_fields if k in frame and k != "backend"}
        return cls(backend=backend, **fields)


DEFAULT_PRELOAD: tuple[str, ...] = (
    "math", "cmath", "fractions", "decimal", "itertools", "functools", "collections",
    "statistics", "random", "re", "json", "heapq", "bisect", "string", "numbers", "operator",
    "numpy", "numpy.random", "numpy.linalg", "numpy.fft", "numpy.polynomial", "sympy",
    # sympy loads these lazily on first use; importing them up front keeps the
    # first job that solves, integrates, parses or prints LaTeX fast.
    "sympy.parsing.sympy_parser", "sympy.parsing.latex", "sympy.solvers.diophantine",
    "sympy.solvers.inequalities", "sympy.solvers.ode", "sympy.integrals.manualintegrate",
    "sympy.integrals.risch", "sympy.integrals.meijerint", "sympy.series.limits",
    "sympy.ntheory.factor_", "sympy.polys.polyroots", "sympy.simplify.fu",
    "sympy.printing.latex", "sympy.printing.str", "sympy.printing.pretty",
    "sympy.matrices", "sympy.combinatorics", "sympy.stats", "sympy.geometry",
    "sympy.logic.boolalg", "sympy.sets", "sympy.concrete.summations", "sympy.functions.combinatorial.numbers",
    # the answer checkers of lemmaflow.tools (optional; skipped when absent)
    "math_verify", "latex2sympy2_extended",
)

#: Executed once in the server after the preload: touches the code paths (and
#: caches) that the first real job would otherwise warm up.
DEFAULT_WARMUP = """
import sympy as sp
x, y = sp.symbols("x y")
sp.solve(x**2 - 2, x); sp.factor(x**4 - 1); sp.simplify(sp.sin(x)**2 + sp.cos(x)**2)
sp.integrate(x * sp.exp(x), x); sp.limit(sp.sin(x) / x, x, 0); sp.series(sp.exp(x), x, 0, 4)
sp.Matrix([[1, 2], [3, 4]]).det(); sp.factorint(360); sp.isprime(97); sp.nsimplify(0.5)
sp.latex(sp.Rational(1, 3) + x); sp.sympify("x**2 + 1"); sp.N(sp.pi, 20); sp.Sum(x, (x, 1, 10)).doit()
sp.solve([x + y - 3, x - y - 1], [x, y]); sp.binomial(10, 3); sp.Poly(x**2 + 1, x).all_coeffs()
"""


def _default_pool_size() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class SandboxConfig(BaseModel):
    """Settings common to the pooled backends (fork-server, bwrap, docker)."""

    model_config = ConfigDict(extra="forbid")

    limits: Limits = Field(default_factory=Limits)
    pool_size: int = Field(default_factory=_default_pool_size, ge=1, le=256, description="warm servers")
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    warmup: str | None = DEFAULT_WARMUP
    python: str | None = Field(None, description="interpreter for the server; default: this one")
    start_timeout_s: float = Field(120.0, gt=0)
    uid_base: int = Field(1_000_000, ge=1000, description="native mode: a job runs as uid_base + its pid")
    max_sessions_per_server: int = Field(64, ge=1)
    spares: int = Field(2, ge=0, le=8, description="confined job processes each server keeps forked in advance")
    huge_pages: bool = Field(
        True, description="back the warm server's preloaded heap with transparent huge pages (MADV_COLLAPSE, "
        "Linux >= 6.1; a no-op elsewhere): fork and exit of each job walk ~50x fewer page-table entries",
    )
    server_memory_mb: int | None = Field(
        None, ge=64, description="cgroup memory ceiling of one server with all its jobs (native/bwrap as root); "
        "default memory_mb + 1024"
    )

    def server_cgroup_limits(self) -> tuple[int, int]:
        """(memory MiB, pids) of the per-server cgroup."""
        mem = self.server_memory_mb or self.limits.memory_mb + 1024
        pids = self.limits.max_processes + self.max_sessions_per_server + self.spares + 64
        return mem, pids
    reply_grace_s: float = Field(15.0, gt=0, description="extra wait past a job's timeout before the server counts as hung")


@runtime_checkable
class SessionLike(Protocol):
    """What :meth:`Executor.session` returns (:class:`~.session.Session` for the pooled backends).

    Declared here, beside the data it carries, so that this module imports no
    other module of the package: ``base`` <- ``session`` <- ``pool`` <- backends.
    """

    id: str

    def run(self, job: Job | str) -> ExecResult: ...

    async def arun(self, job: Job | str) -> ExecResult: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...

    def __enter__(self) -> SessionLike: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Executor(Protocol):
    """What the runtime needs from a sandbox; see :func:`lemmaflow.sandboxes.make_executor`.

    >>> from lemmaflow.sandboxes import make_executor
    >>> with make_executor("forkserver", pool_size=1) as ex:   # doctest: +SKIP
    ...     ex.run("print(1 + 1)").stdout
    '2\\n'
    """

    kind: str

    def start(self) -> None: ...

    def run(self, job: Job | str) -> ExecResult: ...

    async def arun(self, job: Job | str) -> ExecResult: ...

    def session(self) -> SessionLike: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...
