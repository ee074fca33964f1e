"""ReWOO through ``lemmaflow solve`` on the real embedded model and the fork-server sandbox (2 problems, short outputs)."""

import json

import pytest

from lemmaflow.agents.trace_view import build_view, load_trace

from .test_cli import EXAMPLES, lemmaflow

PLAN_ERRORS = ("PlanSyntaxError", "UnknownToolError", "EvidenceReferenceError", "EmptyPlanError", "PlanError")


@pytest.mark.embedded
def test_rewoo_pipeline_end_to_end(tmp_path):
    out, trace = tmp_path / "out.jsonl", tmp_path / "trace.jsonl"
    r = lemmaflow("solve", "--input", str(EXAMPLES), "--limit", "2", "--out", str(out), "--pipeline", "rewoo",
                  "--max-tokens", "64", "--trace", str(trace), "--no-progress")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 2, r.stderr[-3000:]
    # A plan the tiny model cannot write fails that problem alone, with the parser's line-numbered error.
    failed = [x for x in rows if x["status"] == "error"]
    assert r.returncode == (1 if failed else 0), r.stderr[-3000:]
    for x in failed:
        assert x["error"].split(":")[0] in PLAN_ERRORS and ": line " in x["error"], x["error"]
    events = load_trace(trace)
    for row in rows:
        evs = events[row["id"]]
        calls = [e for e in evs if e["kind"] == "llm_call"]
        assert all(e["data"]["completion_tokens"] > 0 for e in calls)
        assert not [e for e in calls if e["node"] == "rewoo/worker"]  # the worker never calls the model
        planner = [e for e in calls if e["node"] == "rewoo/planner"]
        assert 1 <= len(planner) <= 2  # one repair round at most
        if row["status"] == "ok":
            out_ = row["outputs"]
            assert out_["steps"] and len(planner) == out_["repairs"] + 1
            assert [e["node"] for e in calls].count("rewoo/solver") == 1
            tools = [e for e in evs if e["kind"] == "tool_call"]
            assert len(tools) == len(out_["steps"]) and all("ok" in e["data"] for e in tools)
            view = build_view(evs, row["id"])
            assert any(s.title == "rewoo graph at rewoo" for s in view.sections)
        else:
            assert len(planner) == 2 and not [e for e in calls if e["node"] == "rewoo/solver"]
