"""Pipelines: a networkx DiGraph of named nodes wired field to field.

The graph holds names, edges and configs; the node objects do the work. A
pipeline is validated before it runs: cycles, inputs nobody provides, fields
that do not exist and type mismatches are reported naming the node and field.

Example::

    import asyncio
    from lemmaflow.agents import Pipeline, RunContext
    from lemmaflow.agents.nodes import SelfConsistency
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.tools.answers import AnswerChecker

    pipe = Pipeline(inputs={"question": str})
    pipe.add("sc", SelfConsistency(n=4))
    pipe.connect("input.question", "sc.question")
    pipe.set_output("sc")
    with AnswerChecker() as checker:
        ctx = RunContext(backend=ScriptedLM(["... \\\\boxed{4}"]), checker=checker)
        result = asyncio.run(pipe.run({"question": "2+2?"}, ctx))
    assert result.outputs["answer"] == "4"
"""

from __future__ import annotations

import asyncio
import types
import typing
from typing import Any, Literal, Mapping

import networkx as nx
from pydantic import BaseModel, ConfigDict, create_model

from .budget import BudgetExceeded
from .context import RunContext
from .node import Node

__all__ = ["INPUT", "Pipeline", "PipelineError", "PipelineResult"]

INPUT = "input"  # the reserved name of the pipeline's input pseudo-node


class PipelineError(ValueError):
    """The pipeline is malformed. The message names the node and field."""


class PipelineResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    status: Literal["ok", "budget_exhausted", "error"]
    outputs: dict[str, Any] = {}
    node_outputs: dict[str, dict[str, Any]] = {}
    error: str | None = None
    failed_node: str | None = None


def _type_ok(src: Any, dst: Any) -> bool:
    """Can a value annotated ``src`` feed a field annotated ``dst``?"""
    if dst is Any or src == dst:
        return True
    d_origin = typing.get_origin(dst)
    if d_origin in (typing.Union, types.UnionType):
        return any(_type_ok(src, a) for a in typing.get_args(dst))
    s_origin = typing.get_origin(src)
    if s_origin in (typing.Union, types.UnionType):
        return all(_type_ok(a, dst) for a in typing.get_args(src))
    if s_origin is not None or d_origin is not None:
        if s_origin != d_origin:
            return False
        sa, da = typing.get_args(src), typing.get_args(dst)
        return len(sa) == len(da) and all(_type_ok(a, b) for a, b in zip(sa, da))
    if src is int and dst is float:  # pydantic widens int to float
        return True
    return isinstance(src, type) and isinstance(dst, type) and issubclass(src, dst)


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


