"""One sampled chain of thought and its extracted answer (the n=1 baseline).

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ChainOfThought
    from lemmaflow.agents.backends import ScriptedLM

    out = asyncio.run(ChainOfThought()(RunContext(backend=ScriptedLM(["so \\\\boxed{12}"])), question="?"))
    assert out.answer == "12"
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ...tools.answers import extract_answer
from ..node import Node
from .prompts import PromptedSampling

__all__ = ["ChainOfThought"]


class ChainOfThought(Node):
    kind = "chain_of_thought"

    class Config(PromptedSampling):
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)

    class Inputs(BaseModel):
        question: str

    class Outputs(BaseModel):
        answer: str | None
        chain: str
        abstained: bool
        finish_reason: str | None = None

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        comp = (await ctx.generate([c.render(inputs.question)], c.sampling()))[0].completions[0]
        ext = extract_answer(comp.text)
        return self.Outputs(answer=ext.answer, chain=comp.text, abstained=ext.answer is None, finish_reason=comp.finish_reason)
