"""Tool-integrated reasoning (ToRA, arXiv 2309.17452): rationale → code → output → …

Each round the model writes reasoning and a ```` ```python ```` block; generation
halts at the block's end (stop sequences), the block runs in the problem's
sandbox **session** (variables survive between rounds), and its output is fed
back as an ```` ```output ```` block in the model's own message, which the model
then continues. The chain ends at a ``\\boxed{}`` answer, when the model stops
without code, or after ``max_rounds`` executions. Every problem's rounds go
through the same backend, so rounds of all problems are batched together.

:class:`DotaMath` (arXiv 2407.04078) is the same loop with a decomposition
prompt and explicit self-correction: a failing block's error is fed back with a
request to fix it, up to ``max_corrections`` times.

Example (scripted model; a real run passes a real backend)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ToRA
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.sandboxes import make_executor

    lm = ScriptedLM(["Compute.\\n```python\\nprint(6*7)\\n```\\n", "So \\\\boxed{42}."])
    with make_executor("forkserver", pool_size=1) as ex:
        out = asyncio.run(ToRA()(RunContext(backend=lm, executor=ex), question="6*7?"))
    assert out.answer == "42" and out.executions[0].output.strip() == "42"
"""

from __future__ import annotations

import asyncio
import re

from pydantic import BaseModel, Field

from ...tools.answers import extract_answer
from ...tools.interpreter import format_output, last_code_block
from ..backends.base import ChatMessage, ChatPrompt, SamplingParams
from ..node import Node, NodeConfig

__all__ = ["DotaMath", "Execution", "ToRA", "ToRAExample"]

TORA_SYSTEM = (
    "Integrate step-by-step reasoning and Python code to solve math problems. "
    "Write code in ```python blocks and print the results you need; after each block you will "
    "see its output in an ```output block. Put the final answer in \\boxed{}."
)
DOTAMATH_SYSTEM = (
    "Solve math problems by decomposition. First list the sub-tasks. Then solve them one at a "
    "time: for each sub-task write a short explanation and a ```python block that prints its "
    "result; you will see the output in an ```output block. If the code fails, read the error, "
    "fix the code and run it again. Finally put the answer in \\boxed{}."
)
# Halts generation at the end of a code block. "```output" is ToRA-trained
# models' own marker; "\n```\n" ends a fenced block for instruct models.
TIR_STOPS = ("```output", "\n```\n")
_BOXED = re.compile(r"\\boxed\s*\{")


class ToRAExample(BaseModel):
    """A worked few-shot example: a question and the model's ideal reply.

    The solution is written exactly as the model should write a chain: short
    ```` ```python ```` blocks, each followed by its ```` ```output ```` block, and
    a ``\\boxed{}`` answer. Examples go in as earlier chat turns (user question,
    assistant solution), which small instruct models follow far more readily
    than examples pasted into the system prompt.
    """

    question: str = Field(min_length=1)
    solution: str = Field(min_length=1)


class Execution(BaseModel):
    round: int
    code: str
    output: str  # what the model was shown
    ok: bool
    killed_by: str | None = None
    session_reset: bool = False
    duration_s: float = 0.0