class Pipeline:
    """A validated DAG of nodes. ``inputs`` declares the fields a problem provides."""

    def __init__(self, inputs: Mapping[str, Any] | type[BaseModel] | None = None, name: str = "pipeline"):
        self.name = name
        if inputs is None:
            inputs = {"question": str}
        if isinstance(inputs, type) and issubclass(inputs, BaseModel):
            self.input_model = inputs
        else:
            self.input_model = create_model(f"{name}_inputs", **{k: (v, ...) for k, v in inputs.items()})
        self.graph = nx.DiGraph()
        self.output_node: str | None = None
        # Named models the pipeline asks for (role -> ModelSpec); the caller builds them.
        self.model_specs: dict[str, Any] = {}
        self._validated = False

    # -- building ------------------------------------------------------------
    def add(self, name: str, node: Node) -> "Pipeline":
        if name == INPUT or "." in name or "/" in name or not name:
            raise PipelineError(f"invalid node name {name!r}: must be non-empty, not {INPUT!r}, without '.' or '/'")
        if name in self.graph:
            raise PipelineError(f"duplicate node name {name!r}")
        if not isinstance(node, Node):
            raise PipelineError(f"node {name!r} is a {type(node).__name__}, not a lemmaflow Node")
        self.graph.add_node(name, node=node, kind=node.kind, config=node.config.model_dump(mode="json"))
        self._validated = False
        return self

    def connect(self, src: str, dst: str) -> "Pipeline":
        """Wire ``"node.field"`` (or ``"input.field"``) to ``"node.field"``."""
        try:
            s_node, s_field = src.split(".", 1)
            d_node, d_field = dst.split(".", 1)
        except ValueError:
            raise PipelineError(f"edge {src!r} -> {dst!r}: endpoints must look like 'node.field'") from None
        for n in (s_node, d_node):
            if n != INPUT and n not in self.graph:
                raise PipelineError(f"edge {src!r} -> {dst!r}: unknown node {n!r}")
        if d_node == INPUT:
            raise PipelineError(f"edge {src!r} -> {dst!r}: cannot feed the pipeline input")
        if s_node != INPUT:
            data = self.graph.get_edge_data(s_node, d_node)
            if data is None:
                self.graph.add_edge(s_node, d_node, fields=[])
                data = self.graph.get_edge_data(s_node, d_node)
            data["fields"].append((s_field, d_field))
        else:
            self.graph.nodes[d_node].setdefault("from_input", []).append((s_field, d_field))
        self._validated = False
        return self

    def set_output(self, name: str) -> "Pipeline":
        if name not in self.graph:
            raise PipelineError(f"output node {name!r} is not in the pipeline")
        self.output_node = name
        self._validated = False
        return self

    # -- validation ----------------------------------------------------------
    def validate(self) -> None:
        if not self.graph.nodes:
            raise PipelineError("the pipeline has no nodes")
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = " -> ".join(a for a, _ in nx.find_cycle(self.graph))
            raise PipelineError(f"the pipeline has a cycle: {cycle}")
        in_fields = self.input_model.model_fields
        for name in self.graph.nodes:
            node: Node = self.graph.nodes[name]["node"]
            dst_fields = node.Inputs.model_fields
            provided: dict[str, str] = {}
            feeds = [(INPUT, f, t) for f, t in self.graph.nodes[name].get("from_input", [])]
            for pred in self.graph.predecessors(name):
                feeds += [(pred, f, t) for f, t in self.graph.edges[pred, name]["fields"]]
            for src, s_field, d_field in feeds:
                where = f"edge {src}.{s_field} -> {name}.{d_field}"
                if src == INPUT:
                    s_fields = in_fields
                else:
                    s_fields = self.graph.nodes[src]["node"].Outputs.model_fields
                if s_field not in s_fields:
                    raise PipelineError(f"{where}: {src!r} has no output field {s_field!r} (has: {sorted(s_fields)})")
                if d_field not in dst_fields:
                    raise PipelineError(f"{where}: node {name!r} has no input field {d_field!r} (has: {sorted(dst_fields)})")
                if d_field in provided:
                    raise PipelineError(f"{where}: input {name}.{d_field} is already fed by {provided[d_field]}")
                provided[d_field] = f"{src}.{s_field}"
                s_t, d_t = s_fields[s_field].annotation, dst_fields[d_field].annotation
                if not _type_ok(s_t, d_t):
                    raise PipelineError(
                        f"{where}: type mismatch: {src}.{s_field} is {_type_name(s_t)}, "
                        f"{name}.{d_field} expects {_type_name(d_t)}"
                    )
            for field, info in dst_fields.items():
                if info.is_required() and field not in provided:
                    raise PipelineError(f"node {name!r}: required input {field!r} is not connected")
        if self.output_node is None:
            sinks = [n for n in self.graph.nodes if self.graph.out_degree(n) == 0]
            if len(sinks) != 1:
                raise PipelineError(f"set_output() is required: the pipeline has {len(sinks)} sink nodes {sinks}")
            self.output_node = sinks[0]
        self._validated = True

    # -- running -------------------------------------------------------------
    async def run(self, inputs: Mapping[str, Any] | BaseModel, ctx: RunContext) -> PipelineResult:
        """Run one problem. Node failures become a result status, never an exception."""
        if not self._validated:
            self.validate()
        problem = inputs if isinstance(inputs, BaseModel) else self.input_model.model_validate(dict(inputs))
        values: dict[str, BaseModel] = {}
        try:
            for generation in nx.topological_generations(self.graph):
                # Independent nodes of one generation run concurrently.
                outs = await asyncio.gather(*(self._run_node(n, problem, values, ctx) for n in generation))
                values.update(zip(generation, outs))
        except BudgetExceeded as e:
            return self._result("budget_exhausted", values, error=str(e), failed=e.node)
        except Exception as e:  # BackendError, node bugs, bad model output: the item fails, not the batch
            failed = getattr(e, "_lemmaflow_node", None)
            return self._result("error", values, error=f"{type(e).__name__}: {e}", failed=failed)
        return self._result("ok", values)

    async def _run_node(self, name: str, problem: BaseModel, values: dict, ctx: RunContext) -> BaseModel:
        attrs = self.graph.nodes[name]
        kwargs = {d: getattr(problem, s) for s, d in attrs.get("from_input", [])}
        for pred in self.graph.predecessors(name):
            for s, d in self.graph.edges[pred, name]["fields"]:
                kwargs[d] = getattr(values[pred], s)
        try:
            return await attrs["node"](ctx.child(name), **kwargs)
        except Exception as e:
            e._lemmaflow_node = name  # which node failed, for the result
            raise

    def _result(self, status, values: dict, error: str | None = None, failed: str | None = None) -> PipelineResult:
        node_outputs = {k: v.model_dump(mode="json") for k, v in values.items()}
        outputs = node_outputs.get(self.output_node or "", {})
        return PipelineResult(status=status, outputs=outputs, node_outputs=node_outputs, error=error, failed_node=failed)

    # -- description -----------------------------------------------------------
    def to_spec(self) -> dict:
        """A JSON-able spec; :func:`lemmaflow.agents.spec.build_pipeline` rebuilds it."""
        if not self._validated:
            self.validate()
        edges = []
        for name in self.graph.nodes:
            edges += [{"from": f"{INPUT}.{s}", "to": f"{name}.{d}"} for s, d in self.graph.nodes[name].get("from_input", [])]
        for a, b, data in self.graph.edges(data=True):
            edges += [{"from": f"{a}.{s}", "to": f"{b}.{d}"} for s, d in data["fields"]]
        spec = {
            "name": self.name,
            "inputs": {k: _type_name(f.annotation) for k, f in self.input_model.model_fields.items()},
            "nodes": [{"name": n, **self.graph.nodes[n]["node"].describe()} for n in self.graph.nodes],
            "edges": edges,
            "output": self.output_node,
        }
        if self.model_specs:  # only when used, so existing result keys stay the same
            spec["models"] = {k: v.model_dump(mode="json") for k, v in self.model_specs.items()}
        return spec
