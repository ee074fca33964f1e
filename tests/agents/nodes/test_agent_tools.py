"""Tools for ReWOO/ReAct: sympy input allow-list, sandboxed python/sympy, skill-library retrieval."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes.agent_tools import SympyInputError, check_sympy_input, default_tools


def call(tool, arg, ctx):
    return asyncio.run(default_tools().get(tool)(arg, ctx))


@pytest.mark.parametrize("arg, expected", [
    ("solve(x**2 - 4, x)", "[-2, 2]"),
    ("2*x + 1 = 7", "[3]"),
    ("3*12 - 5", "31"),
    ("2^10", "1024"),
    ("1/3 + 1/6", "1/2 (= 0.5)"),
    ("simplify((x**2 - 1)/(x - 1))", "x + 1"),
    ("factor(x**2 + 2*x + 1)", "(x + 1)**2"),
    ("0.5 * 3", "1.5"),
])
def test_sympy_evaluates_in_the_sandbox(executor, arg, expected):
    r = call("sympy", arg, RunContext(backend=ScriptedLM(["-"]), executor=executor))
    assert r.ok and r.text == expected


@pytest.mark.parametrize("arg, words", [
    ("__import__('os').system('id')", "not allowed"),
    ("x.__class__", "Attribute is not allowed"),
    ("'a' * 3", "only numbers"),
    ("lambda: 1", "Lambda is not allowed"),
    ("solve(x, dict=1)", "keyword arguments"),
    ("open(1)", "function 'open' is not allowed"),
    ("_secret + 1", "name '_secret'"),
    ("x +", "not an expression"),
    ("", "empty input"),
])
def test_sympy_input_outside_the_allow_list_is_rejected(arg, words):
    with pytest.raises(SympyInputError, match=words):
        check_sympy_input(arg)
    r = call("sympy", arg, RunContext(backend=ScriptedLM(["-"])))  # rejected before any executor is needed
    assert not r.ok and r.text.startswith("Error: sympy input rejected") and words.split()[0] in r.text


def test_sympy_and_python_errors_are_results(executor):
    ctx = RunContext(backend=ScriptedLM(["-"]), executor=executor)
    zero = call("sympy", "1/0", ctx)
    assert not zero.ok and "undefined or infinite" in zero.text
    py = call("python", "print(1)\n1/0", ctx)
    assert not py.ok and py.text.startswith("Error:") and "ZeroDivisionError" in py.text
    assert call("python", "x = 1", ctx).text == "(no output: print the result)"
    assert not call("python", "print(1)", RunContext(backend=ScriptedLM(["-"]))).ok  # no executor: an error result


def test_registry_offers_only_usable_tools(tmp_path, executor):
    from lemmaflow.skills_library import HashingEmbedder, open_store

    reg = default_tools()
    assert reg.available(RunContext(backend=ScriptedLM(["-"]))).names() == []
    assert reg.available(RunContext(backend=ScriptedLM(["-"]), executor=executor)).names() == ["python", "sympy"]
    with open_store(tmp_path / "lib.db", embedder=HashingEmbedder()) as store:
        ctx = RunContext(backend=ScriptedLM(["-"]), executor=executor, store=store)
        assert reg.available(ctx).names() == ["python", "sympy", "retrieve"]
        assert "Retrieve[input]:" in reg.available(ctx).describe()
        with pytest.raises(KeyError, match="unknown tool 'google'"):
            reg.get("google")
