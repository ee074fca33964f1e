"""Persistent skill library: verified lemmas and sandbox-tested tools, with their reuse.

One small repository API (:class:`SkillStore`) over two backends: SQLite (one WAL file, the
embedded default) and PostgreSQL (many concurrent workers; ``pip install 'lemmaflow[library]'``).
Entries are deduplicated exactly (normalized content hash, UNIQUE in the schema) and nearly
(embedding similarity, then a caller's confirmation); retrieval fuses full-text and embedding
rankings; every retrieval, display and successful use can be recorded for reuse stats.
Nodes get the store explicitly as ``RunContext.store``.

Example::

    from lemmaflow.skills_library import Entry, open_store
    from lemmaflow.skills_library.embedding import HashingEmbedder

    store = open_store("runs/lib.db", embedder=HashingEmbedder())   # or "postgresql://user@host/db"
    r = store.add(Entry(kind="lemma", name="add_comm", language="coq",
                        statement="forall n m : nat, n + m = m + n",
                        source="Lemma add_comm : forall n m : nat, n + m = m + n. Proof. lia. Qed.",
                        status="verified"))
    print(r.outcome, r.id)                    # added 1; a second run: duplicate 1
    hits = store.search("commutativity of addition on nat", k=3, kind="lemma", status="verified")
    print([(h.entry.name, h.keyword_rank, h.vector_rank) for h in hits])
    store.close()
"""

from __future__ import annotations

from pathlib import Path

from .embedding import Embedder, HashingEmbedder, MiniLMEmbedder, make_embedder
from .migrations import SchemaTooNewError
from .models import (
    AddOutcome, AddResult, Entry, EntryKind, EntryStatus, Event, EventKind, Language, LibraryStats, NearMatch,
    Provenance, SearchHit,
)
from .normalize import content_hash, normalize_source
from .store import DEFAULT_NEAR_THRESHOLD, ConfirmFn, EmbedderMismatchError, SkillStore, StoreError

__all__ = [
    "AddOutcome", "AddResult", "ConfirmFn", "DEFAULT_NEAR_THRESHOLD", "Embedder", "EmbedderMismatchError", "Entry",
    "EntryKind", "EntryStatus", "Event", "EventKind", "HashingEmbedder", "Language", "LibraryStats",
    "MiniLMEmbedder", "NearMatch", "Provenance", "SchemaTooNewError", "SearchHit", "SkillStore", "StoreError",
    "content_hash", "make_embedder", "normalize_source", "open_store",
]


def open_store(url: str | Path, embedder: Embedder | None = None, **options) -> SkillStore:
    """Open (creating and migrating as needed) the library at ``url``.

    - ``sqlite:///relative/path.db``, ``sqlite:////abs/path.db`` or a plain file path: SQLite.
    - ``postgresql://user:pw@host:port/db`` (or ``postgres://``): PostgreSQL via psycopg 3.

    ``embedder``: the first opener of a new library chooses it (default: MiniLM when installed,
    else hashing) and the library remembers it; later openers may omit it.
    """
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(text, embedder, **options)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]
    elif "://" in text:
        raise ValueError(f"unsupported library URL {text!r}: use a file path, sqlite:///path.db or postgresql://...")
    from .sqlite import SQLiteStore

    return SQLiteStore(text, embedder, **options)
