"""A compact set of hex-digest keys (about 8 bytes each): resume indexes, duplicate checks of streamed inputs.

Shared by the batch runners (result keys) and the streamed problem readers (problem ids, hashed first
with :func:`text_key`), so that a 100k-problem run holds kilobytes, not megabytes, per index.
"""

from __future__ import annotations

import hashlib
import heapq
from array import array
from bisect import bisect_left
from typing import Iterable

__all__ = ["KeySet", "text_key"]


def text_key(text: str) -> str:
    """A 64-bit hex digest of any text (an id), for a :class:`KeySet` (whose keys must differ in 16 hex digits)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


class KeySet:
    """A set of result keys (hex digests) at about 8 bytes per key.

    The resume index and the duplicate check of a streamed run hold one entry
    per problem; a ``set`` of key strings costs ~100 bytes each (10 MB at 100k
    problems), this a sorted ``array('Q')`` of 64-bit prefixes plus a small set
    of recent ones (at most 1/32 of the sorted ones: a Python int in a set costs ~80 bytes, so the set
    adds ~2.5 bytes per key), merged when full (about 32 element copies per add). Two keys
    sharing a 64-bit prefix (p ~ n^2 / 2^65) would make one look done.

    Example::

        ks = KeySet()
        ks.add("0123456789abcdef01234567")
        assert "0123456789abcdef01234567" in ks and len(ks) == 1
    """

    def __init__(self, keys: Iterable[str] = ()):
        self._sorted = array("Q")
        self._recent: set[int] = set()
        for k in keys:
            self.add(k)

    @staticmethod
    def _h(key: str) -> int:
        try:
            return int(key[:16], 16)
        except ValueError:  # not a hex digest (hand-made rows): hash its text
            return int(text_key(key), 16)

    def __contains__(self, key: str) -> bool:
        h = self._h(key)
        if h in self._recent:
            return True
        i = bisect_left(self._sorted, h)
        return i < len(self._sorted) and self._sorted[i] == h

    def add(self, key: str) -> None:
        if key in self:
            return
        self._recent.add(self._h(key))
        if len(self._recent) >= max(1024, len(self._sorted) // 32):
            self._sorted = array("Q", heapq.merge(self._sorted, sorted(self._recent)))
            self._recent = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)
