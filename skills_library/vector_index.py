"""The vector indexes: exact (flat) search for small libraries, faiss IVF for large ones.

Both take the same calls (``upsert``, ``remove``, ``search`` with the store's filters, ``ids``,
``len``); the store picks one by size (:func:`choose`): below ``ann_min_entries`` rows the flat
index is exact and fast enough (one matrix-vector product), above it :class:`IVFIndex` scans a few
inverted lists instead of every row and is persisted beside the store.


Vectors live in the database (float32 bytes); each store keeps a cached copy as one
contiguous float32 matrix plus small code arrays for the filter columns (kind, language,
status). A query is one matrix-vector product, a filter mask and ``argpartition`` — exact
cosine top-k, like FAISS's ``IndexFlatIP``, with no recall loss and no index to rebuild.

The cache follows the database through a ``generation`` counter that every write bumps in
its transaction and stamps on the rows it touches (``seq``): a refresh loads only rows with
``seq`` above the cached generation; a removal bumps ``removals`` and forces a full reload.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["ANN_MIN_ENTRIES", "DEFAULT_RECALL_TARGET", "FlatIndex", "IVFIndex", "IndexFileError", "KINDS", "LANGUAGES",
           "STATUSES"]

# Below this many vectors the exact flat index answers in a few ms (20k x 384 floats = 30 MB per
# query pass); above it the IVF index is faster and its build (k-means, seconds) pays off.
ANN_MIN_ENTRIES = 20_000
#: recall@10 against exact search that the IVF index's nprobe is tuned to reach (see IVFIndex.tune)
DEFAULT_RECALL_TARGET = 0.95
TUNE_QUERIES = 200  # rows used as queries when tuning
TUNE_MIN_NPROBE = 8

KINDS = ("lemma", "tool")
LANGUAGES = ("coq", "lean4", "python")
STATUSES = ("pending", "verified", "failed", "demoted", "requested")
_CODES = {"kind": {k: i for i, k in enumerate(KINDS)}, "language": {k: i for i, k in enumerate(LANGUAGES)},
          "status": {k: i for i, k in enumerate(STATUSES)}}


class FlatIndex:
    """Exact top-k by inner product over L2-normalized rows; rows upserted by id."""

    kind = "flat"

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

    def __len__(self) -> int:
        return int(np.count_nonzero(self.codes["kind"][: self.n] >= 0))

    def live_ids(self) -> np.ndarray:
        return self.ids[: self.n][self.codes["kind"][: self.n] >= 0].copy()

    @property
    def scan_rows(self) -> int:
        """Rows an unfiltered query reads (every one)."""
        return self.n

    def rows(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(ids, vectors, codes) of the live rows (to build an IVF index from); views when all rows
        are live (no copy of a 1.5 GB matrix at a million rows)."""
        live = self.codes["kind"][: self.n] >= 0
        if live.all():
            return self.ids[: self.n], self.mat[: self.n], {c: arr[: self.n] for c, arr in self.codes.items()}
        return (self.ids[: self.n][live], self.mat[: self.n][live],
                {c: arr[: self.n][live] for c, arr in self.codes.items()})

    def remove(self, ids) -> int:
        """Hide rows by entry id; compacts the matrix once a quarter of it is dead."""
        hit = 0
        for id_ in ids:
            i = self.pos.get(int(id_))
            if i is not None and self.codes["kind"][i] >= 0:
                self.codes["kind"][i] = -1
                hit += 1
        if hit and len(self) < 0.75 * self.n:
            ids_, mat, codes = self.rows()
            self.n, self.pos = len(ids_), {int(i): j for j, i in enumerate(ids_)}
            self.ids[: self.n], self.mat[: self.n] = ids_, mat
            for c in self.codes:
                self.codes[c][: self.n] = codes[c]
        return hit

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


# --- approximate index (faiss IVF) ----------------------------------------------------------------

_MAGIC = b"LFIVF001"


def _faiss():
    try:
        import faiss
    except ImportError as e:  # the flat index still works; only big libraries need faiss
        raise ImportError("a skill library this large uses the faiss ANN index: pip install 'lemmaflow[library]' "
                          "(faiss-cpu)") from e
    return faiss


class IndexFileError(RuntimeError):
    """An index file that cannot be trusted (corrupt, truncated, another format or library)."""


