"""Fixtures: one warm executor per backend for the whole session.

Backends are never skipped silently: a backend that cannot start is a test
*error* carrying the SandboxUnavailable message (what to install).  To leave
a backend out on purpose, list the wanted ones:
``LEMMAFLOW_SANDBOX_BACKENDS=forkserver,bwrap pytest tests/sandboxes``.

The docker tests start a private ``dockerd`` (own data root under
``~/.cache/lemmaflow/dockerd``, own socket, no bridge/iptables) unless
``LEMMAFLOW_DOCKER_HOST`` points at a running daemon; the sandbox image is
imported once per data root and reused by later runs.

Each backend gets its own uid range, so the host-side checks below can count
"processes of this backend's jobs" from ``/proc`` without confusing backends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from lemmaflow.sandboxes import Limits, make_executor
from lemmaflow.sandboxes._uids import BLOCK

ALL_BACKENDS = ("forkserver", "bwrap", "docker", "subprocess")
UID_BASE = {"forkserver": 2_000_000, "bwrap": 3_100_000, "docker": 4_200_000, "subprocess": 5_300_000}
UID_SPAN = 8192 * BLOCK

TEST_LIMITS = Limits(timeout_s=10, memory_mb=512, output_limit_bytes=4000, output_kill_bytes=1 << 20,
                     max_processes=16)


def selected_backends() -> list[str]:
    raw = os.environ.get("LEMMAFLOW_SANDBOX_BACKENDS", "").strip()
    if not raw:
        return list(ALL_BACKENDS)
    wanted = [b.strip() for b in raw.split(",") if b.strip()]
    unknown = set(wanted) - set(ALL_BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown backends in LEMMAFLOW_SANDBOX_BACKENDS: {sorted(unknown)}")
    return wanted


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pooled: runs on the backends that keep warm servers (not subprocess)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        kinds = selected_backends()
        if metafunc.definition.get_closest_marker("pooled"):
            kinds = [k for k in kinds if k != "subprocess"]
        metafunc.parametrize("backend", kinds, indirect=True)


@pytest.fixture(scope="session")
def docker_url() -> Iterator[str]:
    url = os.environ.get("LEMMAFLOW_DOCKER_HOST")
    if url:
        yield url
        return
    from lemmaflow.sandboxes.docker_backend import PrivateDockerd

    with PrivateDockerd() as daemon:
        yield daemon.url


_executors: dict[str, object] = {}


@pytest.fixture(scope="session")
def _executor_registry(request: pytest.FixtureRequest) -> Iterator[dict]:
    yield _executors
    for ex in _executors.values():
        ex.close()
    _executors.clear()


@pytest.fixture
def backend(request: pytest.FixtureRequest, _executor_registry: dict) -> str:
    return request.param


@pytest.fixture
def executor(backend: str, _executor_registry: dict, request: pytest.FixtureRequest):
    """The warm executor of ``backend`` (created on first use, shared by all tests)."""
    ex = _executor_registry.get(backend)
    if ex is None:
        kwargs: dict = {"limits": TEST_LIMITS, "uid_base": UID_BASE[backend]}
        if backend in ("forkserver", "bwrap", "docker"):
            kwargs["pool_size"] = 2
        if backend == "docker":
            kwargs["base_url"] = request.getfixturevalue("docker_url")
            kwargs["container_memory_mb"] = 1536
        ex = make_executor(backend, **kwargs)
        ex.start()
        _executor_registry[backend] = ex
    return ex


# ----------------------------------------------------------- host-side checks
def _uid_of(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _state(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def sandbox_processes(backend: str) -> list[int]:
    """Live (non-zombie) host processes running as one of ``backend``'s uids."""
    lo, hi = UID_BASE[backend], UID_BASE[backend] + UID_SPAN
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            uid = _uid_of(name)
            if uid is not None and lo <= uid < hi and _state(name) not in ("Z", "X"):
                out.append(int(name))
    return out


def settle(backend: str, executor, timeout: float = 5.0) -> int:
    """Process count once the servers are idle again (spares refilled)."""
    for h in getattr(executor, "_pool", None).handles() if getattr(executor, "_pool", None) else []:
        h.request({"op": "ping"}, 10)  # a ping is answered after the previous chores
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = len(sandbox_processes(backend))
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since > 0.3:
            return n
        time.sleep(0.05)
    return last


def wait_for_count_at_most(backend: str, bound: int, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    procs = sandbox_processes(backend)
    while len(procs) > bound and time.monotonic() < deadline:
        time.sleep(0.05)
        procs = sandbox_processes(backend)
    return procs


def assert_serving(executor) -> None:
    """The sandbox must still work after an attack."""
    r = executor.run("print(1+1)")
    assert r.stdout == "2\n" and r.ok, r
