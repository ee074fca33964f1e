"""Shared fixtures. Test files mirror the package layout (tests/agents, tests/tools, ...).

Benchmark data: the one place the tests name where it lives. Beside our own checkout,
``../shared/data`` is a byte-identical offline copy of every registered dataset; the
session reads it through ``LEMMAFLOW_DATA`` (hashes still verified), so no test
downloads anything. Without that folder (a clone elsewhere), datasets are fetched
into the user cache on first use like for any user. An explicit ``LEMMAFLOW_DATA``
is kept. Subprocesses (the CLI, examples) inherit the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not os.environ.get("LEMMAFLOW_DATA") and _SHARED_DATA.is_dir():
    os.environ["LEMMAFLOW_DATA"] = str(_SHARED_DATA)

from lemmaflow.tools.answers import AnswerChecker  # noqa: E402 - after the data location is set


@pytest.fixture(scope="session")
def checker():
    with AnswerChecker() as c:
        yield c


@pytest.fixture(scope="session")
def pg_server():
    """One real local PostgreSQL server for the session (Debian ``postgresql``; scripts/setup.sh installs
    it); tests make their own databases with ``pg_server.create_database(name)``. Skipped only when no
    server binaries or no psycopg exist, saying which."""
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed: pip install 'lemmaflow[library]'")
    from lemmaflow.skills_library.pgserver import LocalPostgres, PostgresUnavailable

    try:
        server = LocalPostgres().start()
    except PostgresUnavailable as e:
        pytest.skip(f"no local PostgreSQL server: {e}")
    yield server
    server.stop()