class IVFIndex:
    """Approximate top-k by inner product: faiss ``IndexIVFFlat`` over entry ids, with filters.

    Rows are clustered into ``nlist`` ≈ 2·√n inverted lists (k-means on a sample); a query scans
    the ``nprobe`` nearest lists, tuned at build (:meth:`tune`) to reach a recall target against
    exact search — all of them (an exact search) when fewer do not reach it. Vectors are stored
    exactly (no quantization), so the only loss is a true neighbour in an unprobed list. Adds,
    changes and removals are applied in place (a changed row is removed and re-added; a removed id
    leaves no tombstone); the centroids go stale as the library drifts, so :attr:`needs_retrain` asks for a full rebuild once the rows changed
    since training exceed the trained count (``retrain_fraction``).

    Filters (kind, language, status, excluded ids) become a bitmap over entry ids handed to faiss
    as an ``IDSelectorBitmap``. A filter keeping a fraction ``f`` of the rows scans ``nprobe / f``
    lists (the same expected number of eligible rows as an unfiltered query); once that reaches
    half the lists, the query scans all of them, which is an exact search over the filtered subset.
    """

    kind = "ivf"

    def __init__(self, dim: int, nlist: int, *, nprobe: int = 32, retrain_fraction: float = 1.0):
        faiss = _faiss()
        self.dim, self.nlist, self.nprobe, self.retrain_fraction = dim, max(1, nlist), nprobe, retrain_fraction
        self.recall_target: float | None = None  # what :meth:`tune` aimed at (None: not tuned)
        self.tuned_recall: float | None = None  # what it measured at the chosen nprobe
        self._quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFFlat(self._quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        self.index.set_direct_map_type(faiss.DirectMap.Hashtable)  # O(1) remove/reconstruct by id
        self.codes = {c: np.full(0, -1, dtype=np.int8) for c in _CODES}  # by entry id; -1: absent
        self.trained_n = 0
        self.changed = 0  # rows added, changed or removed since training

    # sizes -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.index.ntotal)

    @staticmethod
    def nlist_for(n: int) -> int:
        return max(1, min(n, max(16, int(2 * np.sqrt(max(n, 1))))))

    @property
    def needs_retrain(self) -> bool:
        return self.changed > self.retrain_fraction * max(self.trained_n, 1)

    def live_ids(self) -> np.ndarray:
        return np.nonzero(self.codes["kind"] >= 0)[0].astype(np.int64)

    def _grow(self, max_id: int) -> None:
        cap = len(self.codes["kind"])
        if max_id < cap:
            return
        new_cap = max(max_id + 1, 2 * cap, 1024)
        for c, arr in self.codes.items():
            new = np.full(new_cap, -1, dtype=np.int8)
            new[:cap] = arr
            self.codes[c] = new

    # building ------------------------------------------------------------------------------------
    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vecs: np.ndarray, codes: dict[str, np.ndarray], *,
              nprobe: int = 32, seed: int = 1234, recall_target: float | None = DEFAULT_RECALL_TARGET
              ) -> "IVFIndex":
        """Train the lists on a sample of ``vecs`` (30 rows per list) and add every row; then, unless
        ``recall_target`` is None (``nprobe`` used as given), :meth:`tune` ``nprobe`` on the rows."""
        faiss = _faiss()
        n = len(ids)
        self = cls(dim, cls.nlist_for(n), nprobe=nprobe)
        rng = np.random.default_rng(seed)
        sample = vecs if n <= 30 * self.nlist else vecs[np.sort(rng.choice(n, 30 * self.nlist, replace=False))]
        km = faiss.Kmeans(dim, self.nlist, niter=10, spherical=True, seed=seed, max_points_per_centroid=30,
                          min_points_per_centroid=1)
        km.train(np.ascontiguousarray(sample, dtype=np.float32))
        self._quantizer.add(km.centroids)
        self.index.is_trained = True
        self._add(ids, vecs, codes)
        self.trained_n, self.changed = n, 0
        if recall_target is not None:
            self.tune(ids, vecs, recall_target, seed=seed)
        return self

    def tune(self, ids: np.ndarray, vecs: np.ndarray, recall_target: float = DEFAULT_RECALL_TARGET, *,
             sample: int = TUNE_QUERIES, seed: int = 1234) -> float:
        """Set ``nprobe`` to the smallest of 8, 16, 32, ... whose recall@10 against exact search
        reaches ``recall_target``, measured on ``sample`` of the indexed rows used as queries (each
        query's own row left out of both answers, so it stands for a new entry like the stored ones).

        Scanning half the lists or more costs about as much as scanning all of them, so when no
        smaller nprobe reaches the target the index scans every list: an exact search (faiss's
        kernels over the uncompressed lists; at 100k random 384-d rows 10 ms against 29 ms for the numpy
        flat index), and :attr:`exact` is set. Returns the recall at the chosen nprobe.
        Cost: ``sample`` exact queries over all rows (a few seconds at a million rows)."""
        n, k = len(ids), 10
        self.recall_target = recall_target
        if n <= k + 1:
            self.nprobe, self.tuned_recall = self.nlist, 1.0
            return 1.0
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(n, min(sample, n), replace=False))
        queries = np.ascontiguousarray(vecs[pick], dtype=np.float32)
        exact = _exact_top(queries, vecs, k + 1)  # row positions, best first
        ids = np.asarray(ids, dtype=np.int64)
        own = ids[pick].tolist()
        want = [set([i for i in ids[row].tolist() if i != me][:k]) for row, me in zip(exact, own)]
        faiss = _faiss()
        nprobe = min(TUNE_MIN_NPROBE, self.nlist)
        while True:
            _, got = self.index.search(queries, k + 1, params=faiss.SearchParametersIVF(nprobe=nprobe))
            recall = float(np.mean([len((set(g.tolist()) - {me, -1}) & w) / max(1, len(w))
                                    for g, w, me in zip(got, want, own)]))
            if recall >= recall_target:
                break
            if 2 * (2 * nprobe) >= self.nlist:  # the next step would scan half the lists: scan them all
                nprobe, recall = self.nlist, 1.0
                break
            nprobe *= 2
        self.nprobe, self.tuned_recall = nprobe, recall
        return recall

    @property
    def scan_rows(self) -> int:
        """Rows an unfiltered query reads, about: the probed fraction of the lists."""
        return int(len(self) * min(self.nprobe, self.nlist) / max(self.nlist, 1))

    @property
    def exact(self) -> bool:
        """Every list is scanned: the answers are exact."""
        return self.nprobe >= self.nlist

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(ids, vectors, codes) of every row, read back from the inverted lists (for a retrain)."""
        faiss = _faiss()
        inv = self.index.invlists
        ids_out, vec_out = [], []
        for lst in range(self.nlist):
            m = inv.list_size(lst)
            if m == 0:
                continue
            ids_out.append(faiss.rev_swig_ptr(inv.get_ids(lst), m).copy())
            vec_out.append(faiss.rev_swig_ptr(inv.get_codes(lst), m * self.dim * 4).view(np.float32)
                           .reshape(m, self.dim).copy())
        ids = np.concatenate(ids_out) if ids_out else np.zeros(0, np.int64)
        vecs = np.concatenate(vec_out) if vec_out else np.zeros((0, self.dim), np.float32)
        return ids, vecs, {c: arr[ids] for c, arr in self.codes.items()}

    def retrained(self) -> "IVFIndex":
        ids, vecs, codes = self.all_vectors()
        return IVFIndex.build(self.dim, ids, vecs, codes, nprobe=self.nprobe,
                              recall_target=self.recall_target or DEFAULT_RECALL_TARGET)

    # updates -------------------------------------------------------------------------------------
    def _add(self, ids: np.ndarray, vecs: np.ndarray, codes: dict[str, np.ndarray]) -> None:
        if len(ids) == 0:
            return
        ids = np.asarray(ids, dtype=np.int64)
        self._grow(int(ids.max()))
        self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids)
        for c in _CODES:
            self.codes[c][ids] = codes[c]

    def remove(self, ids) -> int:
        """Drop rows by entry id (unknown ids are ignored); returns how many were there."""
        faiss = _faiss()
        ids = np.asarray([i for i in ids if 0 <= i < len(self.codes["kind"]) and self.codes["kind"][i] >= 0],
                         dtype=np.int64)
        if len(ids) == 0:
            return 0
        removed = self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))
        for c in _CODES:
            self.codes[c][ids] = -1
        self.changed += len(ids)
        return int(removed)

    def upsert(self, rows: list[tuple[int, str, str, str, np.ndarray | None]]) -> None:
        """Same contract as :meth:`FlatIndex.upsert`: a changed row is replaced, a row without a vector dropped."""
        self.remove([r[0] for r in rows])
        keep = [r for r in rows if r[4] is not None]
        if not keep:
            return
        ids = np.array([r[0] for r in keep], dtype=np.int64)
        vecs = np.stack([r[4] for r in keep]).astype(np.float32)
        codes = {c: np.array([_CODES[c][r[j]] for r in keep], dtype=np.int8)
                 for j, c in ((1, "kind"), (2, "language"), (3, "status"))}
        self._add(ids, vecs, codes)
        self.changed += len(keep)

    # search --------------------------------------------------------------------------------------
    def search(self, q: np.ndarray, k: int, *, kind=None, language=None, status=None,
               exclude: set[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (id, cosine) for a normalized query, best first, after the filters."""
        faiss = _faiss()
        n = len(self)
        if n == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1)
        mask = _filter_mask(self.codes, kind, language, status)
        if exclude:
            if mask is None:
                mask = self.codes["kind"] >= 0
            ex = np.fromiter((i for i in exclude if 0 <= i < len(mask)), dtype=np.int64)
            mask[ex] = False
        if mask is None:
            params = faiss.SearchParametersIVF(nprobe=min(self.nprobe, self.nlist))
            sel = bitmap = None
        else:
            kept = int(np.count_nonzero(mask))
            if kept == 0:
                return []
            frac = kept / n
            nprobe = int(np.ceil(self.nprobe / frac))
            nprobe = self.nlist if nprobe * 2 >= self.nlist else nprobe  # very selective: exact over the subset
            bitmap = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
            params = faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)
        dist, ids = self.index.search(q, min(k, n), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], dist[0]) if i >= 0]

    # persistence ---------------------------------------------------------------------------------
    def save(self, path: Path, meta: dict) -> None:
        """Write atomically (temp file, fsync, rename): a crash leaves the old file or the new one."""
        faiss = _faiss()
        blob = faiss.serialize_index(self.index)
        codes = np.stack([self.codes[c] for c in _CODES]) if len(self.codes["kind"]) else np.zeros((3, 0), np.int8)
        header = dict(meta, dim=self.dim, nlist=self.nlist, nprobe=self.nprobe, trained_n=self.trained_n,
                      recall_target=self.recall_target, tuned_recall=self.tuned_recall,
                      changed=self.changed, ntotal=len(self), index_bytes=int(blob.nbytes),
                      codes_len=int(codes.shape[1]))
        crc = zlib.crc32(blob)
        crc = zlib.crc32(codes.tobytes(), crc)
        header["crc32"] = crc
        hb = json.dumps(header).encode()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(_MAGIC + struct.pack("<Q", len(hb)) + hb)
                f.write(memoryview(blob))
                f.write(codes.tobytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> tuple["IVFIndex", dict]:
        """Read a file written by :meth:`save`; :class:`IndexFileError` if it is not intact."""
        faiss = _faiss()
        try:
            with open(path, "rb") as f:
                if f.read(8) != _MAGIC:
                    raise IndexFileError(f"{path}: not a lemmaflow index file")
                (hlen,) = struct.unpack("<Q", f.read(8))
                if hlen > 1 << 20:
                    raise IndexFileError(f"{path}: bad header")
                header = json.loads(f.read(hlen))
                blob = np.frombuffer(f.read(header["index_bytes"]), dtype=np.uint8)
                codes = np.frombuffer(f.read(3 * header["codes_len"]), dtype=np.int8)
                if f.read(1):
                    raise IndexFileError(f"{path}: trailing bytes")
        except (OSError, ValueError, KeyError, struct.error) as e:
            raise IndexFileError(f"{path}: unreadable ({e})") from e
        if len(blob) != header["index_bytes"] or len(codes) != 3 * header["codes_len"]:
            raise IndexFileError(f"{path}: truncated")
        if zlib.crc32(codes.tobytes(), zlib.crc32(blob)) != header["crc32"]:
            raise IndexFileError(f"{path}: checksum mismatch")
        try:
            index = faiss.deserialize_index(blob)
        except RuntimeError as e:
            raise IndexFileError(f"{path}: {e}") from e
        self = cls.__new__(cls)
        self.dim, self.nlist, self.nprobe = header["dim"], header["nlist"], header["nprobe"]
        self.retrain_fraction = 1.0
        self.recall_target, self.tuned_recall = header.get("recall_target"), header.get("tuned_recall")
        self.index = index  # read_index already returns the concrete IndexIVFFlat
        self._quantizer = self.index.quantizer
        if int(self.index.ntotal) != header["ntotal"] or self.index.d != self.dim:
            raise IndexFileError(f"{path}: header and index disagree")
        codes = codes.reshape(3, header["codes_len"])
        self.codes = {c: codes[j].copy() for j, c in enumerate(_CODES)}
        self.trained_n, self.changed = header["trained_n"], header["changed"]
        return self, header


def _exact_top(queries: np.ndarray, vecs: np.ndarray, k: int, chunk: int = 65_536) -> np.ndarray:
    """Row positions of the exact top-k of each query, best first; bounded memory (chunks of rows)."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for lo in range(0, len(vecs), chunk):
        s = queries @ np.asarray(vecs[lo:lo + chunk], dtype=np.float32).T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + lo], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1)


def _filter_mask(codes: dict[str, np.ndarray], kind, language, status) -> np.ndarray | None:
    """Boolean mask over the code arrays for the given filters (None: no filter)."""
    mask = None
    for col, want in (("kind", kind), ("language", language), ("status", status)):
        if want is None:
            continue
        wanted = [want] if isinstance(want, str) else list(want)
        m = np.isin(codes[col], [_CODES[col][w] for w in wanted])
        mask = m if mask is None else mask & m
    return mask
