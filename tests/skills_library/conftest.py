"""Both backends for every store test: SQLite in a tmp file, PostgreSQL on a real local server.

The PostgreSQL server (Debian ``postgresql``; scripts/setup.sh installs it as root) starts once
per session with its own data dir, socket dir and free port; each test gets a fresh database.
PostgreSQL tests are skipped only when no server binaries or no psycopg exist, saying which.
"""

from __future__ import annotations

import itertools

import pytest

from lemmaflow.skills_library import HashingEmbedder, open_store

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg 3 is not installed: pip install 'lemmaflow[library]'")
    from lemmaflow.skills_library.pgserver import LocalPostgres, PostgresUnavailable

    try:
        server = LocalPostgres().start()
    except PostgresUnavailable as e:
        pytest.skip(f"no local PostgreSQL server: {e}")
    yield server
    server.stop()


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


@pytest.fixture
def store(store_url):
    s = open_store(store_url, embedder=HashingEmbedder())
    yield s
    s.close()
