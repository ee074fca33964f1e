"""Session mode: one persistent interpreter per problem (ToRA-style rounds).

A :class:`Session` pins itself to one server of the pool; the server keeps a
forked, confined interpreter for it whose globals survive between
:meth:`Session.run` calls.  Same limits as one-shot jobs (the address-space
cap is fixed by the first cell; CPU is a per-cell budget inside
``Limits.session_cpu_s``).  When a cell times out, blows the output cap or
crashes, the interpreter is killed with its process group and the next cell
gets a fresh one: that result, and any result whose interpreter had to be
recreated (server restarted, session evicted), has ``session_reset=True``.

Example::

    >>> from lemmaflow.sandboxes import make_executor
    >>> with make_executor("forkserver", pool_size=1) as ex:       # doctest: +SKIP
    ...     with ex.session() as s:
    ...         s.run("import sympy as sp; x = sp.Symbol('x')")
    ...         s.run("sp.solve(x**2 - 4, x)").value
    '[-2, 2]'
"""

from __future__ import annotations

import threading
import uuid
from typing import Protocol

from .base import ExecResult, Job, Limits

__all__ = ["Session", "SessionHost"]


class SessionHost(Protocol):
    """What a :class:`Session` needs from its executor (``PooledExecutor`` provides it).

    Declared here so that this module depends on ``base`` only and ``pool``
    depends on it, never the other way round.  ``*_request`` send one cell to
    the server of slot ``pinned`` (any idle one when None) and return
    ``(reply, slot, server generation)``.
    """

    kind: str
    limits: Limits

    def _session_request(self, wire: dict, pinned: int | None) -> tuple[dict, int, int]: ...

    async def _session_arequest(self, wire: dict, pinned: int | None) -> tuple[dict, int, int]: ...

    def _session_close(self, sid: str, pinned: int, generation: int) -> None: ...

    async def _session_aclose(self, sid: str, pinned: int, generation: int) -> None: ...

    async def _in_thread(self, fn, *args): ...

    def close(self) -> None: ...


class Session:
    """Persistent interpreter bound to one executor; cells run in order."""

    def __init__(self, executor: SessionHost, owns_executor: bool = False) -> None:
        self.executor = executor
        self.id = uuid.uuid4().hex
        self.cells = 0
        self._owns = owns_executor
        self._slot: int | None = None
        self._generation: int | None = None
        self._lock = threading.Lock()
        self._closed = False

    def run(self, job: Job | str) -> ExecResult:
        """Run one cell; variables from earlier cells are visible unless reset."""
        if self._closed:
            raise RuntimeError("session is closed")
        job = Job(code=job) if isinstance(job, str) else job
        with self._lock:
            wire = job.wire(self.executor.limits, session=self.id)
            return self._result(*self.executor._session_request(wire, self._slot))

    def _result(self, reply: dict, slot: int, gen: int) -> ExecResult:
        # Same slot but a new server generation: the old interpreter died
        # with the previous server, whatever the new one says.
        lost = self._slot is not None and gen != self._generation
        self._slot, self._generation = slot, gen
        self.cells += 1
        res = ExecResult.from_wire(reply, self.executor.kind)
        if lost:
            res.session_reset = True
        return res

    async def arun(self, job: Job | str) -> ExecResult:
        """``run`` without blocking the event loop (and without a thread hop)."""
        if self._closed:
            raise RuntimeError("session is closed")
        job = Job(code=job) if isinstance(job, str) else job
        arequest = getattr(self.executor, "_session_arequest", None)
        # Cells run in order: a cell already running (from a thread or another
        # task) makes this one wait in a thread rather than on the loop.
        if arequest is None or not self._lock.acquire(blocking=False):
            return await self.executor._in_thread(self.run, job)
        try:
            wire = job.wire(self.executor.limits, session=self.id)
            return self._result(*await arequest(wire, self._slot))
        finally:
            self._lock.release()

    async def aclose(self) -> None:
        """``close`` without blocking the event loop (and without a thread hop)."""
        host_aclose = getattr(self.executor, "_session_aclose", None)
        if self._closed:
            return
        if self._owns or host_aclose is None or not self._lock.acquire(blocking=False):
            return await self.executor._in_thread(self.close)
        try:
            self._closed = True
            if self._slot is not None and self._generation is not None:
                await host_aclose(self.id, self._slot, self._generation)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Kill the interpreter (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            if self._slot is not None and self._generation is not None:
                self.executor._session_close(self.id, self._slot, self._generation)
        if self._owns:
            self.executor.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
