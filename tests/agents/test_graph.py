import asyncio

import pytest
from pydantic import BaseModel

from lemmaflow.agents import Node, NodeConfig, Pipeline, PipelineError, RunContext, build_pipeline
from lemmaflow.agents.backends import ScriptedLM


class Upper(Node):
    kind = "upper"

    class Inputs(BaseModel):
        text: str

    class Outputs(BaseModel):
        text: str

    async def run(self, inputs, ctx):
        return self.Outputs(text=inputs.text.upper())


class Length(Node):
    kind = "length"

    class Inputs(BaseModel):
        text: str

    class Outputs(BaseModel):
        n: int

    async def run(self, inputs, ctx):
        return self.Outputs(n=len(inputs.text))


class Join(Node):
    kind = "join"

    class Config(NodeConfig):
        sep: str = "+"

    class Inputs(BaseModel):
        a: str
        b: str

    class Outputs(BaseModel):
        text: str

    async def run(self, inputs, ctx):
        return self.Outputs(text=inputs.a + self.config.sep + inputs.b)


class Sleepy(Node):
    kind = "sleepy"

    class Config(NodeConfig):
        delay: float = 0.2

    class Inputs(BaseModel):
        text: str

    class Outputs(BaseModel):
        text: str

    async def run(self, inputs, ctx):
        await asyncio.sleep(self.config.delay)
        return self.Outputs(text=inputs.text)


class Boom(Node):
    kind = "boom"

    class Inputs(BaseModel):
        text: str

    class Outputs(BaseModel):
        text: str

    async def run(self, inputs, ctx):
        raise RuntimeError("kaboom")


def ctx():
    return RunContext(backend=ScriptedLM(["unused"]))


def test_linear_pipeline_runs_in_order():
    p = Pipeline(inputs={"question": str})
    p.add("up", Upper()).add("join", Join(sep="|"))
    p.connect("input.question", "up.text").connect("input.question", "join.a").connect("up.text", "join.b")
    res = asyncio.run(p.run({"question": "ab"}, ctx()))
    assert res.status == "ok"
    assert res.outputs == {"text": "ab|AB"}
    assert res.node_outputs["up"] == {"text": "AB"}


def test_cycle_is_reported_with_its_nodes():
    p = Pipeline(inputs={"question": str})
    p.add("a", Upper()).add("b", Upper())
    p.connect("input.question", "a.text")
    p.connect("a.text", "b.text").connect("b.text", "a.text")
    with pytest.raises(PipelineError, match="cycle: (a -> b|b -> a)"):
        p.validate()


def test_missing_input_names_node_and_field():
    p = Pipeline(inputs={"question": str})
    p.add("join", Join()).connect("input.question", "join.a")
    with pytest.raises(PipelineError, match=r"node 'join': required input 'b' is not connected"):
        p.validate()


def test_type_mismatch_names_both_ends():
    p = Pipeline(inputs={"question": str})
    p.add("len", Length()).add("up", Upper())
    p.connect("input.question", "len.text").connect("len.n", "up.text")
    with pytest.raises(PipelineError, match=r"type mismatch: len.n is int, up.text expects str"):
        p.validate()


def test_unknown_fields_and_nodes():
    p = Pipeline(inputs={"question": str})
    p.add("up", Upper())
    with pytest.raises(PipelineError, match="unknown node 'nope'"):
        p.connect("input.question", "nope.text")
    p.connect("input.questoin", "up.text")
    with pytest.raises(PipelineError, match="'input' has no output field 'questoin'"):
        p.validate()
    p2 = Pipeline(inputs={"question": str}).add("up", Upper())
    p2.connect("input.question", "up.txt")
    with pytest.raises(PipelineError, match="node 'up' has no input field 'txt'"):
        p2.validate()


def test_double_feed_and_bad_names():
    p = Pipeline(inputs={"question": str, "other": str})
    p.add("up", Upper())
    p.connect("input.question", "up.text").connect("input.other", "up.text")
    with pytest.raises(PipelineError, match="already fed"):
        p.validate()
    with pytest.raises(PipelineError, match="invalid node name"):
        p.add("input", Upper())
    with pytest.raises(PipelineError, match="duplicate node name"):
        p.add("up", Upper())


def test_independent_nodes_run_concurrently():
    p = Pipeline(inputs={"question": str})
    p.add("s1", Sleepy(delay=0.3)).add("s2", Sleepy(delay=0.3)).add("join", Join())
    p.connect("input.question", "s1.text").connect("input.question", "s2.text")
    p.connect("s1.text", "join.a").connect("s2.text", "join.b")
    c = ctx()
    res = asyncio.run(p.run({"question": "x"}, c))
    assert res.status == "ok" and res.outputs["text"] == "x+x"
    # Both sleeps overlapped: the pipeline's trace spans well under the 0.6 s a serial run needs.
    starts = {e.node: e.t for e in c.trace.of_kind("node_start")}
    ends = {e.node: e.t for e in c.trace.of_kind("node_end")}
    assert starts["s2"] < ends["s1"] and starts["s1"] < ends["s2"]


def test_node_failure_becomes_result_status():
    p = Pipeline(inputs={"question": str})
    p.add("up", Upper()).add("boom", Boom())
    p.connect("input.question", "up.text").connect("up.text", "boom.text")
    c = ctx()
    res = asyncio.run(p.run({"question": "x"}, c))
    assert res.status == "error"
    assert res.failed_node == "boom"
    assert "kaboom" in res.error
    assert res.node_outputs == {"up": {"text": "X"}}  # partial work is kept
    assert [e.node for e in c.trace.of_kind("node_error")] == ["boom"]


def test_spec_round_trip():
    from lemmaflow.agents import NodeRegistry

    reg = NodeRegistry()
    for cls in (Upper, Join):
        reg.register(cls)
    p = Pipeline(inputs={"question": str})
    p.add("up", Upper()).add("join", Join(sep="/"))
    p.connect("input.question", "up.text").connect("input.question", "join.a").connect("up.text", "join.b")
    spec = p.to_spec()
    p2 = build_pipeline(spec, reg)
    assert p2.to_spec() == spec
    assert asyncio.run(p2.run({"question": "q"}, ctx())).outputs["text"] == "q/Q"


def test_bad_problem_input_is_a_clear_error():
    p = Pipeline(inputs={"question": str}).add("up", Upper())
    p.connect("input.question", "up.text")
    with pytest.raises(Exception, match="question"):
        asyncio.run(p.run({"wrong": 1}, ctx()))
