"""ToolUser with a scripted model, the real fork-server sandbox and a real SQLite library."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ToolUser
from lemmaflow.agents.nodes.tool_user import build_tools_module, parse_tool_events, referenced_tools
from lemmaflow.skills_library import Entry, HashingEmbedder, open_store

COST = Entry(kind="tool", name="total_cost", language="python", status="verified",
             statement="total_cost(unit_price: float, count: int) -> float",
             docstring="Total cost of buying `count` items at `unit_price` dollars each.",
             source="def total_cost(unit_price: float, count: int) -> float:\n    return unit_price * count\n",
             tests=["assert total_cost(2, 5) == 10"])
SPEED = Entry(kind="tool", name="average_speed", language="python", status="verified",
              statement="average_speed(distance: float, hours: float) -> float",
              docstring="Average speed of a trip: distance travelled divided by hours.",
              source="def average_speed(distance, hours):\n    return distance / hours\n",
              tests=["assert average_speed(10, 2) == 5"])


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "lib.db", embedder=HashingEmbedder()) as s:
        s.add(COST)
        s.add(SPEED)
        yield s


def use(store, executor, code, question="Each ticket costs 3 dollars. How much do 7 tickets cost?", **config):
    lm = ScriptedLM([f"```python\n{code}\n```"])
    ctx = RunContext(backend=lm, executor=executor, store=store, problem_id="p9", run_id="r1")
    return asyncio.run(ToolUser(**config)(ctx, question=question)), lm


def ids(store, event):
    return [e.entry_id for e in store.events(event=event)]


def test_tools_are_retrieved_shown_called_and_used(store, executor):
    out, lm = use(store, executor, "from lemmaflow_tools import total_cost\nprint(total_cost(3, 7))")
    assert out.answer == "21" and out.called == ["total_cost"] and out.referenced == ["total_cost"]
    cost = store.find_by_name("total_cost")[0].id
    assert out.used == [cost] and out.retrieved[0].name == "total_cost" and out.shown == out.retrieved
    prompt = lm.calls[0][0][0]
    assert "def total_cost(unit_price: float, count: int) -> float:" in prompt and "Total cost of buying" in prompt
    assert cost in ids(store, "retrieved") and cost in ids(store, "shown") and ids(store, "used") == [cost]
    ev = store.events(event="used")[0]
    assert (ev.run_id, ev.problem_id, ev.data["answer"]) == ("r1", "p9", "21")


def test_imported_but_not_called_is_not_used(store, executor):
    out, _ = use(store, executor, "from lemmaflow_tools import total_cost, average_speed\nprint(21)")
    assert out.answer == "21" and out.referenced == ["average_speed", "total_cost"] and out.called == [] and out.used == []
    assert ids(store, "used") == []


def test_no_answer_records_no_use(store, executor):
    out, _ = use(store, executor, "import lemmaflow_tools as t\nx = t.total_cost(3, 7)\nraise ValueError('model bug')")
    assert out.answer is None and out.called == ["total_cost"] and out.used == [] and "ValueError" in out.error
    assert out.failed == {}  # the tool itself did not raise
    assert store.find_by_name("total_cost")[0].status == "verified"


def test_a_tool_that_raises_is_demoted(store, executor):
    speed = store.find_by_name("average_speed")[0].id
    out, _ = use(store, executor, "from lemmaflow_tools import average_speed\nprint(average_speed(5, 0))",
                 question="A car travels 5 km in 0 hours. What is its average speed?")
    assert out.answer is None and list(out.failed) == ["average_speed"]
    assert out.failed["average_speed"].startswith("ZeroDivisionError")
    e = store.get(speed)
    assert e.status == "demoted" and e.failure_count == 1 and "ZeroDivisionError" in e.evidence
    assert ids(store, "failed_use") == [speed] and ids(store, "used") == []
    # a demoted tool is no longer retrieved
    out, _ = use(store, executor, "print(1)", question="average speed of a trip distance divided by hours")
    assert "average_speed" not in [r.name for r in out.retrieved]


def test_failures_counted_before_demotion(store, executor):
    speed = store.find_by_name("average_speed")[0].id
    q = "A car travels 5 km in 0 hours. What is its average speed?"
    use(store, executor, "from lemmaflow_tools import average_speed\naverage_speed(5, 0)", question=q, demote_after=2)
    assert store.get(speed).failure_count == 1 and store.get(speed).status == "verified"
    use(store, executor, "from lemmaflow_tools import average_speed\naverage_speed(5, 0)", question=q, demote_after=2)
    assert store.get(speed).failure_count == 2 and store.get(speed).status == "demoted"


def test_a_wrong_call_is_misuse_not_a_tool_failure(store, executor):
    out, _ = use(store, executor, "from lemmaflow_tools import total_cost\nprint(total_cost(1, 2, 3))")
    assert out.answer is None and "total_cost" in out.misused and out.failed == {}
    assert store.find_by_name("total_cost")[0].failure_count == 0


def test_tools_run_only_in_the_sandbox(store, executor):
    import os

    out, _ = use(store, executor, f"import os\nfrom lemmaflow_tools import total_cost\nprint(os.getpid() != {os.getpid()})")
    assert out.answer == "True"


def test_no_tools_in_the_library_is_a_plain_program(tmp_path, executor):
    with open_store(tmp_path / "empty.db", embedder=HashingEmbedder()) as empty:
        out, lm = use(empty, executor, "print(3 * 7)")
    assert out.answer == "21" and out.retrieved == [] and "lemmaflow_tools" not in lm.calls[0][0][0]


def test_module_reports_load_errors_and_keeps_other_tools(executor):
    from lemmaflow.sandboxes import Job

    broken = COST.model_copy(update={"id": 1, "source": "import no_such_module\ndef total_cost(a, b):\n    return 0\n"})
    good = SPEED.model_copy(update={"id": 2})
    mod = build_tools_module([broken, good], "abc")
    r = executor.run(Job(code="from lemmaflow_tools import average_speed\nprint(average_speed(6, 3))",
                         files={"lemmaflow_tools.py": mod}))
    events, stderr = parse_tool_events(r.stderr, "abc")
    assert r.stdout == "2.0\n" and ("call", "average_speed", "") in events
    assert any(k == "load_error" and n == "total_cost" and "ModuleNotFoundError" in d for k, n, d in events)
    assert "lemmaflow-tool" not in stderr
    # a forged marker with another nonce is not an event
    assert parse_tool_events("\x1elemmaflow-tool:zzz call total_cost\n", "abc")[0] == []


def test_static_references():
    assert referenced_tools("import lemmaflow_tools\nlemmaflow_tools.f(1)\nfrom lemmaflow_tools import *", ["f", "g"]) == ["f", "g"]
    assert referenced_tools("def broken(:", ["f"]) == []
