"""Nodes: small classes with a pydantic config, typed inputs/outputs and an async ``run``.

Nodes compose by holding other nodes (like dspy modules): a parent calls a
child with ``await child(ctx.child("name"), field=value)``. In a pipeline the
networkx graph holds node names, edges and configs (:mod:`lemmaflow.agents.graph`).

Example::

    import asyncio
    from pydantic import BaseModel
    from lemmaflow.agents import Node, NodeConfig, RunContext
    from lemmaflow.agents.backends import ScriptedLM

    class Shout(Node):
        kind = "shout"
        class Config(NodeConfig):
            suffix: str = "!"
        class Inputs(BaseModel):
            text: str
        class Outputs(BaseModel):
            text: str
        async def run(self, inputs, ctx):
            return self.Outputs(text=inputs.text.upper() + self.config.suffix)

    out = asyncio.run(Shout(suffix="?")(RunContext(backend=ScriptedLM(["x"])), text="hi"))
    assert out.text == "HI?"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .budget import BudgetExceeded
from .context import RunContext

__all__ = ["Node", "NodeConfig", "NodeInputError"]


class NodeConfig(BaseModel):
    """Base for node configs: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid")


class NodeInputError(ValueError):
    """A node got inputs that do not match its ``Inputs`` model."""


class Node(ABC):
    kind: ClassVar[str] = ""
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    Inputs: ClassVar[type[BaseModel]]
    Outputs: ClassVar[type[BaseModel]]

    def __init__(self, config: NodeConfig | dict | None = None, **overrides: Any):
        if isinstance(config, NodeConfig):
            # Rebuilt, not model_copy'd, so overrides are validated too.
            self.config = type(config)(**{**config.model_dump(), **overrides}) if overrides else config
        else:
            self.config = self.Config(**{**(config or {}), **overrides})

    @abstractmethod
    async def run(self, inputs: BaseModel, ctx: RunContext) -> BaseModel:
        """Do the work. Use ``ctx.generate`` for LLM calls."""

    async def __call__(self, ctx: RunContext, inputs: BaseModel | dict | None = None, **fields: Any) -> BaseModel:
        """Validate inputs, run, trace start/end, attribute wall time to this node."""
        if not ctx.node_path:  # called directly, not from a pipeline: name the run after the node
            ctx = ctx.child(self.kind or type(self).__name__)
        name = ctx.node_path
        try:
            if isinstance(inputs, self.Inputs):
                parsed = inputs
            else:
                parsed = self.Inputs.model_validate({**(dict(inputs) if inputs else {}), **fields})
        except ValidationError as e:
            raise NodeInputError(f"node {name!r} ({type(self).__name__}): bad inputs: {e}") from e
        ctx.trace.add("node_start", name, node_type=self.kind)
        with ctx.ledger.timed(name):
            try:
                out = await self.run(parsed, ctx)
            except BudgetExceeded as e:
                ctx.trace.add("budget_stop", name, error=str(e))
                raise
            except Exception as e:
                ctx.trace.add("node_error", name, error=f"{type(e).__name__}: {e}")
                raise
        if not isinstance(out, self.Outputs):
            raise TypeError(f"node {name!r} returned {type(out).__name__}, expected {self.Outputs.__name__}")
        ctx.trace.add("node_end", name)
        return out

    def describe(self) -> dict:
        """Kind and config, for specs and content hashes."""
        return {"type": self.kind, "config": self.config.model_dump(mode="json")}
