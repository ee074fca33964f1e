"""Hand out blocks of unused uids to sandbox servers, across processes.

Every server gets its own block of ``BLOCK`` uids, held by an ``flock`` on a
lock file for as long as the server lives (the kernel drops the lock if the
host process dies, so nothing leaks).  Why it matters: ``RLIMIT_NPROC`` and
the right to signal or ptrace are per *uid*; two sandboxes sharing a uid could
starve or signal each other.

Example::

    >>> blk = UidBlock.acquire(base=1_000_000)     # doctest: +SKIP
    >>> blk.first, blk.count                       # doctest: +SKIP
    (1000000, 128)
    >>> blk.release()                              # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import os
import tempfile

__all__ = ["BLOCK", "UidBlock"]

BLOCK = 128
_MAX_BLOCKS = 8192


def _lock_dir() -> str:
    for d in ("/run/lemmaflow-uids", os.path.join(tempfile.gettempdir(), f"lemmaflow-uids-{os.geteuid()}")):
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise OSError("no writable directory for uid lock files")


class UidBlock:
    def __init__(self, first: int, count: int, fd: int | None) -> None:
        self.first, self.count, self._fd = first, count, fd

    @classmethod
    def acquire(cls, base: int, count: int = BLOCK) -> UidBlock:
        d = _lock_dir()
        start = os.getpid() % _MAX_BLOCKS  # spread concurrent processes out
        for i in range(_MAX_BLOCKS):
            k = (start + i) % _MAX_BLOCKS
            fd = os.open(os.path.join(d, f"block-{base}-{k}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return cls(base + k * count, count, fd)
        raise OSError("all sandbox uid blocks are in use")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
