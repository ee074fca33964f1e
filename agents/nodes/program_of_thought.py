"""Program of thought (arXiv 2211.12588): the model writes a program; its output is the answer.

The program runs in a sandbox job (never in this process). The answer is the
last non-empty line the program printed, or the value of its last expression.
A program that fails, times out or prints nothing abstains. Wrap the node in
:class:`Vote` for self-consistency over programs.

Example (scripted model)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ProgramOfThought
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.sandboxes import make_executor

    lm = ScriptedLM(["```python\\nfrom fractions import Fraction\\nprint(Fraction(3, 6))\\n```"])
    with make_executor("forkserver", pool_size=1) as ex:
        out = asyncio.run(ProgramOfThought()(RunContext(backend=lm, executor=ex), question="?"))
    assert out.answer == "1/2"
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ...tools.interpreter import last_code_block
from ..node import Node
from .prompts import PromptedSampling

__all__ = ["ProgramOfThought"]

POT_PROMPT = (
    "Write a Python program that solves the problem below and prints only the final answer. "
    "You may use sympy, fractions and math. Reply with one ```python block.\n\nProblem: {question}"
)


class ProgramOfThought(Node):
    kind = "program_of_thought"
    needs_executor = True

    class Config(PromptedSampling):
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)
        prompt: str = POT_PROMPT
        system: str | None = "You are an expert Python programmer and mathematician."
        timeout_s: float = Field(10.0, gt=0)

    class Inputs(BaseModel):
        question: str

    class Outputs(BaseModel):
        answer: str | None
        program: str | None
        stdout: str = ""
        error: str | None = None
        killed_by: str | None = None

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        from ...sandboxes import Job

        c = self.config
        executor = ctx.require_executor()
        text = (await ctx.generate([c.render(inputs.question)], c.sampling()))[0].completions[0].text
        # Models often omit the closing fence at the end of a reply: accept it.
        code = last_code_block(text, require_closed=False)
        if code is None:
            return self.Outputs(answer=None, program=None, error="no python block in the reply")
        res = await executor.arun(Job(code=code, timeout_s=c.timeout_s))
        ctx.trace.add("tool_call", ctx.node_path, code=code, stdout=res.stdout[-500:], ok=res.ok, killed_by=res.killed_by)
        answer = None
        if res.ok:
            lines = [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
            answer = lines[-1] if lines else res.value
        return self.Outputs(answer=answer, program=code, stdout=res.stdout, error=res.error, killed_by=res.killed_by)
