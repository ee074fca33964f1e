import asyncio
import json

from lemmaflow.agents import Pipeline, RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import SelfConsistency


def test_trace_records_nodes_calls_votes_and_saves_jsonl(tmp_path, checker):
    pipe = Pipeline(inputs={"question": str}).add("sc", SelfConsistency(n=3))
    pipe.connect("input.question", "sc.question")
    ctx = RunContext(backend=ScriptedLM(["\\boxed{2}", "\\boxed{2}", "\\boxed{3}"]), problem_id="p7", checker=checker)
    asyncio.run(pipe.run({"question": "1+1"}, ctx))
    kinds = [e.kind for e in ctx.trace.events]
    assert kinds == ["node_start", "llm_call", "vote", "node_end"]
    vote = ctx.trace.of_kind("vote")[0]
    assert vote.data["winner"] == "2" and abs(vote.data["confidence"] - 2 / 3) < 1e-9
    path = tmp_path / "t.jsonl"
    ctx.trace.save_jsonl(path)
    ctx.trace.save_jsonl(path)  # appends
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 8 and all(r["problem_id"] == "p7" for r in rows)
    assert "1+1" in rows[1]["data"]["prompts"][0]
