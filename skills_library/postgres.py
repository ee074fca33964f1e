"""PostgreSQL backend (psycopg 3): for many concurrent workers on one library.

Install with ``pip install 'lemmaflow[library]'``. Full text is a generated ``tsvector`` column
(name weighted A, statement and docstring B, source D; the ``simple`` configuration, since code
and math should not be stemmed) under a GIN index, ranked with ``ts_rank``. Vectors are
stored as ``bytea`` (float32) and searched by the same in-memory index as SQLite
(``vector_index.py``: exact when small, faiss IVF when large, cached in ``$LEMMAFLOW_CACHE``). Every write is one transaction; the UNIQUE ``content_hash`` constraint
makes concurrent adds of the same content collapse into one row.

Example::

    from lemmaflow.skills_library import open_store
    store = open_store("postgresql://postgres@127.0.0.1:5432/lemmaflow")
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from .embedding import Embedder
from .migrations import migrate
from .store import DEFAULT_NEAR_THRESHOLD, SkillStore, query_words

__all__ = ["PostgresStore", "tsquery"]

_MIGRATION_LOCK = 0x6C656D6D61  # pg_advisory_xact_lock key: "lemma"


def tsquery(text: str) -> str:
    """Any user text as a safe ``to_tsquery`` argument: every word quoted, OR'ed."""
    words = query_words(text)
    return " | ".join(f"'{w}'" for w in words)


class PostgresStore(SkillStore):
    dialect = "postgresql"

    def __init__(self, url: str, embedder: Embedder | None = None, *,
                 near_threshold: float = DEFAULT_NEAR_THRESHOLD, connect_timeout_s: int = 10, **index_options):
        self._connect_timeout_s = connect_timeout_s
        self._depth = 0
        super().__init__(url, embedder, near_threshold, **index_options)

    def _connect(self) -> None:
        try:
            import psycopg
        except ImportError as e:
            raise ImportError("the PostgreSQL library backend needs psycopg 3: pip install 'lemmaflow[library]'") from e
        try:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout_s)
        except psycopg.OperationalError as e:
            raise ConnectionError(f"cannot connect to the library database {_redact(self.url)}: {e}") from e

    def _migrate(self) -> None:
        def begin():
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

        with self._lock:
            migrate("postgresql", begin=begin, execute=self._exec,
                    commit=lambda: self._conn.execute("COMMIT"),
                    rollback=lambda: self._conn.execute("ROLLBACK"))

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            cur = self._conn.execute(sql.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []

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
            self._depth = 1
            try:
                with self._conn.transaction():
                    yield
            finally:
                self._depth = 0

    #: rows matching any query word that the keyword step ranks at most (see ``_keyword``)
    keyword_candidates = 2000

    def _keyword(self, query: str, k: int, where: str, params: list) -> list[int]:
        q = tsquery(query)
        if not q:
            return []
        q_all = q.replace(" | ", " & ")
        # One round trip, GIN index use, bounded ranking work. Ranking every row the query matches
        # (OR of its words) fetches and ranks ~10k rows at a million entries. Instead rank (1) every
        # row matching ALL the words (few, and the best ones) and (2) the first
        # ``keyword_candidates`` rows the GIN bitmap scan yields for ANY word; with fewer matches
        # than that, (2) is every match and the ranking is exact. The tsqueries are inline
        # constants (not a joined row) so the planner uses the GIN index on tsv; ts_rank (term
        # frequencies and weights) instead of ts_rank_cd (walks position pairs): half the cost.
        rows = self._exec(
            "WITH a AS (SELECT e.id, ts_rank(e.tsv, to_tsquery('simple', ?)) AS r FROM entries e "
            f"WHERE e.tsv @@ to_tsquery('simple', ?) AND {where} ORDER BY r DESC, e.id LIMIT ?), "
            "o AS MATERIALIZED (SELECT e.id, e.tsv FROM entries e "
            f"WHERE e.tsv @@ to_tsquery('simple', ?) AND {where} LIMIT ?) "
            "SELECT id FROM (SELECT id, r, 1 AS all_words FROM a UNION ALL "
            "SELECT id, ts_rank(tsv, to_tsquery('simple', ?)), 0 FROM o WHERE id NOT IN (SELECT id FROM a)) u "
            "ORDER BY all_words DESC, r DESC, id LIMIT ?",
            (q, q_all, *params, k, q, *params, max(self.keyword_candidates, k), q, k),
        )
        return [r[0] for r in rows]

    def integrity_check(self) -> list[str]:
        problems = [f"entry {r[0]} has no embedding" for r in
                    self._exec("SELECT id FROM entries WHERE embedding IS NULL")]
        dup = self._exec("SELECT content_hash FROM entries GROUP BY content_hash HAVING COUNT(*) > 1")
        problems += [f"duplicate content hash {r[0]}" for r in dup]
        problems += [f"entry {r[0]}: full-text vector missing" for r in
                     self._exec("SELECT id FROM entries WHERE tsv IS NULL")]
        return problems

    def close(self) -> None:
        with self._lock:
            if getattr(self, "_conn", None) is not None:
                self.flush_index()
                self._conn.close()
                self._conn = None


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
