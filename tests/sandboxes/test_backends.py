"""Behaviour of every backend: result fields, limits, files, pool, sessions.

Parametrized over the backends in LEMMAFLOW_SANDBOX_BACKENDS (all by default);
see conftest.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from lemmaflow.sandboxes import Job

from .conftest import assert_serving


def test_stdout_value_and_fields(executor, backend):
    r = executor.run("print('hé', 1 + 1)\n[i * i for i in range(4)]")
    assert r.stdout == "hé 2\n" and r.stderr == ""
    assert r.value == "[0, 1, 4, 9]"
    assert r.exit_code == 0 and r.killed_by is None and r.error is None and r.ok
    assert r.backend == backend and 0 < r.duration_s < 5
    assert not r.stdout_truncated and not r.session_reset


def test_no_value_for_statements_and_none(executor):
    assert executor.run("x = 1").value is None
    assert executor.run("print('a')").value is None  # print() returns None


def test_exception_is_a_result_with_trimmed_traceback(executor):
    r = executor.run("def f(n):\n    return 10 // n\nf(0)")
    assert r.exit_code == 1 and r.killed_by is None
    assert r.error == "ZeroDivisionError: integer division or modulo by zero"
    assert 'File "<job>", line 3, in <module>' in r.stderr and 'line 2, in f' in r.stderr
    assert "lemmaflow" not in r.stderr and "_child" not in r.stderr


def test_syntax_error_and_system_exit(executor):
    r = executor.run("x = (1,")
    assert r.exit_code == 1 and r.error.startswith("SyntaxError")
    assert executor.run("import sys; sys.exit(3)").exit_code == 3
    assert executor.run("raise SystemExit").exit_code == 0


def test_math_stack_available(executor, backend):
    r = executor.run(
        "import sympy as sp, numpy as np, math\n"
        "x = sp.Symbol('x')\n"
        "(sp.solve(x**2 - 4, x), int(np.arange(5).sum()), math.comb(5, 2), sp.latex(sp.sqrt(8)))"
    )
    assert r.ok, r.stderr
    assert r.value == "([-2, 2], 10, 10, '2 \\\\sqrt{2}')"
    if backend != "subprocess":  # preloaded by the warm servers
        assert executor.run("import sys; 'sympy.parsing.sympy_parser' in sys.modules").value == "True"


def test_files_are_written_into_the_work_dir(executor):
    job = Job(code="import os\n(open('a.txt').read(), open('d/b.bin','rb').read(), os.getcwd() == os.environ['HOME'])",
              files={"a.txt": "hello", "d/b.bin": b"\x00\x01"})
    r = executor.run(job)
    assert r.value == "('hello', b'\\x00\\x01', True)", r


def test_job_files_are_importable_modules(executor):
    """A module shipped in Job.files imports by name (how the tool user node ships tools)."""
    job = Job(code="from lemmaflow_tools import triple\nfrom pkg.m import K\ntriple(K)",
              files={"lemmaflow_tools.py": "def triple(x):\n    return 3 * x\n", "pkg/__init__.py": "",
                     "pkg/m.py": "K = 14\n"})
    r = executor.run(job)
    assert r.ok and r.value == "42", r
    with executor.session() as s:  # a session sees a re-shipped module's new version
        assert s.run(job).value == "42"
        r = s.run(Job(code="import lemmaflow_tools\nlemmaflow_tools.triple(1)",
                      files={"lemmaflow_tools.py": "def triple(x):\n    return -3 * x\n"}))
        assert r.value == "-3", r


def test_work_dir_is_fresh_and_writable(executor):
    r1 = executor.run("import os, tempfile\nopen('x', 'w').write('1')\ntempfile.mkstemp()[1].startswith(os.getcwd())")
    assert r1.value == "True", r1
    r2 = executor.run("import os\nos.listdir('.')")
    assert r2.value == "[]"


def test_output_truncated_with_marker(executor):
    r = executor.run("print('A' * 3000 + 'B' * 20000 + 'Z' * 500)")
    assert r.ok and r.stdout_truncated and not r.stderr_truncated
    assert r.stdout.startswith("A" * 2000) and r.stdout.endswith("Z" * 500 + "\n")
    assert "[stdout truncated:" in r.stdout and len(r.stdout) < 4200
    r = executor.run(Job(code="import sys; sys.stderr.write('e' * 10000)", output_limit_bytes=500))
    assert r.stderr_truncated and "[stderr truncated:" in r.stderr and len(r.stderr) < 700


def test_long_value_is_truncated(executor):
    r = executor.run("'x' * 100000")
    assert r.value is not None and "value truncated" in r.value and len(r.value) < 4200


def test_timeout(executor):
    t0 = time.monotonic()
    r = executor.run(Job(code="print('started', flush=True)\nwhile True: pass", timeout_s=1))
    assert r.killed_by == "timeout" and r.exit_code == -9
    assert r.stdout == "started\n"  # output written before the kill is kept
    assert 0.9 < r.duration_s < 3 and time.monotonic() - t0 < 10
    assert_serving(executor)


def test_memory_limit(executor):
    r = executor.run(Job(code="x = bytearray(700 * 2**20)", memory_mb=256))
    assert r.killed_by == "memory" and r.error == "MemoryError" and r.exit_code == 1
    r = executor.run(Job(code="import numpy as np\nnp.ones((1 << 30,))", memory_mb=256))
    assert r.killed_by == "memory"
    ok = executor.run(Job(code="len(bytearray(100 * 2**20))", memory_mb=256))
    assert ok.value == str(100 * 2**20)


def test_crash_is_reported(executor):
    r = executor.run("import ctypes\nctypes.memset(16, 0, 8)")
    assert r.killed_by == "crash" and r.exit_code == -11 and "SIGSEGV" in r.error
    assert_serving(executor)


def test_os_exit_code(executor):
    r = executor.run("import os\nprint('bye', flush=True)\nos._exit(7)")
    assert r.exit_code == 7 and r.stdout == "bye\n" and r.killed_by is None


def test_pool_runs_jobs_concurrently(executor, backend):
    jobs = [Job(code=f"import time; time.sleep(0.6); {i}") for i in range(4)]
    t0 = time.monotonic()
    results = executor.map(jobs)
    elapsed = time.monotonic() - t0
    assert [r.value for r in results] == ["0", "1", "2", "3"]
    if backend != "subprocess":  # pool of 2 warm servers: two rounds, not four
        assert elapsed < 2.2, elapsed


def test_arun_does_not_block_the_event_loop(executor):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        t = asyncio.create_task(ticker())
        rs = await asyncio.gather(*(executor.arun(f"import time; time.sleep(0.3); {i}") for i in range(3)))
        t.cancel()
        return rs, ticks

    rs, ticks = asyncio.run(main())
    assert [r.value for r in rs] == ["0", "1", "2"]
    assert ticks >= 10


def test_session_keeps_variables(executor):
    with executor.session() as s:
        assert s.run("import sympy as sp\nx = sp.Symbol('x'); n = 41").ok
        r = s.run("n + 1")
        assert r.value == "42" and not r.session_reset
        assert s.run("def f(k):\n    return k * n\nf(2)").value == "82"
        r = s.run("f(0) + undefined")
        assert r.error == "NameError: name 'undefined' is not defined"
        assert 'File "<cell 4>", line 1' in r.stderr
        assert s.run("n").value == "41"  # an exception does not lose the state


def test_session_recreated_after_timeout(executor):
    with executor.session() as s:
        s.run("state = 'kept'")
        r = s.run(Job(code="while True: pass", timeout_s=0.5))
        assert r.killed_by == "timeout" and r.session_reset
        r = s.run("state")
        assert r.error == "NameError: name 'state' is not defined"
        assert s.run("state = 2; state * 2").value == "4"


def test_sessions_are_isolated_from_each_other(executor):
    with executor.session() as a, executor.session() as b:
        a.run("secret = 'a'")
        assert b.run("secret").error == "NameError: name 'secret' is not defined"
        assert a.run("secret").value == "'a'"


def test_async_session(executor):
    async def main():
        s = executor.session()
        await s.arun("v = 5")
        r = await s.arun("v * 2")
        s.close()
        return r

    assert asyncio.run(main()).value == "10"


def _kernel_collapses_huge_pages() -> bool:
    """Linux >= 6.1 (MADV_COLLAPSE) with transparent huge pages not switched off."""
    import os

    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            never = "[never]" in f.read()
    except (OSError, ValueError):
        return False
    return (major, minor) >= (6, 1) and not never


@pytest.mark.pooled
def test_server_heap_on_huge_pages_and_jobs_still_isolated(executor, backend):
    infos = [h.info["huge_pages"] for h in executor._pool.handles()]
    assert infos
    for info in infos:
        if _kernel_collapses_huge_pages():
            assert info["collapsed_mb"] > 0, info
            assert info["collapsed_mb"] <= info["candidate_mb"]
        else:  # a graceful no-op, with the reason
            assert info["collapsed_mb"] > 0 or info["error"], info
    # A job that writes all over the shared (huge-page) heap changes only its own
    # copy: the next jobs, on every server, see the preloaded modules untouched.
    r = executor.run("import sys, sympy\n"
                     "n = 0\n"
                     "for m in list(sys.modules.values()):\n"
                     "    try:\n"
                     "        m.__dict__['_lf_mark'] = 1; n += 1\n"
                     "    except Exception:\n"
                     "        pass\n"
                     "sympy.Integer._lf_mark = 2\n"
                     "n")
    assert r.ok and int(r.value) > 100, r
    check = ("import sys, sympy\n"
             "sum(1 for m in list(sys.modules.values()) if getattr(m, '__dict__', {}).get('_lf_mark'))"
             " + hasattr(sympy.Integer, '_lf_mark')")
    for res in executor.map([check] * 4):
        assert res.ok and res.value == "0", res
