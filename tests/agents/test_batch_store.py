"""BatchRunner with a skill store: a library-using node records reuse, the runner records outcomes."""

import asyncio

from pydantic import BaseModel

from lemmaflow.agents import Node, NodeConfig, Pipeline
from lemmaflow.agents.backends import SamplingParams, ScriptedLM
from lemmaflow.agents.batch import BatchRunner
from lemmaflow.skills_library import Entry, HashingEmbedder, open_store
from lemmaflow.tools.answers import extract_answer
from lemmaflow.tools.datasets import Problem


class LookupThenAnswer(Node):
    """Retrieves tools for the question, shows the best to the model, marks it used when the model cites it."""

    kind = "lookup_then_answer"
    Config = NodeConfig

    class Inputs(BaseModel):
        question: str

    class Outputs(BaseModel):
        answer: str | None

    async def run(self, inputs, ctx):
        store = ctx.require_store()
        hits = store.search(inputs.question, k=1, kind="tool", run_id=ctx.run_id, problem_id=ctx.problem_id)
        hint = ""
        if hits:
            store.record_event("shown", [hits[0].entry.id], run_id=ctx.run_id, problem_id=ctx.problem_id)
            hint = f"Tool: {hits[0].entry.statement}\n"
        gen = (await ctx.generate([hint + inputs.question], SamplingParams(max_tokens=16)))[0]
        text = gen.completions[0].text
        if hits and hits[0].entry.name in text:
            store.record_event("used", [hits[0].entry.id], run_id=ctx.run_id, problem_id=ctx.problem_id)
        return self.Outputs(answer=extract_answer(text).answer)


def test_reuse_is_recorded_per_run_and_problem(tmp_path, checker):
    store = open_store(tmp_path / "lib.db", embedder=HashingEmbedder())
    tool = store.add(Entry(kind="tool", name="gcd_list", language="python", statement="gcd_list(xs) -> int",
                           docstring="greatest common divisor of integers", source="def gcd_list(xs): ...",
                           status="verified")).id

    def lm(prompt, i):  # uses the tool when it is shown one; right on gcd, wrong on the last problem
        if "Tool: gcd_list" in prompt:
            return "gcd_list([12, 18]) gives \\boxed{6}"
        return "\\boxed{4}" if "2+2" in prompt else "\\boxed{0}"

    pipe = Pipeline(inputs={"question": str})
    pipe.add("ans", LookupThenAnswer())
    pipe.connect("input.question", "ans.question")
    problems = [Problem(id="g", question="greatest common divisor of 12 and 18?", gold="6", source="t"),
                Problem(id="a", question="What is 2+2?", gold="4", source="t"),
                Problem(id="z", question="What is 5+5?", gold="10", source="t")]
    runner = BatchRunner(pipe, ScriptedLM(lm), checker, out_path=tmp_path / "r.jsonl", store=store, run_id="run1")
    summary = asyncio.run(runner.run(problems))
    assert summary.correct == 2 and summary.failed == 0
    s = store.stats()
    assert (s.problems_recorded, s.problems_solved, s.solved_using_library) == (3, 2, 1)
    assert s.top_used == [(tool, "gcd_list", 1)]
    used = store.events(event="used")
    assert [(e.run_id, e.problem_id) for e in used] == [("run1", "g")]
    assert store.usage_counts(tool)["retrieved"] >= 1
    store.close()
