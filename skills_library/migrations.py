"""Versioned schema migrations for both backends.

Each migration has a number and SQL per dialect. :func:`migrate` applies, in order, every
migration newer than the database's ``schema_version``, each in its own transaction together
with the row that records it, under a lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a
transaction-scoped advisory lock), so concurrent openers apply each migration once. Running it
again is a no-op. A database whose version is newer than this code knows is refused with
:class:`SchemaTooNewError` rather than misread.

Add a migration by appending ``Migration(N+1, "what", sqlite=[...], postgresql=[...])``; never
edit an applied one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal

__all__ = ["MIGRATIONS", "Migration", "SchemaTooNewError", "SCHEMA_VERSION", "migrate"]

Dialect = Literal["sqlite", "postgresql"]


class SchemaTooNewError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: list[str] = field(default_factory=list)
    postgresql: list[str] = field(default_factory=list)


_ENTRY_COLUMNS = """
    kind TEXT NOT NULL CHECK (kind IN ('lemma', 'tool')),
    name TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('coq', 'lean4', 'python')),
    source TEXT NOT NULL DEFAULT '',
    statement TEXT NOT NULL DEFAULT '',
    docstring TEXT NOT NULL DEFAULT '',
    tests TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'failed', 'demoted', 'requested')),
    evidence TEXT NOT NULL DEFAULT '',
    failure_count INTEGER NOT NULL DEFAULT 0,
    problem_id TEXT,
    run_id TEXT,
    model TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL DEFAULT '{}',
    embedder TEXT,
    seq BIGINT NOT NULL DEFAULT 0
"""

_EVENT_COLUMNS = """
    event TEXT NOT NULL,
    entry_id BIGINT,
    run_id TEXT,
    problem_id TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
"""

_COMMON_INDEXES = [
    "CREATE INDEX IF NOT EXISTS entries_filter ON entries (kind, language, status)",
    "CREATE INDEX IF NOT EXISTS entries_seq ON entries (seq)",
    "CREATE INDEX IF NOT EXISTS entries_name ON entries (name)",
    "CREATE INDEX IF NOT EXISTS events_entry ON events (entry_id, event)",
    "CREATE INDEX IF NOT EXISTS events_problem ON events (run_id, problem_id)",
]

MIGRATIONS: list[Migration] = [
    Migration(
        1, "entries, events, meta; full-text index",
        sqlite=[
            f"CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY AUTOINCREMENT, {_ENTRY_COLUMNS}, embedding BLOB)",
            f"CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, {_EVENT_COLUMNS})",
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            *_COMMON_INDEXES,
            # External-content FTS5 index over the text columns, kept in sync by triggers inside the
            # writing transaction (so a crash never leaves entry and index out of step).
            "CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5("
            "name, statement, docstring, source, content='entries', content_rowid='id')",
            "CREATE TRIGGER IF NOT EXISTS entries_ai AFTER INSERT ON entries BEGIN "
            "INSERT INTO entries_fts(rowid, name, statement, docstring, source) "
            "VALUES (new.id, new.name, new.statement, new.docstring, new.source); END",
            "CREATE TRIGGER IF NOT EXISTS entries_ad AFTER DELETE ON entries BEGIN "
            "INSERT INTO entries_fts(entries_fts, rowid, name, statement, docstring, source) "
            "VALUES ('delete', old.id, old.name, old.statement, old.docstring, old.source); END",
            "CREATE TRIGGER IF NOT EXISTS entries_au AFTER UPDATE OF name, statement, docstring, source ON entries BEGIN "
            "INSERT INTO entries_fts(entries_fts, rowid, name, statement, docstring, source) "
            "VALUES ('delete', old.id, old.name, old.statement, old.docstring, old.source); "
            "INSERT INTO entries_fts(rowid, name, statement, docstring, source) "
            "VALUES (new.id, new.name, new.statement, new.docstring, new.source); END",
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0')",
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('removals', '0')",
        ],
        postgresql=[
            f"CREATE TABLE IF NOT EXISTS entries (id BIGSERIAL PRIMARY KEY, {_ENTRY_COLUMNS}, embedding BYTEA, "
            "tsv tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', statement), 'B') || "
            "setweight(to_tsvector('simple', docstring), 'B') || setweight(to_tsvector('simple', source), 'D')"
            ") STORED)",
            f"CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, {_EVENT_COLUMNS})",
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            *_COMMON_INDEXES,
            "CREATE INDEX IF NOT EXISTS entries_tsv ON entries USING GIN (tsv)",
            "INSERT INTO meta (key, value) VALUES ('generation', '0') ON CONFLICT DO NOTHING",
            "INSERT INTO meta (key, value) VALUES ('removals', '0') ON CONFLICT DO NOTHING",
        ],
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(
    dialect: Dialect,
    begin: Callable[[], object],
    execute: Callable[[str, tuple], list],
    commit: Callable[[], None],
    rollback: Callable[[], None],
    migrations: list[Migration] | None = None,
) -> int:
    """Bring the schema up to date; returns the version now applied.

    ``begin`` opens a write transaction holding the migration lock; ``execute(sql, params)``
    runs one statement (``?`` placeholders) and returns fetched rows.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    while True:
        begin()
        try:
            execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                    "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)", ())
            rows = execute("SELECT MAX(version) FROM schema_version", ())
            current = rows[0][0] or 0
            if current > latest:
                raise SchemaTooNewError(
                    f"the library database has schema version {current}, newer than this lemmaflow "
                    f"supports ({latest}); upgrade lemmaflow rather than open it with older code"
                )
            todo = [m for m in migrations if m.version > current]
            if not todo:
                commit()
                return current
            m = todo[0]
            for sql in getattr(m, dialect):
                execute(sql, ())
            execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    (m.version, m.description, time.time()))
            commit()
        except BaseException:
            rollback()
            raise
