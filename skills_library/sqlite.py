"""SQLite backend: one file, WAL journal, FTS5 full text — the embedded default (stdlib ``sqlite3``).

Writers take the database lock up front (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout``
for each other, so several processes can add at once; readers never block writers (WAL).
Every write is one transaction, so ``kill -9`` leaves either all of it or none of it.
``synchronous=NORMAL`` in WAL mode survives process crashes; pass ``synchronous="FULL"`` to
also survive power loss.

Example::

    from lemmaflow.skills_library.sqlite import SQLiteStore
    from lemmaflow.skills_library.embedding import HashingEmbedder
    store = SQLiteStore("lib.db", embedder=HashingEmbedder())
    print(len(store), store.integrity_check())   # 0 []
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from .embedding import Embedder
from .migrations import migrate
from .store import DEFAULT_NEAR_THRESHOLD, SkillStore, query_words

__all__ = ["SQLiteStore", "fts5_query"]



def fts5_query(text: str) -> str:
    """Any user text as a safe FTS5 query: every word quoted, OR'ed (ranking does the rest)."""
    words = query_words(text)
    return " OR ".join(f'"{w}"' for w in words)


class SQLiteStore(SkillStore):
    dialect = "sqlite"
    # The keyword step on a worker thread (sqlite3 releases the GIL while it steps) can pay when the
    # vector step is long (100k random vectors, every IVF list scanned: hybrid 7.9 ms instead of 9.8
    # in one run, equal in another) but not when it is short (100k clustered, 8 of 632 lists: 2.2 ms
    # instead of 2.0; at 1k on a loaded machine 4 ms instead of 0.8): only for a long vector step.
    overlap_steps = "auto"

    def __init__(self, path: str | Path, embedder: Embedder | None = None, *,
                 near_threshold: float = DEFAULT_NEAR_THRESHOLD, busy_timeout_s: float = 60.0,
                 synchronous: str = "NORMAL", **index_options):
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._synchronous = synchronous.upper()
        self._depth = 0
        super().__init__(f"sqlite:///{self.path}", embedder, near_threshold, **index_options)

    def _connect(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so reads autocommit.
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                     timeout=self._busy_timeout_s)
        self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and str(self.path) != ":memory:":
            raise RuntimeError(f"{self.path}: could not switch to WAL journal mode (got {mode})")
        self._conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._conn.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        with self._lock:
            migrate(
                "sqlite",
                begin=lambda: self._conn.execute("BEGIN IMMEDIATE"),
                execute=self._exec,
                commit=lambda: self._conn.execute("COMMIT"),
                rollback=lambda: self._conn.in_transaction and self._conn.execute("ROLLBACK"),
            )

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            if self._depth:  # nested: part of the outer transaction
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    #: rows matching any query word that the keyword step ranks at most (see ``_keyword``)
    keyword_candidates = 2000

    def _keyword(self, query: str, k: int, where: str, params: list) -> list[int]:
        q = fts5_query(query)
        if not q:
            return []
        # Cost: bm25 is computed for every row the query matches (OR of its words), which at a
        # million entries is ~10k rows per query. When a query matches more than
        # ``keyword_candidates`` rows, rank instead (1) every row matching ALL its words (few,
        # and the best ones), then (2) the newest ``keyword_candidates`` rows matching any word
        # (an FTS5 rowid range). With fewer matches the ranking is exact bm25 over all of them.
        bound = self._exec("SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC "
                           "LIMIT 1 OFFSET ?", (q, max(self.keyword_candidates, k)))
        if not bound:
            return self._ranked(q, k, where, params)
        words = q.split(" OR ")
        first = self._ranked(" AND ".join(words), k, where, params) if len(words) > 1 else []
        rest = self._ranked(q, k, where, params, min_rowid=bound[0][0] + 1)
        seen = set(first)
        return (first + [i for i in rest if i not in seen])[:k]

    def _ranked(self, q: str, k: int, where: str, params: list, min_rowid: int = 0) -> list[int]:
        # bm25 weights per column: name, statement, docstring, source (lower score = better). Ranking
        # inside the FTS5 table with ``ORDER BY rank LIMIT`` (rank bound to the weighted bm25) lets
        # FTS5 keep only the best rows as it scores, and joins just those to ``entries`` for the
        # filters — instead of joining and sorting every match (3x faster at 100k). A filter may
        # reject the best rows, so a filtered query takes 8x the rows and, if that leaves fewer than
        # k, falls back to joining every match.
        filtered = where.strip() != "1 = 1"
        if not filtered:  # no filter: the FTS rowids are the entry ids (triggers keep them in step); no join
            rows = self._exec(
                "SELECT rowid FROM (SELECT rowid, rank FROM entries_fts WHERE entries_fts MATCH ? "
                "AND rank MATCH 'bm25(4.0, 2.0, 2.0, 1.0)' AND rowid >= ? ORDER BY rank LIMIT ?) "
                "ORDER BY rank, rowid", (q, min_rowid, k))
            return [r[0] for r in rows]
        rows = self._exec(
            "SELECT e.id FROM (SELECT rowid, rank FROM entries_fts WHERE entries_fts MATCH ? "
            "AND rank MATCH 'bm25(4.0, 2.0, 2.0, 1.0)' AND rowid >= ? ORDER BY rank LIMIT ?) f "
            f"JOIN entries e ON e.id = f.rowid WHERE {where} ORDER BY f.rank, e.id LIMIT ?",
            (q, min_rowid, 8 * k if filtered else k, *params, k),
        )
        if filtered and len(rows) < k:
            rows = self._exec(
                "SELECT e.id FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid WHERE entries_fts MATCH ? "
                f"AND entries_fts.rowid >= ? AND {where} ORDER BY bm25(entries_fts, 4.0, 2.0, 2.0, 1.0), e.id "
                "LIMIT ?", (q, min_rowid, *params, k))
        return [r[0] for r in rows]

    def _default_index_path(self):
        # beside the database file, so it moves and is deleted with it; none for an in-memory db
        return None if str(self.path) == ":memory:" else Path(f"{self.path}.ivf")

    def integrity_check(self) -> list[str]:
        problems = [r[0] for r in self._exec("PRAGMA integrity_check") if r[0] != "ok"]
        try:
            self._exec("INSERT INTO entries_fts(entries_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as e:
            problems.append(f"full-text index: {e}")
        problems += [f"entry {r[0]} has no embedding" for r in
                     self._exec("SELECT id FROM entries WHERE embedding IS NULL")]
        return problems

    def close(self) -> None:
        self._close_worker()  # first: its last keyword query may still hold the connection
        with self._lock:
            if getattr(self, "_conn", None) is not None:
                self.flush_index()
                self._conn.close()
                self._conn = None
