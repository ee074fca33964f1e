"""ToolMaker with a scripted model, the real fork-server sandbox and a real SQLite library."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ToolMaker
from lemmaflow.agents.nodes.tool_maker import (
    ToolFormatError, parse_tool_reply, rename_identifier, run_tool_tests, unique_tool_name,
)
from lemmaflow.skills_library import HashingEmbedder, open_store


def reply(body="return unit_price * count", tests=("assert total_cost(2, 5) == 10", "assert total_cost(0.5, 4) == 2"),
          name="total_cost", doc="Cost of `count` items at `unit_price` each."):
    return (f"Here is the tool.\n```python\ndef {name}(unit_price: float, count: int) -> float:\n"
            f'    """{doc}"""\n    {body}\n```\n```python\n' + "\n".join(tests) + "\n```\n")


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "lib.db", embedder=HashingEmbedder()) as s:
        yield s


def make(store, executor, *replies, **config):
    lm = ScriptedLM(list(replies))
    ctx = RunContext(backend=lm, executor=executor, store=store, problem_id="p1", run_id="run1")
    out = asyncio.run(ToolMaker(**config)(ctx, question="A pen costs 2 dollars. What do 5 pens cost?", answer="10",
                                          solution="2 * 5 = 10"))
    return out, lm


# ---------------------------------------------------------------- parsing and naming
def test_parse_strict_format():
    t = parse_tool_reply(reply(tests=("import math", "assert math.isclose(total_cost(0.1, 3), 0.3)")))
    assert t.name == "total_cost" and t.signature == "total_cost(unit_price: float, count: int) -> float"
    assert t.docstring.startswith("Cost of") and t.tests == ["import math\nassert math.isclose(total_cost(0.1, 3), 0.3)"]


@pytest.mark.parametrize("text, why", [
    ("no code at all", "expected two ```python blocks"),
    ("```python\ndef f(x):\n    '''d'''\n    return x\n```", "found 1"),
    ("```python\ndef f(x):\n    return x\n```\n```python\nassert f(1) == 1\n```", "has no docstring"),
    ("```python\ndef f(x):\n  '''d'''\n  return x\ndef g(): pass\n```\n```python\nassert f(1) == 1\n```", "exactly one function"),
    ("```python\nprint(1)\ndef f(x):\n  '''d'''\n  return x\n```\n```python\nassert f(1) == 1\n```", "line 1 is a Expr"),
    ("```python\ndef f(x:\n```\n```python\nassert f(1) == 1\n```", "not valid Python"),
    ("```python\ndef f(x):\n  '''d'''\n  return x\n```\n```python\nassert True\n```", "does not call f()"),
    ("```python\ndef f(x):\n  '''d'''\n  return x\n```\n```python\nprint(f(1))\n```", "only assert lines"),
])
def test_malformed_replies_name_the_rule(text, why):
    with pytest.raises(ToolFormatError, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse_tool_reply(text)


def test_rename_and_unique_names():
    code = "def area(r):\n    '''area of r'''\n    return area_helper(r) + x.area + area(r - 1)\n"
    assert rename_identifier(code, "area", "area_2") == (
        "def area_2(r):\n    '''area of r'''\n    return area_helper(r) + x.area + area_2(r - 1)\n")
    assert unique_tool_name("print", lambda n: False) == "print_tool"
    assert unique_tool_name("_x", lambda n: False) == "x"
    assert unique_tool_name("lambda", lambda n: False) == "lambda_tool"
    assert unique_tool_name("f", {"f", "f_2"}.__contains__) == "f_3"


def test_tests_run_in_the_sandbox(executor):
    src = "import os\ndef pid():\n    '''this process id'''\n    return os.getpid()\n"
    import os

    r = run_tool_tests(executor, src, [f"assert pid() != {os.getpid()}", "assert pid() == -1", "assert nope()"])
    assert r.results[0] is None and r.results[1] == "AssertionError" and r.results[2].startswith("NameError")
    assert not r.passed and "test 2: AssertionError" in r.log()
    r = run_tool_tests(executor, "def spin():\n    while True: pass\n", ["assert spin()"], timeout_s=0.5)
    assert not r.passed and r.killed_by == "timeout"


# ---------------------------------------------------------------- the node
def test_passing_tool_is_stored_with_provenance(store, executor):
    out, lm = make(store, executor, reply())
    assert out.outcome == "added" and out.name == "total_cost" and len(out.attempts) == 1
    e = store.get(out.entry_id)
    assert e.kind == "tool" and e.status == "verified" and e.statement == "total_cost(unit_price: float, count: int) -> float"
    assert e.tests == ["assert total_cost(2, 5) == 10", "assert total_cost(0.5, 4) == 2"]
    assert e.provenance.problem_id == "p1" and e.provenance.run_id == "run1" and e.provenance.model == "scripted"
    assert "2/2 tests passed in sandbox forkserver" in e.evidence and e.metadata["answer"] == "10"
    assert "A pen costs 2 dollars" in lm.calls[0][0][0] and "2 * 5 = 10" in lm.calls[0][0][0]


def test_malformed_reply_is_retried_once_with_the_error(store, executor):
    out, lm = make(store, executor, "I think it is 10.", reply())
    assert out.outcome == "added" and len(out.attempts) == 2
    assert out.attempts[0].error.startswith("malformed: expected two")
    assert "rejected: expected two ```python blocks" in lm.calls[1][0][0]  # the retry shows the error
    out, _ = make(store, executor, "nope", "still nope", retries=1)
    assert out.outcome == "malformed" and out.entry_id is None and len(out.attempts) == 2
    assert store.count(kind="tool") == 1


def test_failing_tests_are_not_stored(store, executor):
    bad = reply(tests=("assert total_cost(2, 5) == 11",))
    out, lm = make(store, executor, bad, bad)
    assert out.outcome == "tests_failed" and out.entry_id is None
    assert "`assert total_cost(2, 5) == 11` -> AssertionError" in out.error
    assert "tests failed" in lm.calls[1][0][0]
    crash = reply(body="return 1 / 0")
    out, _ = make(store, executor, crash, retries=0)
    assert out.outcome == "tests_failed" and "ZeroDivisionError" in out.error
    assert store.count() == 0


def test_duplicates_are_not_stored_twice(store, executor):
    first, _ = make(store, executor, reply())
    # the same tool with other comments and docstring: the same normalized source
    again, _ = make(store, executor, reply(doc="Total price.").replace("return", "# multiply\n    return"))
    assert again.outcome == "duplicate" and again.entry_id == first.entry_id
    # same behaviour, different code: a near duplicate, confirmed by running each against the other's tests
    near, _ = make(store, executor, reply(body="total = count * unit_price\n    return total",
                                          tests=("assert total_cost(3, 3) == 9",)))
    assert near.outcome == "near_duplicate" and near.entry_id == first.entry_id
    assert store.count(kind="tool") == 1
    # close in embedding but different behaviour: the cross-check fails, it is a new tool with a unique name
    other, _ = make(store, executor, reply(body="return unit_price * count + 1",
                                           tests=("assert total_cost(2, 5) == 11",)))
    assert other.outcome == "added" and other.name == "total_cost_2" and other.entry_id != first.entry_id
    e = store.get(other.entry_id)
    assert e.source.startswith("def total_cost_2(") and e.tests == ["assert total_cost_2(2, 5) == 11"]
    assert e.statement.startswith("total_cost_2(")
    # the renamed tool made again: found under its new name, not stored a third time
    again, _ = make(store, executor, reply(body="return unit_price * count + 1", tests=("assert total_cost(2, 5) == 11",)))
    assert again.outcome == "duplicate" and again.entry_id == other.entry_id and again.name == "total_cost_2"
    sum_tool, _ = make(store, executor, reply(name="sum", tests=("assert sum(2, 5) == 10",)))
    assert sum_tool.outcome == "added" and sum_tool.name == "sum_tool"
    again, _ = make(store, executor, reply(name="sum", tests=("assert sum(2, 5) == 10",)))
    assert again.outcome == "duplicate" and again.entry_id == sum_tool.entry_id


def test_needs_executor_and_store(store, executor):
    ctx = RunContext(backend=ScriptedLM([reply()]), executor=executor)
    with pytest.raises(RuntimeError, match="needs a store"):
        asyncio.run(ToolMaker()(ctx, question="q"))
    with pytest.raises(ValueError, match=r"prompt must contain \{answer\}"):
        ToolMaker(prompt="{question} {solution}")
