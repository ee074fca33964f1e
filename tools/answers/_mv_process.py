r"""Parent-side handle of one math-verify worker process (see ``_mv_worker.py``).

:class:`WorkerProcess` starts ``python _mv_worker.py`` with pipes, waits for its
``ready`` line, and offers ``send`` / ``recv(timeout)`` / ``kill``. A reader
thread moves stdout lines into a queue, which gives a receive-with-timeout that
works from any thread and on any OS. The process is killed by ``kill()``, when
the handle is garbage-collected, or at interpreter exit (``weakref.finalize``).

Example::

    >>> from lemmaflow.tools.answers._mv_process import WorkerProcess
    >>> w = WorkerProcess(startup_timeout_s=60, memory_mb=None)
    >>> w.send({"op": "job", "mode": "pairs", "items": ["\\sqrt{4}", "2"], "pairs": [[0, 1]]})
    >>> while "done" not in (msg := w.recv(10)):  # progress lines first
    ...     pass
    >>> msg
    {'done': [True]}
    >>> w.kill()
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from typing import IO

__all__ = ["WorkerProcess"]

_WORKER_SCRIPT = Path(__file__).with_name("_mv_worker.py")
_EOF = object()


def _kill(proc: subprocess.Popen, stderr: IO[bytes]) -> None:
    # Module-level so weakref.finalize does not keep the worker object alive.
    try:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        pass
    for stream in (proc.stdin, proc.stdout, stderr):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


def _pump(stream: IO[bytes], out: queue.Queue) -> None:
    # Reader thread: a queue gives the parent a portable recv-with-timeout.
    try:
        for line in stream:
            out.put(line)
    except (OSError, ValueError):
        pass
    out.put(_EOF)


class WorkerProcess:
    """One math-verify child process plus the thread that reads its stdout."""

    def __init__(self, startup_timeout_s: float, memory_mb: int | None) -> None:
        env = dict(os.environ)
        # The child must find math-verify where the parent found it.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, str(_WORKER_SCRIPT), str(memory_mb or 0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
        )
        self._finalizer = weakref.finalize(self, _kill, self.proc, self._stderr)
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, self._queue), daemon=True).start()
        msg = self.recv(startup_timeout_s)
        if msg is None or "ready" not in msg:
            detail = self._stderr_tail()
            self.kill()
            raise RuntimeError(f"math-verify worker failed to start (got {msg!r}); stderr:\n{detail}")

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace")[-2000:]
        except (OSError, ValueError):
            return "<unavailable>"

    def send(self, msg: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode("utf-8"))
        self.proc.stdin.flush()

    def recv(self, timeout_s: float) -> dict | None:
        """Next message; ``None`` if the worker died. Raises ``queue.Empty`` on timeout."""
        item = self._queue.get(timeout=timeout_s)
        return None if item is _EOF else json.loads(item)

    def kill(self) -> None:
        self._finalizer()
