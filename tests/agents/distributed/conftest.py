"""One local Ray cluster for every Ray test of this folder (startup costs seconds): 2 CPUs, small object store.

Subprocess drivers (the CLI, a driver killed with SIGKILL) join it at ``ray_cluster["address"]``;
``ray.init`` sets ``RAY_AUTH_MODE=token`` in this process's environment, which they inherit (a driver
needs it to join a cluster with token authentication, Ray's default).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'lemmaflow[ray]'")
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False,
                   logging_level="WARNING")
    yield {"address": ctx.address_info["gcs_address"], "ray": ray}
    ray.shutdown()
