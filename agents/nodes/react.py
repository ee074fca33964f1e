"""ReAct (Yao et al., arXiv 2210.03629): Thought → Action → Observation, interleaved.

The baseline ReWOO (arXiv 2305.18323) is measured against. Each step the model
continues its own message with ``Thought: ...`` and either ``Action: Tool[input]``
or ``Final Answer: ...``; generation halts before ``Observation:`` (a stop
sequence), the tool runs (same registry as :class:`~lemmaflow.agents.nodes.rewoo.ReWOO`),
and ``Observation: <result>`` is appended to the message, which the model then
continues. So every tool use costs one more LLM call whose prompt holds the whole
transcript so far: prompt tokens grow with each step.

The chain ends at ``Final Answer:`` (or a ``\\boxed{}`` answer), when the model
writes neither an action nor an answer, when a reply is cut off, or after
``max_steps`` tool calls.

Example (scripted model)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ReAct
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.sandboxes import make_executor

    lm = ScriptedLM(["Thought: multiply.\\nAction: Python[print(6 * 7)]\\n",
                     "Thought: done.\\nFinal Answer: \\\\boxed{42}"])
    with make_executor("forkserver", pool_size=1) as ex:
        out = asyncio.run(ReAct()(RunContext(backend=lm, executor=ex), question="6*7?"))
    assert out.answer == "42" and out.actions[0].observation == "42" and out.finish == "answer"
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from ...tools.answers import extract_answer
from ..backends.base import ChatPrompt, SamplingParams
from ..node import Node, NodeConfig
from .agent_tools import ToolName, ToolRegistry, default_tools
from .rewoo_plan import scan_bracketed

__all__ = ["Action", "REACT_PROMPT", "ReAct"]

REACT_PROMPT = """Answer the question by reasoning and using tools. Use exactly this format:
Thought: <your reasoning>
Action: Tool[input]
Observation: <the tool's result; it is written for you>
... (Thought / Action / Observation may repeat)
Thought: I now know the answer.
Final Answer: \\boxed{{<answer>}}

Tools:
{tools}

Example:
Question: Tom has 3 boxes of 12 pencils and gives away 5. How many pencils are left?
Thought: First count all the pencils.
Action: Python[print(3 * 12)]
Observation: 36
Thought: Take away the 5 given away.
Action: Sympy[36 - 5]
Observation: 31
Thought: I now know the answer.
Final Answer: \\boxed{{31}}

Question: {question}
"""

_ACTION = re.compile(r"Action\s*:\s*([A-Za-z_]\w*)\s*\[")
_FINAL = re.compile(r"Final Answer\s*:", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\s*\{")


class Action(BaseModel):
    step: int
    tool: str
    input: str
    observation: str
    ok: bool
    duration_s: float = 0.0


class ReAct(Node):
    kind = "react"
    needs_executor = True

    class Config(NodeConfig):
        tools: list[ToolName] = Field(default_factory=lambda: ["python", "sympy", "retrieve"])
        max_steps: int = Field(6, ge=1, le=64, description="tool calls per chain")
        max_tokens: int = Field(256, ge=1, description="new tokens per step")
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)
        timeout_s: float = Field(10.0, gt=0, description="per tool call")
        observation_max_chars: int = Field(600, ge=32)
        system: str | None = "You are a careful problem solver who uses tools."
        prompt: str = REACT_PROMPT

    class Inputs(BaseModel):
        question: str

    class Outputs(BaseModel):
        answer: str | None
        chain: str
        actions: list[Action]
        finish: str  # "answer", "no_action", "max_steps", "length"

    def __init__(self, config=None, *, tools: ToolRegistry | None = None, **overrides):
        super().__init__(config, **overrides)
        self._tools = tools

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        tools = self._tools if self._tools is not None else default_tools(c.tools, c.timeout_s).available(ctx)
        if not len(tools):
            raise RuntimeError(f"node {ctx.node_path!r}: no usable tools (configured {c.tools}); "
                               "pass executor=make_executor(...) or store=open_store(...)")
        base = ChatPrompt.user(c.prompt.format(tools=tools.describe(), question=inputs.question), system=c.system)
        params = SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
                                stop=("\nObservation:", "Observation:", "\nQuestion:"))
        chain, actions, finish = "", [], "max_steps"
        for _step in range(c.max_steps + 1):
            comp = (await ctx.generate([base.continued(chain)], params))[0].completions[0]
            text = comp.text
            chain += text
            action = _last_action(text, tools)
            if _FINAL.search(text) or (action is None and _BOXED.search(text)):
                finish = "answer"
                break
            if action is None:
                finish = "length" if comp.finish_reason == "length" else "no_action"
                break
            if len(actions) >= c.max_steps:
                finish = "max_steps"
                break
            tool, arg = action
            if tool is None:
                obs, ok, dur = f"Error: unknown tool {arg!r}; available: {', '.join(tools.names())}", False, 0.0
                arg = ""
            else:
                res = await tools.get(tool)(arg, ctx)
                obs, ok, dur = res.text, res.ok, res.duration_s
            obs = obs.strip()
            if len(obs) > c.observation_max_chars:
                obs = obs[: c.observation_max_chars - 14] + " [...truncated]"
            actions.append(Action(step=len(actions) + 1, tool=tool or "?", input=arg, observation=obs, ok=ok, duration_s=dur))
            ctx.trace.add("tool_call", ctx.node_path, tool=tool, code=arg, output=obs, ok=ok)
            if not chain.endswith("\n"):
                chain += "\n"
            chain += f"Observation: {obs}\n"
        final = _FINAL.split(chain)[-1] if _FINAL.search(chain) else chain
        ext = extract_answer(final)
        answer = ext.answer if finish == "answer" or ext.method in ("boxed", "answer_is") else None
        return self.Outputs(answer=answer, chain=chain, actions=actions, finish=finish)


def _last_action(text: str, tools: ToolRegistry) -> tuple[str | None, str] | None:
    """(tool, input) of the last complete ``Action: Tool[input]``; (None, name) for an unknown tool."""
    found = None
    for m in _ACTION.finditer(text):
        name = m.group(1)
        try:
            tool = tools.get(name)
        except KeyError:
            found = (None, name)
            continue
        close = scan_bracketed(text, m.end(), python=tool.python_input)
        if close is not None:
            found = (tool.name, text[m.end():close].strip())
    return found
