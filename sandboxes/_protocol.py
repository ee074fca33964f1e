"""Length-prefixed JSON frames: the only wire format between host, server and job.

This module is shipped as *source* into every sandbox (see ``_bootstrap``), so it
imports nothing outside the standard library.  JSON rather than pickle on
purpose: the host never unpickles anything that a sandboxed process could have
written.

Example::

    >>> import os
    >>> r, w = os.pipe()
    >>> write_frame(w, {"op": "ping"})
    >>> read_frame(r)
    {'op': 'ping'}
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

__all__ = ["MAX_FRAME", "FrameError", "FrameReader", "encode_frame", "read_frame", "write_frame"]

#: Refuse frames above this size: a job that scribbles on its result fd must not
#: make the server allocate gigabytes.
MAX_FRAME = 256 << 20
_HDR = struct.Struct(">I")


class FrameError(Exception):
    """Malformed or oversized frame."""


def encode_frame(obj: object) -> bytes:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    if len(data) > MAX_FRAME:
        raise FrameError(f"frame of {len(data)} bytes exceeds {MAX_FRAME}")
    return _HDR.pack(len(data)) + data


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_frame(fd: int, obj: object) -> None:
    write_all(fd, encode_frame(obj))


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no frame before the deadline")
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> object:
    """Block until one whole frame arrives (``deadline`` is a ``time.monotonic`` value)."""
    (size,) = _HDR.unpack(_read_exact(fd, 4, deadline))
    if size > MAX_FRAME:
        raise FrameError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    try:
        return json.loads(_read_exact(fd, size, deadline))
    except ValueError as exc:
        raise FrameError(f"undecodable frame: {exc}") from None


class FrameReader:
    """Incremental decoder for a non-blocking fd: ``feed`` bytes, get whole frames."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list[object]:
        self._buf += data
        out = []
        while len(self._buf) >= 4:
            (size,) = _HDR.unpack_from(self._buf)
            if size > self._max:
                raise FrameError(f"frame of {size} bytes exceeds {self._max}")
            if len(self._buf) < 4 + size:
                break
            raw = bytes(self._buf[4 : 4 + size])
            del self._buf[: 4 + size]
            try:
                out.append(json.loads(raw))
            except ValueError as exc:
                raise FrameError(f"undecodable frame: {exc}") from None
        return out
