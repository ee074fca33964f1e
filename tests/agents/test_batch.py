"""Batch runner with a scripted model: streaming, isolation, durable resume."""

import asyncio
import json

from lemmaflow.agents.backends import FailingLM, ScriptedLM
from lemmaflow.agents.batch import BatchRunner, load_results
from lemmaflow.cli import resolve_pipeline
from lemmaflow.tools.datasets import Problem


def problems(k=5):
    return [Problem(id=f"p{i}", question=f"What is {i}+{i}?", gold=str(2 * i), source="test") for i in range(k)]


def doubling_lm():
    def answer(prompt, i):
        for k in range(10):
            if f"What is {k}+{k}?" in prompt:
                return f"\\boxed{{{2 * k}}}"
        return "?"

    return ScriptedLM(answer)


def runner(lm, out, checker, **kw):
    pipe = resolve_pipeline("sc", {"n": 3, "max_tokens": 32})
    return BatchRunner(pipe, lm, checker, out_path=out, **kw)


def test_all_problems_solved_and_graded(tmp_path, checker):
    out = tmp_path / "r.jsonl"
    seen = []
    s = asyncio.run(runner(doubling_lm(), out, checker, on_result=lambda r, s: seen.append(r.id)).run(problems()))
    assert s.done == 5 and s.correct == 5 and s.accuracy == 1.0 and s.failed == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(seen) == [f"p{i}" for i in range(5)]
    assert all(r["status"] == "ok" and r["correct"] for r in rows)
    assert rows[0]["usage"]["total"]["samples"] == 3


def test_batched_into_one_engine_call_per_round(tmp_path, checker):
    lm = doubling_lm()
    lm._latency_s = 0.05
    asyncio.run(runner(lm, tmp_path / "r.jsonl", checker).run(problems(8)))
    assert len(lm.calls) == 8  # one call per problem, all in flight together


def test_one_failing_item_does_not_stop_the_batch_and_is_retried(tmp_path, checker):
    out = tmp_path / "r.jsonl"
    flaky = FailingLM(doubling_lm(), fail_if=lambda p: "What is 3+3?" in p)
    s = asyncio.run(runner(flaky, out, checker).run(problems()))
    assert s.done == 5 and s.failed == 1 and s.correct == 4
    bad = [r for r in load_results(out).values() if r["status"] == "error"]
    assert len(bad) == 1 and bad[0]["id"] == "p3" and "scripted failure" in bad[0]["error"]
    # Rerun with a healthy model: only the failed item runs again.
    lm = doubling_lm()
    s2 = asyncio.run(runner(lm, out, checker).run(problems()))
    assert s2.skipped == 4 and s2.done == 1 and s2.correct == 1
    assert len(lm.calls) == 1
    assert all(r["status"] == "ok" for r in load_results(out).values())


def test_resume_skips_finished_and_survives_a_torn_line(tmp_path, checker):
    out = tmp_path / "r.jsonl"
    asyncio.run(runner(doubling_lm(), out, checker).run(problems(3)))
    with open(out, "a") as f:
        f.write('{"key": "torn", "status": "o')  # what kill -9 mid-write leaves
    lm = doubling_lm()
    s = asyncio.run(runner(lm, out, checker).run(problems(5)))
    assert s.skipped == 3 and s.done == 2 and len(lm.calls) == 2
    lines = out.read_text().splitlines()
    assert sum(1 for x in lines if x.startswith('{"key": "torn"')) == 1
    assert len(load_results(out)) == 5  # the torn line is ignored, every other row parses


def test_key_changes_with_pipeline_config_and_model(tmp_path, checker):
    out = tmp_path / "r.jsonl"
    asyncio.run(runner(doubling_lm(), out, checker).run(problems(2)))
    pipe = resolve_pipeline("sc", {"n": 4, "max_tokens": 32})
    lm = doubling_lm()
    s = asyncio.run(BatchRunner(pipe, lm, checker, out_path=out).run(problems(2)))
    assert s.skipped == 0 and s.done == 2
    other = ScriptedLM(lambda p, i: "\\boxed{0}", model_id="other-model")
    s = asyncio.run(BatchRunner(pipe, other, checker, out_path=out).run(problems(2)))
    assert s.skipped == 0


def test_duplicate_problems_run_once(tmp_path, checker):
    lm = doubling_lm()
    ps = problems(2) + problems(2)
    s = asyncio.run(runner(lm, tmp_path / "r.jsonl", checker).run(ps))
    assert s.done == 2 and len(lm.calls) == 2


def test_traces_are_appended(tmp_path, checker):
    trace = tmp_path / "t.jsonl"
    asyncio.run(runner(doubling_lm(), tmp_path / "r.jsonl", checker, trace_path=trace).run(problems(2)))
    rows = [json.loads(x) for x in trace.read_text().splitlines()]
    assert {r["problem_id"] for r in rows} == {"p0", "p1"}
    assert sum(r["kind"] == "vote" for r in rows) == 2


