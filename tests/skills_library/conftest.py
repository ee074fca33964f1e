"""Both backends for every store test: SQLite in a tmp file, PostgreSQL on a real local server.

The PostgreSQL server (``pg_server`` in tests/conftest.py) starts once
per session with its own data dir, socket dir and free port; each test gets a fresh database.
PostgreSQL tests are skipped only when no server binaries or no psycopg exist, saying which.
"""

from __future__ import annotations

import itertools

import pytest

from lemmaflow.skills_library import HashingEmbedder, open_store

_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def store_url(backend, request, tmp_path):
    """A fresh, empty library URL on the parametrized backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'lib.db'}"
    pg = request.getfixturevalue("pg_server")
    return pg.create_database(f"t{next(_counter)}")


@pytest.fixture(params=["flat", "ivf"])
def store(store_url, request, tmp_path, monkeypatch):
    """A store with the exact flat vector index, and one whose faiss IVF index takes over from the
    first row (``ann_min_entries=1``): every store test runs through both index kinds."""
    if request.param == "ivf":
        pytest.importorskip("faiss")
        monkeypatch.setenv("LEMMAFLOW_CACHE", str(tmp_path / "cache"))  # the PostgreSQL index file
        s = open_store(store_url, embedder=HashingEmbedder(), ann_min_entries=1)
    else:
        s = open_store(store_url, embedder=HashingEmbedder())
    yield s
    if request.param == "ivf" and s._index is not None and len(s._index):
        from lemmaflow.skills_library.vector_index import IVFIndex

        assert isinstance(s._index, IVFIndex), "the ivf variant must search through the IVF index"
    s.close()
