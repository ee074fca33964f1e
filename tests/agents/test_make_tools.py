"""The whole tool path with a scripted model: solved run → make tools → store → retrieve → use in the sandbox → stats.

Real parts: the fork-server sandbox, a SQLite library, the batch runner, the built-in ``tool_user``
pipeline and ``lemmaflow library stats``. Only the model is scripted (orchestration test, not a result).
"""

import asyncio
import json

import pytest

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.batch import BatchRunner
from lemmaflow.agents.make_tools import load_solved, make_tools, summarize
from lemmaflow.agents.nodes import ToolMaker
from lemmaflow.cli import main, resolve_pipeline
from lemmaflow.skills_library import HashingEmbedder, open_store
from lemmaflow.tools.datasets import Problem



@pytest.fixture(scope="module")
def executor():
    from lemmaflow.sandboxes import make_executor

    with make_executor("forkserver", pool_size=1) as ex:
        yield ex


def tool_reply(name, args, doc, body, tests):
    return (f"```python\ndef {name}({args}):\n    \"\"\"{doc}\"\"\"\n    {body}\n```\n```python\n"
            + "\n".join(tests) + "\n```")


PERCENT = tool_reply("percent_of", "percent: float, whole: float", "The given percent of a whole amount.",
                     "return percent * whole / 100", ["assert percent_of(25, 80) == 20", "assert percent_of(50, 10) == 5"])
# the same tool again, written differently: a near duplicate confirmed in the sandbox
PERCENT_AGAIN = tool_reply("percent_of", "percent: float, whole: float", "The given percent of a whole amount.",
                           "return whole * (percent / 100)", ["assert percent_of(10, 50) == 5"])
WRONG = tool_reply("rectangle_area", "width: float, height: float", "Area of a rectangle.",
                   "return width + height", ["assert rectangle_area(3, 4) == 12"])
SHARE = tool_reply("share_each", "total: int, people: int", "How much each person gets when a total is shared equally.",
                   "return total // people", ["assert share_each(12, 3) == 4"])

MAKER_SCRIPT = {"pct-1": [PERCENT], "pct-2": [PERCENT_AGAIN], "area": [WRONG, WRONG], "share": [SHARE]}

RESULTS = [  # rows as `lemmaflow solve` writes them
    {"key": "k1", "id": "pct-1", "question": "What is 25% of 80?", "gold": "20", "answer": "20", "correct": True,
     "status": "ok", "outputs": {"program": "print(25 * 80 / 100)"}},
    {"key": "k2", "id": "pct-2", "question": "What is 10% of 50?", "gold": "5", "answer": "5", "correct": True,
     "status": "ok", "outputs": {"samples": [{"answer": "5", "program": "print(50 * 0.1)"}]}},
    {"key": "k3", "id": "area", "question": "A rectangle is 3 by 4. What is its area?", "gold": "12", "answer": "12",
     "correct": True, "status": "ok", "outputs": {"chain": "3 * 4 = 12"}},
    {"key": "k4", "id": "share", "question": "12 sweets are shared by 3 children. How many each?", "gold": "4",
     "answer": "4", "correct": True, "status": "ok", "outputs": {}},
    {"key": "k5", "id": "unsolved", "question": "What is 2 + 2?", "gold": "4", "answer": "5", "correct": False,
     "status": "ok", "outputs": {}},
]


def maker_lm():
    def script(prompt, i):
        for pid, replies in MAKER_SCRIPT.items():
            q = next(r["question"] for r in RESULTS if r["id"] == pid)
            if q in prompt:
                return replies[min(i, len(replies) - 1)]
        raise AssertionError(f"unexpected prompt {prompt[:200]}")
    return ScriptedLM(script, model_id="scripted-maker")


USER_PROGRAMS = {
    "What is 30% of 90?": "from lemmaflow_tools import percent_of\nprint(percent_of(30, 90))",
    "20 apples are shared by 4 friends. How many does each get?": "from lemmaflow_tools import share_each\nprint(share_each(20, 4))",
    "5 cookies are shared by 0 children. How many each?": "from lemmaflow_tools import share_each\nprint(share_each(5, 0))",
    "What is 7 + 8?": "print(7 + 8)",
}


