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
        self._prepared_kw: dict[str, bytes] = {}  # keyword SQL -> name of its prepared statement
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

    def _keyword_sql(self, query: str, k: int, where: str, params: list) -> tuple[str, tuple] | None:
        q = tsquery(query)
        if not q:
            return None
        q_all = q.replace(" | ", " & ")
        # One round trip, GIN index use, bounded ranking work. Ranking every row the query matches
        # (OR of its words) fetches and ranks ~10k rows at a million entries. Instead rank (1) every
        # row matching ALL the words (few, and the best ones) and (2) the first
        # ``keyword_candidates`` rows the GIN bitmap scan yields for ANY word; with fewer matches
        # than that, (2) is every match and the ranking is exact. The tsqueries are inline
        # constants (not a joined row) so the planner uses the GIN index on tsv; ts_rank (term
        # frequencies and weights) instead of ts_rank_cd (walks position pairs): half the cost.
        # (2) ranks each row as the scan yields it (no materialized copy of the tsvectors) and drops
        # the rows of (1) with an anti-join: 2.1 ms in the server at 100k entries instead of 2.5 ms.
        # Each tsquery is a scalar subquery (an InitPlan: computed once, then a parameter the GIN
        # index scan uses). The statement is prepared (by psycopg after 5 runs, or by the overlapped
        # path at once), and PostgreSQL then may use a generic plan: with a bare
        # ``to_tsquery('simple', $1)`` that plan calls to_tsquery again for every row it ranks and
        # rechecks (8.6 ms instead of 2.1 ms at 100k); with the subquery it is as good as a custom
        # plan and skips the planning (0.4-0.6 ms per query).
        tq = "(SELECT to_tsquery('simple', ?))"
        sql = (f"WITH a AS (SELECT e.id, ts_rank(e.tsv, {tq}) AS r FROM entries e "
               f"WHERE e.tsv @@ {tq} AND {where} ORDER BY r DESC, e.id LIMIT ?), "
               f"o AS (SELECT e.id, ts_rank(e.tsv, {tq}) AS r FROM entries e "
               f"WHERE e.tsv @@ {tq} AND {where} LIMIT ?) "
               "SELECT id FROM (SELECT id, r, 1 AS all_words FROM a UNION ALL "
               "SELECT id, r, 0 FROM o WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.id = o.id)) u "
               "ORDER BY all_words DESC, r DESC, id LIMIT ?")
        return sql, (q, q_all, *params, k, q, q, *params, max(self.keyword_candidates, k), k)

    def _keyword(self, query: str, k: int, where: str, params: list) -> list[int]:
        got = self._keyword_sql(query, k, where, params)
        return [r[0] for r in self._exec(*got)] if got else []

    def _state_sql(self, sql: str) -> str:
        # the keyword ids (as one text value) and the vector index state, in one statement
        return (f"SELECT array_to_string(ARRAY({sql}), ','), (SELECT value FROM meta WHERE key = 'generation'), "
                "(SELECT value FROM meta WHERE key = 'removals')")

    def _keyword_with_state(self, query: str, k: int, where: str, params: list
                            ) -> tuple[list[int], tuple[int, int]]:
        # the ranked ids and the vector index state in one statement: one round trip, one snapshot
        got = self._keyword_sql(query, k, where, params)
        if got is None:
            return [], self._index_state()
        row = self._exec(self._state_sql(got[0]), got[1])[0]
        return _ids(row[0]), (int(row[1] or 0), int(row[2] or 0))

    #: distinct keyword statements (one per filter combination) kept prepared on the connection
    _MAX_PREPARED = 64

    def _hybrid_overlapped(self, query, qv, n, where, params, filters):
        """Send the keyword statement, run the vector step while the server works on it, then read
        the answer: one round trip, no extra thread (a worker thread's wake-ups cost more than they
        save on a loaded machine). Uses libpq's asynchronous calls on psycopg's connection, under
        the connection lock, and leaves the connection idle whatever happens."""
        from psycopg import errors, pq

        got = self._keyword_sql(query, n, where, params)
        if got is None:
            return super()._hybrid_overlapped(query, qv, n, where, params, filters)
        sql, args = got
        values = [str(a).encode() for a in args]
        with self._lock:
            pgconn = self._conn.pgconn
            name = self._prepared_kw.get(sql)
            if name is None and len(self._prepared_kw) < self._MAX_PREPARED:
                name = f"lemmaflow_kw_{len(self._prepared_kw)}".encode()
                # the parameter types the normal path would infer: text, bigint for the LIMITs
                types = [20 if isinstance(a, int) else 25 for a in args]
                pgconn.send_prepare(name, _numbered(self._state_sql(sql)).encode(), types)
                res = _drain(pgconn)
                if res.status != pq.ExecStatus.COMMAND_OK:
                    raise errors.error_from_result(res, encoding=self._conn.info.encoding)
                self._prepared_kw[sql] = name
            if name is not None:
                pgconn.send_query_prepared(name, values)
            else:
                pgconn.send_query_params(_numbered(self._state_sql(sql)).encode(), values)
            try:
                with self._index_lock:
                    index = self._index
                    seen = (self._index_gen, self._index_removals)
                    vec = index.search(qv, n, **filters)
            finally:
                res = _drain(pgconn)  # always: the connection must be idle again
            if res.status != pq.ExecStatus.TUPLES_OK:
                raise errors.error_from_result(res, encoding=self._conn.info.encoding)
            kw = _ids(res.get_value(0, 0))
            state = (int(res.get_value(0, 1) or 0), int(res.get_value(0, 2) or 0))
            if state != seen:  # rare: a write since the last refresh
                with self._index_lock:
                    vec = self._refresh_index().search(qv, n, **filters)
        return kw, vec

    def integrity_check(self) -> list[str]:
        problems = [f"entry {r[0]} has no embedding" for r in
                    self._exec("SELECT id FROM entries WHERE embedding IS NULL")]
        dup = self._exec("SELECT content_hash FROM entries GROUP BY content_hash HAVING COUNT(*) > 1")
        problems += [f"duplicate content hash {r[0]}" for r in dup]
        problems += [f"entry {r[0]}: full-text vector missing" for r in
                     self._exec("SELECT id FROM entries WHERE tsv IS NULL")]
        return problems

    def close(self) -> None:
        self._close_worker()  # first: its last keyword query may still hold the connection
        with self._lock:
            if getattr(self, "_conn", None) is not None:
                self.flush_index()
                self._conn.close()
                self._conn = None


def _ids(text) -> list[int]:
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode()
    return [int(x) for x in text.split(",")] if text else []


def _numbered(sql: str) -> str:
    """``?`` placeholders as libpq's ``$1, $2, ...`` (our SQL has no ``?`` anywhere else)."""
    parts = sql.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1))


def _drain(pgconn):
    """The first result of the statement in flight; reads on to the end so the connection is idle."""
    first = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    return first


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
