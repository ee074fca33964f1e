"""Back the warm server's heap with transparent huge pages before it forks jobs.

Shipped as source into the sandbox server (stdlib only).

Why: every one-shot job is a ``fork`` of the warm server (~70-100 MB of
preloaded sympy/numpy objects).  ``fork`` copies one page-table entry per
present 4 KiB page and the job's exit tears them down again; on a 2-core
machine these two page-table walks were most of a job's CPU (more than the job
itself).  A 2 MiB huge page is *one* entry in both walks.  So once the preload
is done, the server asks the kernel (``madvise(MADV_COLLAPSE)``, Linux >= 6.1)
to rebuild the densely populated, 2 MiB-aligned parts of its private anonymous
memory as huge pages.

What it does not change: a job that writes to a shared huge page gets the
huge mapping split in *its own* page table and a private copy of the 4 KiB it
touched (Linux >= 5.8), exactly as before; the server's mapping stays intact.
Nothing is marked ``MADV_HUGEPAGE``, so a job's own new memory is never faulted
in as (zeroed, possibly compacted) huge pages unless the machine's THP setting
is ``always`` anyway.  Sparse areas (a BLAS buffer that is reserved but never
touched) are skipped, so the server's memory grows only by the few holes
inside chunks that are at least ``min_fill`` populated.

Where the kernel or the C library cannot do it, it does nothing and says why.

Example::

    >>> stats = collapse_heap()                       # doctest: +SKIP
    >>> stats["collapsed_mb"] > 0 or stats["error"]   # doctest: +SKIP
    True
"""

from __future__ import annotations

import ctypes
import errno
import os

__all__ = ["collapse_heap", "dense_chunks"]

MADV_COLLAPSE = 25  # Linux 6.1
HUGE = 2 << 20
PAGE = 4096


def _anon_ranges(maps_text: str) -> list[tuple[int, int]]:
    """2 MiB-aligned (start, end) inside each private, writable, anonymous mapping."""
    out = []
    for line in maps_text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[1] != "rw-p":
            continue
        path = parts[5] if len(parts) > 5 else ""
        if path not in ("", "[heap]"):  # file-backed (.data of a library), stack, vdso: leave alone
            continue
        a, b = (int(x, 16) for x in parts[0].split("-"))
        s, e = (a + HUGE - 1) & ~(HUGE - 1), b & ~(HUGE - 1)
        if e > s:
            out.append((s, e))
    return out


def dense_chunks(ranges: list[tuple[int, int]], resident, min_fill: float) -> list[tuple[int, int]]:
    """Merge the 2 MiB chunks of ``ranges`` whose share of resident pages is at least ``min_fill``.

    ``resident(start, length)`` returns one byte per page, bit 0 set where the
    page is present (``mincore``).
    """
    per_chunk = HUGE // PAGE
    need = int(per_chunk * min_fill)
    out: list[tuple[int, int]] = []
    for s, e in ranges:
        vec = resident(s, e - s)
        for k, c in enumerate(range(s, e, HUGE)):
            present = sum(b & 1 for b in vec[k * per_chunk : (k + 1) * per_chunk])
            if present < need:
                continue
            if out and out[-1][1] == c:
                out[-1] = (out[-1][0], c + HUGE)
            else:
                out.append((c, c + HUGE))
    return out


def collapse_heap(min_fill: float = 0.875) -> dict:
    """Collapse the dense parts of this process's anonymous memory into huge pages.

    Returns ``{"collapsed_mb", "candidate_mb", "error"}``; never raises.
    """
    stats: dict = {"collapsed_mb": 0, "candidate_mb": 0, "error": None}
    if os.sysconf("SC_PAGE_SIZE") != PAGE:  # e.g. 64 KiB pages: huge pages are not 2 MiB there
        stats["error"] = "only for 4 KiB base pages"
        return stats
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        madvise.restype = ctypes.c_int
        mincore = libc.mincore
        mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
        mincore.restype = ctypes.c_int

        def resident(start: int, length: int) -> bytes:
            vec = ctypes.create_string_buffer(length // PAGE)
            if mincore(start, length, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return vec.raw

        with open("/proc/self/maps") as f:
            ranges = _anon_ranges(f.read())
        chunks = dense_chunks(ranges, resident, min_fill)
    except (OSError, AttributeError, ValueError) as exc:
        stats["error"] = f"{type(exc).__name__}: {exc}"
        return stats
    stats["candidate_mb"] = sum(e - s for s, e in chunks) >> 20
    failed: set[int] = set()
    for s, e in chunks:
        if madvise(s, e - s, MADV_COLLAPSE) == 0:
            stats["collapsed_mb"] += (e - s) >> 20
            continue
        err = ctypes.get_errno()
        failed.add(err)
        if err in (errno.EAGAIN, errno.ENOMEM):
            # No free huge page for some chunk: the call stops at the first
            # failure, so give the others of this range their own chance.
            for c in range(s, e, HUGE):
                if madvise(c, HUGE, MADV_COLLAPSE) == 0:
                    stats["collapsed_mb"] += HUGE >> 20
    if failed:
        if failed == {errno.EINVAL} and stats["collapsed_mb"] == 0:
            stats["error"] = "MADV_COLLAPSE not supported here (needs Linux >= 6.1 with transparent huge pages)"
        else:
            names = sorted(errno.errorcode.get(x, str(x)) for x in failed)
            stats["error"] = "some chunks not collapsed: " + ", ".join(names)
    return stats
