"""VerifyChain: score a given reasoning chain step by step with any scorer (arXiv 2306.03872 for the verifier).

The chain is split into steps (:func:`lemmaflow.tools.steps.split_steps`,
blank-line delimiter by default) and scored by the configured scorer spec:
``{type: step_verifier}`` (LLM judge + sympy arithmetic), ``{type: judge}``,
``{type: reward_model, model: prm}``. Outputs the per-step scores, the chain
value and the scorer's per-step details (why).

Example (arithmetic check only, no model call)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import VerifyChain

    node = VerifyChain(scorer={"type": "step_verifier", "judge": False})
    out = asyncio.run(node(RunContext(backend=ScriptedLM(["-"])), question="?",
                           chain="3 + 4 = 7 apples.\\n\\n7 * 2 = 15, so \\\\boxed{15}."))
    assert out.step_scores == [1.0, 0.0] and out.value == 0.0
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ...tools.steps import DEFAULT_DELIMITER, split_steps
from ..node import Node, NodeConfig
from ..scorers import StepScoreRequest
from .weighting import make_scorer

__all__ = ["VerifyChain"]


class VerifyChain(Node):
    kind = "verify_chain"

    class Config(NodeConfig):
        scorer: dict[str, Any] = Field(default_factory=lambda: {"type": "step_verifier"})
        delimiter: str = Field(DEFAULT_DELIMITER, min_length=1)

    class Inputs(BaseModel):
        question: str
        chain: str

    class Outputs(BaseModel):
        steps: list[str]
        step_scores: list[float | None]
        value: float
        details: list[dict[str, Any]] = []

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.scorer = make_scorer(self.config.scorer)

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        steps = split_steps(inputs.chain, self.config.delimiter)
        if not steps:
            ctx.trace.add("score", ctx.node_path, value=0.5, steps=[], why="empty chain")
            return self.Outputs(steps=[], step_scores=[], value=0.5, details=[])
        [s] = await self.scorer.score(ctx, [StepScoreRequest(question=inputs.question, steps=tuple(steps))])
        ctx.trace.add("score", ctx.node_path, value=s.value, steps=s.steps, scorer=self.scorer.kind)
        return self.Outputs(steps=steps, step_scores=s.steps, value=s.value, details=s.details)
