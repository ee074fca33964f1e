"""Graph runtime: nodes, pipelines, run context, budgets and traces."""

from .budget import Budget, BudgetExceeded, BudgetLedger, Usage
from .context import RunContext
from .graph import INPUT, Pipeline, PipelineError, PipelineResult
from .node import Node, NodeConfig, NodeInputError
from .spec import NodeRegistry, PipelineSpec, SpecError, build_pipeline, default_registry, load_pipeline
from .trace import Trace, TraceEvent

__all__ = [
    "INPUT",
    "Budget",
    "BudgetExceeded",
    "BudgetLedger",
    "Node",
    "NodeConfig",
    "NodeInputError",
    "NodeRegistry",
    "Pipeline",
    "PipelineError",
    "PipelineResult",
    "PipelineSpec",
    "RunContext",
    "SpecError",
    "Trace",
    "TraceEvent",
    "Usage",
    "build_pipeline",
    "default_registry",
    "load_pipeline",
]
