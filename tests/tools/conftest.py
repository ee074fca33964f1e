"""Shared fixtures for the lemmaflow.tools tests.

One session-wide :class:`AnswerChecker` keeps the math-verify worker (and its
parse cache) warm across tests; tests that need a fresh or special checker
build their own. The real benchmark data must be present: a missing data
folder is an error, not a skip.
"""

from __future__ import annotations

import pytest

from lemmaflow.tools.answers import AnswerChecker
from lemmaflow.tools.datasets import Problem, load_gsm8k, load_math500


@pytest.fixture(scope="session")
def checker():
    with AnswerChecker(timeout_s=20.0) as c:
        yield c


@pytest.fixture(scope="session")
def gsm8k() -> list[Problem]:
    return load_gsm8k()


@pytest.fixture(scope="session")
def math500() -> list[Problem]:
    return load_math500()