class ToRA(Node):
    kind = "tora"
    needs_executor = True

    class Config(NodeConfig):
        max_rounds: int = Field(4, ge=1, le=32, description="code executions per chain")
        max_tokens: int = Field(512, ge=1, description="new tokens per generation step")
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)
        system: str = TORA_SYSTEM
        examples: list[ToRAExample] = Field(default_factory=list, description="few-shot turns before the question")
        timeout_s: float = Field(10.0, gt=0, description="wall-clock limit of one code block")
        output_max_chars: int = Field(800, ge=64, description="executor output shown to the model")
        max_corrections: int | None = Field(None, ge=0, description="failed blocks tolerated (None: no limit)")
        correction_prompt: str | None = None

    class Inputs(BaseModel):
        question: str

    class Outputs(BaseModel):
        answer: str | None
        chain: str
        rounds: int
        executions: list[Execution]
        finish: str  # "answer", "no_code", "max_rounds", "length", "corrections"

    def prompt(self, question: str) -> ChatPrompt:
        """The conversation every round continues: system, few-shot turns, the question."""
        c = self.config
        msgs = [ChatMessage(role="system", content=c.system)] if c.system else []
        for ex in c.examples:
            msgs += [ChatMessage(role="user", content=ex.question), ChatMessage(role="assistant", content=ex.solution)]
        msgs.append(ChatMessage(role="user", content=question))
        return ChatPrompt(messages=tuple(msgs))

    def _feedback(self, res, shown: str) -> str:
        """The ```output block for one execution (DotaMath adds a fix request on errors)."""
        block = f"```output\n{shown}\n```\n"
        if not res.ok and self.config.correction_prompt:
            block += self.config.correction_prompt + "\n"
        return block

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        from ...sandboxes import Job  # lazily, like every code-running node

        c = self.config
        executor = ctx.require_executor()
        base = self.prompt(inputs.question)
        params = SamplingParams(
            n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
            stop=TIR_STOPS, include_stop_str_in_output=True,
        )
        # Made at once (no thread hop): every chain's first generate call then
        # reaches the engine in the same burst.  Creating a session touches no server.
        session = executor.session()
        chain, executions, failures, finish = "", [], 0, "max_rounds"
        try:
            # max_rounds executions, plus steps that stopped at a non-code fence.
            for _step in range(2 * c.max_rounds + 1):
                comp = (await ctx.generate([base.continued(chain)], params))[0].completions[0]
                text = comp.text
                if text.endswith("```output"):
                    text = text[: -len("```output")]
                    # "```output" may double as the block's closing fence: close it.
                    if last_code_block(text, require_closed=True) is None and last_code_block(text) is not None:
                        text = text.rstrip("\n") + "\n```\n"
                chain += text
                code = last_code_block(text, require_closed=True)
                if code is None:
                    if comp.finish_reason == "length":
                        finish = "length"
                        break
                    if comp.stop_reason == "\n```\n" and not _BOXED.search(text):
                        continue  # a non-python fence closed; let the model go on
                    finish = "answer" if _BOXED.search(text) else "no_code"
                    break
                if len(executions) >= c.max_rounds:
                    finish = "max_rounds"
                    break
                res = await session.arun(Job(code=code, timeout_s=c.timeout_s))
                shown = format_output(res, max_chars=c.output_max_chars)
                executions.append(Execution(
                    round=len(executions) + 1, code=code, output=shown, ok=res.ok, killed_by=res.killed_by,
                    session_reset=res.session_reset, duration_s=res.duration_s,
                ))
                ctx.trace.add("tool_call", ctx.node_path, code=code, output=shown, ok=res.ok, killed_by=res.killed_by)
                if not chain.endswith("\n"):
                    chain += "\n"
                chain += self._feedback(res, shown)
                if not res.ok:
                    failures += 1
                    if c.max_corrections is not None and failures > c.max_corrections:
                        finish = "corrections"
                        break
        finally:
            aclose = getattr(session, "aclose", None)
            await (aclose() if aclose is not None else asyncio.to_thread(session.close))
        ext = extract_answer(chain)
        answer = ext.answer if (finish == "answer" or ext.method in ("boxed", "answer_is")) else None
        return self.Outputs(answer=answer, chain=chain, rounds=len(executions), executions=executions, finish=finish)


class DotaMath(ToRA):
    """ToRA's loop with decomposition into sub-tasks and error-driven self-correction."""

    kind = "dotamath"

    class Config(ToRA.Config):
        system: str = DOTAMATH_SYSTEM
        max_rounds: int = Field(6, ge=1, le=32)
        max_corrections: int | None = Field(2, ge=0)
        correction_prompt: str | None = (
            "The code above failed. Explain the mistake in one sentence, then write a corrected "
            "```python block for the same sub-task."
        )
