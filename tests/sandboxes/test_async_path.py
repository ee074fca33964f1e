"""The event-loop path of ``arun`` / ``Session.arun``: no thread hop, slots handed
over between coroutines and threads, cancellation and crashes handled like the
blocking path does."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lemmaflow.sandboxes import Job, SandboxCrashed, make_executor

from .conftest import TEST_LIMITS, UID_BASE, selected_backends

# The subprocess backend keeps nothing warm: its arun is a thread by design.
pytestmark = pytest.mark.pooled


@pytest.fixture
def pooled(executor):
    return executor


class _NoThreads(ThreadPoolExecutor):
    def submit(self, *a, **k):  # noqa: D401
        raise AssertionError("a thread was used on the hot path")


def test_arun_and_session_arun_use_no_thread(pooled):
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(_NoThreads(1))
        real, pooled._threads = pooled._threads, _NoThreads(1)
        try:
            rs = await asyncio.gather(*(pooled.arun(f"print({i} * 2)") for i in range(6)))
            s = pooled.session()
            await s.arun("acc = 40")
            v = (await s.arun("acc + 2")).value
            s.close()
            return [r.stdout for r in rs], v
        finally:
            pooled._threads = real

    outs, v = asyncio.run(main())
    assert outs == [f"{i * 2}\n" for i in range(6)] and v == "42"


def test_more_coroutines_and_threads_than_servers(pooled):
    """Slots pass between waiting coroutines and blocked threads; nobody gets another's reply."""
    n_async, n_threads = 24, 6
    thread_out: dict[int, str] = {}

    def worker(k: int) -> None:
        thread_out[k] = pooled.run(f"print('t{k}')").stdout

    async def main():
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        rs = await asyncio.gather(*(pooled.arun(f"import time; time.sleep(0.01); print('a{k}')")
                                    for k in range(n_async)))
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        return [r.stdout for r in rs]

    assert asyncio.run(main()) == [f"a{k}\n" for k in range(n_async)]
    assert thread_out == {k: f"t{k}\n" for k in range(n_threads)}


def test_cancelled_arun_holds_its_server_until_the_job_ends(pooled):
    async def main():
        slow = asyncio.create_task(pooled.arun(Job(code="import time; time.sleep(0.6); 'slow'", timeout_s=5)))
        await asyncio.sleep(0.15)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # Both servers answer later jobs with their own replies, never the stale 'slow' one.
        rs = await asyncio.gather(*(pooled.arun(f"{k}") for k in range(4)))
        return [r.value for r in rs]

    assert asyncio.run(main()) == ["0", "1", "2", "3"]
    # The loop is gone before the slow job ends: its server must still come back.
    deadline = time.monotonic() + 5
    while any(slot.busy for slot in pooled._pool._slots) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(slot.busy for slot in pooled._pool._slots)


def test_concurrent_cells_of_one_session_run_in_order(pooled):
    async def main():
        s = pooled.session()
        await s.arun("log = []")
        await asyncio.gather(*(s.arun(f"log.append({k})") for k in range(5)))
        r = await s.arun("sorted(log) == list(range(5)) and len(log)")
        s.close()
        return r.value

    assert asyncio.run(main()) == "5"


@pytest.mark.skipif("forkserver" not in selected_backends(), reason="forkserver not selected")
def test_server_dying_under_arun_is_reported_then_replaced():
    with make_executor("forkserver", pool_size=1, limits=TEST_LIMITS, uid_base=UID_BASE["forkserver"] + 6144) as ex:
        async def main():
            s = ex.session()
            await s.arun("kept = 1")
            pid = ex.server_pids()[0]
            job = asyncio.create_task(ex.arun(Job(code="import time; time.sleep(5)", timeout_s=8)))
            await asyncio.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            t = time.monotonic()
            with pytest.raises(SandboxCrashed):
                await job
            assert time.monotonic() - t < 4  # EOF is noticed at once, not at the deadline
            r = await ex.arun("print(1+1)")  # a fresh server
            assert r.stdout == "2\n" and ex.server_pids()[0] != pid
            r = await s.arun("kept")
            assert r.session_reset and r.error == "NameError: name 'kept' is not defined"
            s.close()

        asyncio.run(main())


def _live_sessions(ex) -> int:
    return sum(h.request({"op": "ping"}, 10)["sessions"] for h in ex._pool.handles())


def test_session_aclose_ends_the_interpreter_without_a_thread(pooled):
    before = _live_sessions(pooled)

    async def main():
        asyncio.get_running_loop().set_default_executor(_NoThreads(1))
        real, pooled._threads = pooled._threads, _NoThreads(1)
        try:
            s = pooled.session()
            assert (await s.arun("v = 1; v")).value == "1"
            opened = _live_sessions(pooled)  # (a blocking ping, fine in a test)
            await s.aclose()
            await s.aclose()  # idempotent
            with pytest.raises(RuntimeError, match="closed"):
                await s.arun("v")
            return opened
        finally:
            pooled._threads = real

    assert asyncio.run(main()) == before + 1
    assert _live_sessions(pooled) == before


@pytest.mark.skipif("forkserver" not in selected_backends(), reason="forkserver not selected")
def test_closing_the_executor_ends_an_arun_at_once():
    ex = make_executor("forkserver", pool_size=1, limits=TEST_LIMITS, uid_base=UID_BASE["forkserver"] + 7168)
    ex.start()

    async def main():
        job = asyncio.create_task(ex.arun(Job(code="import time; time.sleep(20)", timeout_s=30)))
        await asyncio.sleep(0.3)
        t = time.monotonic()
        await asyncio.to_thread(ex.close)
        with pytest.raises(SandboxCrashed):
            await job
        return time.monotonic() - t

    try:
        assert asyncio.run(main()) < 5  # not the job's 30 s deadline
    finally:
        ex.close()
