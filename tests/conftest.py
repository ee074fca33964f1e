"""Shared fixtures. Test files mirror the package layout (tests/agents, tests/tools, ...)."""

from __future__ import annotations

import pytest

from lemmaflow.tools.answers import AnswerChecker


@pytest.fixture(scope="session")
def checker():
    with AnswerChecker() as c:
        yield c