def test_named_models_change_the_result_key(tmp_path, checker):
    from lemmaflow.agents.scorers import ScriptedRewardModel

    out = tmp_path / "r.jsonl"
    asyncio.run(runner(doubling_lm(), out, checker).run(problems(2)))
    prm = ScriptedRewardModel(lambda q, s: [1.0] * len(s), model_id="prm-a")
    r = runner(doubling_lm(), out, checker, models={"prm": prm})
    assert asyncio.run(r.run(problems(2))).skipped == 0  # a run with a reward model is a different result
    assert asyncio.run(runner(doubling_lm(), out, checker, models={"prm": prm}).run(problems(2))).skipped == 2
    other = ScriptedRewardModel(lambda q, s: [1.0] * len(s), model_id="prm-b")
    assert asyncio.run(runner(doubling_lm(), out, checker, models={"prm": other}).run(problems(2))).skipped == 0
    base = runner(doubling_lm(), out, checker)
    assert base.key(problems(1)[0]) != r.key(problems(1)[0]) and "prm=prm-a" not in base.key(problems(1)[0])


def test_named_models_reach_every_problem_context(tmp_path, checker):
    from pydantic import BaseModel

    from lemmaflow.agents import Pipeline
    from lemmaflow.agents.backends import SamplingParams
    from lemmaflow.agents.node import Node

    seen = []

    class UsesVerifier(Node):
        kind = "uses_verifier"

        class Inputs(BaseModel):
            question: str

        class Outputs(BaseModel):
            answer: str | None = None

        async def run(self, inputs, ctx):
            seen.append(ctx.model("verifier").model_id)
            await ctx.model("verifier").generate([inputs.question], SamplingParams())
            return self.Outputs(answer="0")

    pipe = Pipeline(inputs={"question": str}, name="v")
    pipe.add("v", UsesVerifier())
    pipe.connect("input.question", "v.question")
    pipe.set_output("v")
    judge = ScriptedLM(["ok"], model_id="judge")
    out = tmp_path / "r.jsonl"
    asyncio.run(BatchRunner(pipe, doubling_lm(), checker, out_path=out, models={"verifier": judge}).run(problems(3)))
    rows = list(load_results(out).values())
    assert seen == ["judge"] * 3 and len(judge.calls) == 3
    assert all(r["usage"]["per_model"]["verifier"]["samples"] == 1 for r in rows)


def test_streams_through_a_bounded_window(tmp_path, checker):
    """A lazy input is read only as the window frees up; never more than ``concurrency`` problems in flight."""
    from lemmaflow.agents.backends import SamplingParams

    lm = doubling_lm()
    state = {"in_flight": 0, "max": 0}

    class Counting:  # the pipeline's one generate call per problem, counted while it runs
        model_id = lm.model_id

        async def generate(self, prompts, params: SamplingParams):
            state["in_flight"] += 1
            state["max"] = max(state["max"], state["in_flight"])
            try:
                await asyncio.sleep(0.002)
                return await lm.generate(prompts, params)
            finally:
                state["in_flight"] -= 1

        async def aclose(self):
            pass

    read = []

    def lazy(k):
        for i in range(k):
            read.append(i)
            yield Problem(id=f"p{i}", question=f"What is {i % 10}+{i % 10}?", gold=str(2 * (i % 10)),
                          source=f"s{i}")

    gaps = []

    def on_result(res, summary):
        gaps.append(len(read) - len(gaps))  # problems read but not yet reported, this one included

    s = asyncio.run(runner(Counting(), tmp_path / "r.jsonl", checker, concurrency=4, on_result=on_result)
                    .run(lazy(60)))
    # sc's problems repeat every 10 (same question and gold): 10 distinct keys, 50 duplicates
    assert s.total == 60 and s.done == 10 and s.correct == 10
    assert state["max"] == 4  # the window filled up, and never more
    assert max(gaps) <= 4 + 50  # read-ahead: the window plus skipped duplicates, never the whole input up front
    assert gaps[0] <= 4  # at the first result, only the first window had been read


def test_lazy_input_is_not_read_ahead_of_the_window(tmp_path, checker):
    lm = doubling_lm()
    lm._latency_s = 0.001
    read = []

    def lazy(k):
        for i in range(k):
            read.append(i)
            yield Problem(id=f"p{i}", question=f"What is {i}+{i}? ({i})", gold=str(2 * i), source="t")

    gaps = []
    s = asyncio.run(runner(lm, tmp_path / "r.jsonl", checker, concurrency=3,
                           on_result=lambda r, s: gaps.append(len(read) - len(gaps))).run(lazy(40)))
    assert s.done == 40 and s.total == 40
    assert max(gaps) <= 3 and gaps[0] == 3
    # a resumed run reads everything but solves nothing
    lm2 = doubling_lm()
    s2 = asyncio.run(runner(lm2, tmp_path / "r.jsonl", checker, concurrency=3).run(lazy(40)))
    assert s2.skipped == 40 and s2.done == 0 and not lm2.calls


def test_key_set_is_compact_and_exact():
    from lemmaflow.agents.batch import KeySet

    keys = [f"{i * 2654435761 % (1 << 64):016x}abcdef01" for i in range(5000)]
    ks = KeySet(keys[::2])
    assert len(ks) == 2500
    assert all(k in ks for k in keys[::2]) and not any(k in ks for k in keys[1::2])
    ks.add(keys[0])
    assert len(ks) == 2500 and "not-a-hex-key" not in ks
    ks.add("not-a-hex-key")
    assert "not-a-hex-key" in ks
