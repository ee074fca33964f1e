"""Real Coq for the prover tests: one warm pool for the module, real miniF2F data."""

from __future__ import annotations

import pytest

from lemmaflow.tools.provers.coq import CoqProver


@pytest.fixture(scope="module")
def coq():
    with CoqProver(pool_size=2, timeout_s=60.0) as prover:
        yield prover