def user_lm():
    def script(prompt, i):
        for q, code in USER_PROGRAMS.items():
            if q in prompt:
                return f"```python\n{code}\n```"
        raise AssertionError(prompt[:200])
    return ScriptedLM(script, model_id="scripted-user")


def test_make_store_retrieve_use_and_stats(tmp_path, executor, checker, capsys):
    run = tmp_path / "run.jsonl"
    run.write_text("\n".join(json.dumps(r) for r in RESULTS) + "\n{torn line\n")
    solved = load_solved(run)
    assert solved.kind == "results" and [p.id for p in solved.problems] == ["pct-1", "pct-2", "area", "share"]
    assert solved.skipped == 1 and solved.errors == [(6, solved.errors[0][1])]
    assert solved.problems[0].solution == "print(25 * 80 / 100)" and solved.problems[1].solution == "print(50 * 0.1)"

    lib = tmp_path / "lib.db"
    with open_store(lib, embedder=HashingEmbedder()) as store:
        rows = asyncio.run(make_tools(solved.problems, ToolMaker(), maker_lm(), executor, store, run_id="mk"))
        by_id = {r.id: r for r in rows}
        assert summarize(rows) == {"added": 2, "near_duplicate": 1, "tests_failed": 1}
        assert by_id["pct-2"].entry_id == by_id["pct-1"].entry_id  # not stored twice
        assert by_id["area"].entry_id is None and "AssertionError" in by_id["area"].error  # failing tests: not stored
        assert sorted(e.name for e in store.list(kind="tool")) == ["percent_of", "share_each"]

        problems = [Problem(id=f"u{i}", question=q, gold=g, source="t")
                    for i, (q, g) in enumerate(zip(USER_PROGRAMS, ["27", "5", "0", "15"]))]
        runner = BatchRunner(resolve_pipeline("tool_user", {}), user_lm(), checker, out_path=tmp_path / "use.jsonl",
                             executor=executor, store=store, run_id="use")
        summary = asyncio.run(runner.run(problems))
        assert summary.correct == 3 and summary.failed == 0  # u2 crashed in the tool: not correct
        res = {r["id"]: r for r in map(json.loads, (tmp_path / "use.jsonl").read_text().splitlines())}
        assert res["u0"]["outputs"]["called"] == ["percent_of"] and res["u0"]["correct"]
        assert res["u2"]["outputs"]["failed"]["share_each"].startswith("ZeroDivisionError")
        share = store.find_by_name("share_each")[0]
        assert share.status == "demoted" and share.failure_count == 1  # raised at use time
        stats = store.stats()
        assert stats.events["used"] == 2 and stats.problems_solved == 3 and stats.solved_using_library == 2
        assert {name for _, name, _ in stats.top_used} == {"percent_of", "share_each"}

    assert main(["library", "stats", "--library", str(lib), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["solved_using_library"] == 2 and shown["by_status"] == {"demoted": 1, "verified": 1}
    assert shown["events"]["failed_use"] == 1


def test_problems_file_with_gold_and_one_failing_item(tmp_path, executor):
    src = tmp_path / "gsm.jsonl"
    src.write_text(json.dumps({"question": "What is 25% of 80?", "answer": "25% of 80 is 20.\n#### 20"}) + "\n"
                   + json.dumps({"id": "nogold", "question": "Why?"}) + "\n"
                   + json.dumps({"id": "boom", "question": "What is 10% of 50?", "answer": "5"}) + "\n")
    solved = load_solved(src)
    assert solved.kind == "problems" and solved.skipped == 1 and len(solved.problems) == 2
    assert solved.problems[0].answer == "20" and solved.problems[0].solution.startswith("25% of 80 is 20.")

    def script(prompt, i):
        if "10% of 50" in prompt:
            raise RuntimeError("backend hiccup")
        return PERCENT
    with open_store(tmp_path / "lib.db", embedder=HashingEmbedder()) as store:
        rows = asyncio.run(make_tools(solved.problems, ToolMaker(), ScriptedLM(script), executor, store))
    assert [r.outcome for r in rows] == ["added", "error"] and "backend hiccup" in rows[1].error
