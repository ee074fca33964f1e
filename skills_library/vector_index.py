"""The vector index: exact (flat) inner-product search over an in-memory normalized matrix.

Vectors live in the database (float32 bytes); each store keeps a cached copy as one
contiguous float32 matrix plus small code arrays for the filter columns (kind, language,
status). A query is one matrix-vector product, a filter mask and ``argpartition`` — exact
cosine top-k, like FAISS's ``IndexFlatIP``, with no recall loss and no index to rebuild.

The cache follows the database through a ``generation`` counter that every write bumps in
its transaction and stamps on the rows it touches (``seq``): a refresh loads only rows with
``seq`` above the cached generation; a removal bumps ``removals`` and forces a full reload.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FlatIndex", "KINDS", "LANGUAGES", "STATUSES"]

KINDS = ("lemma", "tool")
LANGUAGES = ("coq", "lean4", "python")
STATUSES = ("pending", "verified", "failed", "demoted", "requested")
_CODES = {"kind": {k: i for i, k in enumerate(KINDS)}, "language": {k: i for i, k in enumerate(LANGUAGES)},
          "status": {k: i for i, k in enumerate(STATUSES)}}


class FlatIndex:
    """Exact top-k by inner product over L2-normalized rows; rows upserted by id."""

    def __init__(self, dim: int):
        self.dim = dim
        self.n = 0
        self._cap = 0
        self.ids = np.zeros(0, dtype=np.int64)
        self.mat = np.zeros((0, dim), dtype=np.float32)
        self.codes = {c: np.zeros(0, dtype=np.int8) for c in _CODES}
        self.pos: dict[int, int] = {}

    def _grow(self, need: int) -> None:
        if need <= self._cap:
            return
        cap = max(need, 2 * self._cap, 1024)
        mat = np.zeros((cap, self.dim), dtype=np.float32)
        mat[: self.n] = self.mat[: self.n]
        ids = np.zeros(cap, dtype=np.int64)
        ids[: self.n] = self.ids[: self.n]
        for c, arr in self.codes.items():
            new = np.full(cap, -1, dtype=np.int8)
            new[: self.n] = arr[: self.n]
            self.codes[c] = new
        self.mat, self.ids, self._cap = mat, ids, cap

    def upsert(self, rows: list[tuple[int, str, str, str, np.ndarray | None]]) -> None:
        """rows: (id, kind, language, status, vector or None). A row without a vector is dropped."""
        self._grow(self.n + len(rows))
        for id_, kind, language, status, vec in rows:
            i = self.pos.get(id_)
            if vec is None:
                if i is not None:  # text changed and lost its vector: hide it from vector search
                    self.codes["kind"][i] = -1
                continue
            if i is None:
                i = self.n
                self.n += 1
                self.pos[id_] = i
                self.ids[i] = id_
            self.mat[i] = vec
            self.codes["kind"][i] = _CODES["kind"][kind]
            self.codes["language"][i] = _CODES["language"][language]
            self.codes["status"][i] = _CODES["status"][status]

    def search(self, q: np.ndarray, k: int, *, kind=None, language=None, status=None,
               exclude: set[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (id, cosine) for a normalized query, best first, after the filters."""
        if self.n == 0 or k <= 0:
            return []
        scores = self.mat[: self.n] @ q.astype(np.float32)
        mask = self.codes["kind"][: self.n] >= 0
        for col, want in (("kind", kind), ("language", language), ("status", status)):
            if want is None:
                continue
            wanted = [want] if isinstance(want, str) else list(want)
            codes = [_CODES[col][w] for w in wanted]
            mask &= np.isin(self.codes[col][: self.n], codes)
        if exclude:
            mask &= ~np.isin(self.ids[: self.n], list(exclude))
        if not mask.all():
            scores = np.where(mask, scores, -np.inf)
        k = min(k, int(mask.sum()))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top]
