"""Executor life cycle: unavailable backends, a server dying, per-job bwrap."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from lemmaflow.sandboxes import (
    BwrapExecutor,
    DockerExecutor,
    ForkServerExecutor,
    Job,
    SandboxCrashed,
    SandboxUnavailable,
    make_executor,
)

from .conftest import TEST_LIMITS, UID_BASE, selected_backends


def test_unavailable_backends_say_what_to_install(monkeypatch):
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        BwrapExecutor(bwrap="/nonexistent/bwrap").start()
    with pytest.raises(SandboxUnavailable, match="docker"):
        DockerExecutor(base_url="unix:///nonexistent/docker.sock").start()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxUnavailable, match="kind='bwrap'"):
        ForkServerExecutor().start()


def test_docker_sdk_is_imported_lazily():
    import subprocess
    import sys

    code = "import sys, lemmaflow.sandboxes as s; s.make_executor('forkserver'); print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.skipif("forkserver" not in selected_backends(), reason="forkserver not selected")
def test_dead_server_is_reported_then_replaced():
    with make_executor("forkserver", pool_size=1, limits=TEST_LIMITS, uid_base=UID_BASE["forkserver"] + 4096) as ex:
        s = ex.session()
        s.run("kept = 1")
        pid = ex.server_pids()[0]
        os.kill(pid, signal.SIGKILL)  # kills the server's pid namespace with every job in it
        time.sleep(0.2)
        with pytest.raises(SandboxCrashed):
            ex.run("print(1)")
        r = ex.run("print(1+1)")  # a fresh server
        assert r.stdout == "2\n" and ex.server_pids()[0] != pid
        r = s.run("kept")
        assert r.session_reset and r.error == "NameError: name 'kept' is not defined"
        s.close()


def test_job_failure_is_never_an_exception():
    ex = ForkServerExecutor(pool_size=1)
    # not started: run() starts it; every kind of failure below is a result
    try:
        for code in ("raise KeyboardInterrupt", "import os; os.abort()", "import sys; sys.exit('bye')"):
            r = ex.run(Job(code=code, timeout_s=5))
            assert not r.ok and r.exit_code != 0
    finally:
        ex.close()


@pytest.mark.skipif("bwrap" not in selected_backends(), reason="bwrap not selected")
def test_bwrap_per_job_mode():
    ex = BwrapExecutor(mode="per_job", limits=TEST_LIMITS, uid_base=UID_BASE["bwrap"] + 4096, preload=(), warmup=None)
    with ex:
        r = ex.run("import os\nopen('/tmp/x', 'w')")
        assert r.error and "OSError" in r.error or "PermissionError" in r.error
        r1, r2 = ex.run("import os; os.getpid()"), ex.run("print(1+1)")
        assert r1.ok and r2.stdout == "2\n"
        with ex.session() as s:
            s.run("a = 3")
            assert s.run("a * 2").value == "6"


@pytest.mark.parametrize("kind", [k for k in ("forkserver", "bwrap") if k in selected_backends()])
def test_pipelined_requests_never_run_out_of_uids_or_fds(kind):
    """Requests that keep arriving postpone the server's chores; the uids (a
    block of 128 per server) and fds of finished jobs must still come back."""
    from lemmaflow.sandboxes._protocol import FrameReader, encode_frame, write_all

    with make_executor(kind, pool_size=1, limits=TEST_LIMITS, uid_base=UID_BASE[kind] + 6144,
                       preload=(), warmup=None) as ex:
        ex.run("print(1)")
        handle = ex._pool.handles()[0]
        wire = Job(code="print(7 * 6)").wire(ex.limits)
        n = 300  # more jobs than uids (and 5 fds each: > 1024)
        frames = b"".join(encode_frame({"op": "run", "job": wire, "id": 10_000 + i}) for i in range(n))
        writer = threading.Thread(target=write_all, args=(handle.wfd, frames), daemon=True)
        writer.start()  # (more than a pipe holds: the server reads while we read its replies)
        reader, replies = FrameReader(), []
        deadline = time.monotonic() + 120
        while len(replies) < n and time.monotonic() < deadline:
            data = os.read(handle.rfd, 1 << 16)
            assert data, f"server died after {len(replies)} replies: {handle.log_tail()}"
            replies += reader.feed(data)
        writer.join(10)
        assert [r["id"] for r in replies] == [10_000 + i for i in range(n)]
        assert all(r["stdout"] == "42\n" and r["exit_code"] == 0 for r in replies)
        assert ex.run("print(1+1)").stdout == "2\n"
