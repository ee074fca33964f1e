"""The Python interpreter tool: code-block extraction, model-facing output, runs in a sandbox."""

from __future__ import annotations

import asyncio

import pytest

from lemmaflow.sandboxes import ExecResult, make_executor
from lemmaflow.tools.interpreter import PythonInterpreter, extract_code_blocks, format_output, last_code_block


# ---------------------------------------------------------------- extraction
def test_extract_blocks_with_tags_and_unclosed_tail():
    text = (
        "Plan.\n```python\nx = 1\n```\nText\n```\nnot python\n```\n"
        "```py\nprint(x)\n```\n```text\nignored\n```\n```python\ny = 2\n"
    )
    assert extract_code_blocks(text) == ["x = 1", "print(x)", "y = 2"]
    assert extract_code_blocks(text, require_closed=True) == ["x = 1", "print(x)"]


def test_last_block_is_the_one_generation_stopped_on():
    text = "```python\na = 1\n```\nthen\n```python\nprint(a)\n```"
    assert last_code_block(text) == "print(a)"
    assert last_code_block(text, require_closed=True) == "print(a)"
    cut = text + "\n```python\nprint(a + 1)\n"
    assert last_code_block(cut) == "print(a + 1)"
    assert last_code_block(cut, require_closed=True) is None
    assert last_code_block("no code at all") is None
    assert last_code_block("```python\n\n```") is None  # empty blocks do not count


def test_indented_block_is_dedented_and_inner_indent_kept():
    text = "1. Compute:\n   ```python\n   for i in range(2):\n       print(i)\n   ```\n"
    assert last_code_block(text, require_closed=True) == "for i in range(2):\n    print(i)"


def test_tora_style_stop_at_output_fence():
    text = "Let us compute.\n```python\nprint(6 * 7)\n```"  # "```output" stripped by the caller
    assert last_code_block(text, require_closed=True) == "print(6 * 7)"


# ---------------------------------------------------------------- formatting
def test_format_stdout_and_value():
    assert format_output(ExecResult(stdout="4\n", value="[1, 2]", exit_code=0)) == "4\n[1, 2]"
    assert format_output(ExecResult(stdout="", exit_code=0)) == ""


def test_format_traceback_is_trimmed_to_user_code():
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "<cell 2>", line 3, in <module>\n'
        "    f(0)\n"
        '  File "<cell 1>", line 2, in f\n'
        "    return sp.Integer(1) / n\n"
        '  File "/usr/lib/python3/dist-packages/sympy/core/numbers.py", line 10, in __truediv__\n'
        "    raise ZeroDivisionError('x')\n"
        '  File "/usr/lib/python3/dist-packages/sympy/core/other.py", line 5, in g\n'
        "    pass\n"
        "ZeroDivisionError: division by zero\n"
    )
    shown = format_output(ExecResult(stderr=stderr, error="ZeroDivisionError: division by zero", exit_code=1))
    assert '"<cell 2>", line 3' in shown and '"<cell 1>", line 2' in shown
    assert "numbers.py" not in shown and shown.count("  ...") == 1
    assert shown.endswith("ZeroDivisionError: division by zero")


def test_format_kills_and_reset_and_clipping():
    t = format_output(ExecResult(exit_code=-9, killed_by="timeout", error="Timeout: exceeded the 5 s wall-clock limit"))
    assert t == "TimeoutError: execution timed out (exceeded the 5 s wall-clock limit)"
    assert "OutputLimitError" in format_output(ExecResult(stdout="x" * 50, killed_by="output", exit_code=-9))
    assert "crashed" in format_output(ExecResult(killed_by="crash", error="Crash: killed by SIGSEGV", exit_code=-11))
    reset = format_output(ExecResult(stdout="1\n", exit_code=0, session_reset=True))
    assert reset.startswith("[note: the interpreter was restarted")
    long = format_output(ExecResult(stdout="a" * 5000 + "END", exit_code=0), max_chars=300)
    assert len(long) <= 300 and long.startswith("aaa") and long.endswith("END") and "characters truncated" in long


# ------------------------------------------------------------ in a sandbox
@pytest.fixture(scope="module")
def executor():
    with make_executor("forkserver", pool_size=1) as ex:
        yield ex


def test_interpreter_runs_sympy_in_the_sandbox(executor):
    interp = PythonInterpreter(executor, timeout_s=10)
    out = interp("import sympy as sp\nx = sp.Symbol('x')\nprint(sp.solve(x**2 - 9, x))\nsp.factorint(360)")
    assert out == "[-3, 3]\n{2: 3, 3: 2, 5: 1}"
    res = interp.run("import os\nos.getpid() != %d" % __import__("os").getpid())
    assert res.value == "True" and res.backend == "forkserver"


def test_interpreter_error_output_for_the_model(executor):
    out = PythonInterpreter(executor)("def f(n):\n    return 1 / n\nf(0)")
    assert out.startswith("Traceback (most recent call last):")
    assert 'File "<job>", line 3, in <module>' in out and out.endswith("ZeroDivisionError: division by zero")
    assert "lemmaflow" not in out
    assert "timed out" in PythonInterpreter(executor, timeout_s=0.5)("while True: pass")


def test_persistent_interpreter_keeps_state(executor):
    with PythonInterpreter(executor, persistent=True) as interp:
        interp("n = 20")
        assert interp("print(n + 1)") == "21"
        assert asyncio.run(interp.acall("n * 2")) == "40"


def test_run_reply_extracts_and_runs(executor):
    interp = PythonInterpreter(executor)
    code, res = interp.run_reply("I will compute.\n```python\nsum(range(101))\n```\nDone.")
    assert code == "sum(range(101))" and res.value == "5050"
    assert interp.run_reply("no code") is None
