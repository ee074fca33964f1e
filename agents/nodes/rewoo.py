"""ReWOO (Xu et al., arXiv 2305.18323): plan once, run the tools, solve once.

Three roles:

1. **Planner** (one LLM call): writes the whole plan up front, each step a tool
   call whose evidence is a variable (``#E1 = Python[...]``) that later inputs may
   use. The plan is parsed strictly (:mod:`lemmaflow.agents.nodes.rewoo_plan`); a
   malformed plan gets **one repair round**: the parser's error (naming the line)
   is shown to the model, which writes the plan again. Still malformed: the
   problem fails with :class:`~lemmaflow.agents.nodes.rewoo_plan.PlanError`
   (``on_bad_plan: fail``; the batch goes on) or abstains (``on_bad_plan: abstain``).
2. **Worker** (no LLM calls): runs the steps in dependency order, substituting
   ``#Ek`` with earlier evidence; steps whose inputs are ready run concurrently.
   A tool failure is evidence (``Error: ...``); a step whose input needs a failed
   step's evidence is not run and says so.
3. **Solver** (one LLM call): reads plans and evidence and writes the answer in ``\\boxed{}``.

So a problem costs two LLM calls (three with a repair) however many tools it uses,
against one call per tool for ReAct (:mod:`lemmaflow.agents.nodes.react`), whose
prompt grows with every observation. ``benchmarks/rewoo_vs_react.py`` measures the
difference in tokens.

Tools come from a :class:`~lemmaflow.agents.nodes.agent_tools.ToolRegistry`
passed explicitly (``ReWOO(tools=...)``), by default the built-ins named in
``config.tools`` that the run can serve (``retrieve`` only with a skill store).

Example (scripted model; a real run passes a real backend)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ReWOO
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.sandboxes import make_executor

    lm = ScriptedLM(["Plan: Multiply.\\n#E1 = Python[print(6 * 7)]\\nPlan: Add one.\\n#E2 = Sympy[#E1 + 1]",
                     "The evidence gives \\\\boxed{43}."])
    with make_executor("forkserver", pool_size=1) as ex:
        out = asyncio.run(ReWOO()(RunContext(backend=lm, executor=ex), question="6*7+1?"))
    assert out.answer == "43" and [s.evidence for s in out.steps] == ["42", "43"] and len(lm.calls) == 2
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from pydantic import BaseModel, Field

from ...tools.answers import extract_answer
from ..backends.base import ChatMessage, ChatPrompt, SamplingParams
from ..node import Node, NodeConfig
from .agent_tools import ToolName, ToolRegistry, default_tools
from .rewoo_plan import Plan, PlanError, PlanStep, parse_plan

__all__ = ["EvidenceStep", "PLANNER_PROMPT", "ReWOO", "SOLVER_PROMPT"]

PLANNER_PROMPT = """For the following task, make plans that can solve the problem step by step. For each plan, \
say which tool to call with which input to get evidence. Store the evidence in a variable #E1, #E2, ... that \
later tool inputs can use.

Tools:
{tools}

Write only lines of this form, nothing else:
Plan: <what this step does>
#E1 = Tool[input]
Plan: <next step, may use #E1>
#E2 = Tool[input that uses #E1]

Example:
Task: Tom has 3 boxes of 12 pencils and gives away 5. How many pencils are left?
Plan: Count all the pencils.
#E1 = Python[print(3 * 12)]
Plan: Take away the pencils given away.
#E2 = Sympy[#E1 - 5]

Task: {question}
"""

REPAIR_PROMPT = """Your plan could not be parsed: {error}
Write the whole plan again. Use only 'Plan: ...' lines, each followed by one '#E<n> = Tool[input]' line \
(n = 1, 2, 3, ...), with the tools {tools}."""

SOLVER_PROMPT = """Solve the following task. To solve it, a plan was made step by step and each step's evidence \
was retrieved by a tool. Use them with care: evidence may contain errors or irrelevant information.

{evidence}

Now solve the task using the evidence above. Give the final answer in \\boxed{{}}.

Task: {question}
"""

_REF = re.compile(r"#E(\d+)")


class EvidenceStep(BaseModel):
    index: int
    plan: str
    tool: str
    input: str  # as planned
    resolved_input: str | None = None  # with #Ek substituted (None: not run)
    evidence: str
    ok: bool
    deps: list[int] = []
    duration_s: float = 0.0


class ReWOO(Node):
    kind = "rewoo"
    needs_executor = True

    class Config(NodeConfig):
        tools: list[ToolName] = Field(default_factory=lambda: ["python", "sympy", "retrieve"],
                                      description="built-in tools offered (retrieve only with a skill store)")
        max_tokens: int = Field(384, ge=1, description="new tokens for the planner and the solver")
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)
        max_steps: int = Field(8, ge=1, le=64, description="a longer plan is malformed")
        repair_rounds: int = Field(1, ge=0, le=3, description="re-plans after a parse error")
        on_bad_plan: Literal["fail", "abstain"] = "fail"
        timeout_s: float = Field(10.0, gt=0, description="per tool call")
        evidence_max_chars: int = Field(600, ge=32, description="evidence shown to the solver, per step")
        system: str | None = "You are a careful planner and mathematician."
        planner_prompt: str = PLANNER_PROMPT
        solver_prompt: str = SOLVER_PROMPT

    class Inputs(BaseModel):
        question: str

    class Outputs(BaseModel):
        answer: str | None
        chain: str  # the solver's reply
        plan: str  # the parsed plan, canonical form ("" if none parsed)
        steps: list[EvidenceStep]
        repairs: int  # repair rounds used
        plan_error: str | None = None  # the last parse error (set when the plan was given up on)

    def __init__(self, config=None, *, tools: ToolRegistry | None = None, **overrides):
        super().__init__(config, **overrides)
        self._tools = tools

    def _registry(self, ctx) -> ToolRegistry:
        if self._tools is not None:
            return self._tools
        return default_tools(self.config.tools, timeout_s=self.config.timeout_s).available(ctx)

    def _params(self, stop: tuple[str, ...] = ()) -> SamplingParams:
        c = self.config
        return SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, stop=stop)

    def _parse(self, text: str, tools: ToolRegistry) -> Plan:
        plan = parse_plan(text, tools.names(), tools.python_tools())
        if len(plan.steps) > self.config.max_steps:
            raise PlanError(plan.steps[self.config.max_steps].line,
                            f"more than {self.config.max_steps} steps; make a shorter plan")
        return plan

    async def plan(self, question: str, tools: ToolRegistry, ctx) -> tuple[Plan | None, str, int, PlanError | None]:
        """Planner call plus repair rounds: (plan or None, last planner text, repairs used, last error)."""
        c = self.config
        pctx = ctx.child("planner")
        messages = ([ChatMessage(role="system", content=c.system)] if c.system else []) + [
            ChatMessage(role="user", content=c.planner_prompt.format(tools=tools.describe(), question=question))]
        # Stop before the model invents evidence or a new task.
        stops = ("\nTask:", "\nEvidence", "\nObservation")
        error: PlanError | None = None
        text = ""
        for attempt in range(c.repair_rounds + 1):
            text = (await pctx.generate([ChatPrompt(messages=tuple(messages))], self._params(stops)))[0].completions[0].text
            try:
                plan = self._parse(text, tools)
            except PlanError as e:
                error = e
                pctx.trace.add("info", pctx.node_path, plan_error=str(e), attempt=attempt, error_type=type(e).__name__)
                messages += [ChatMessage(role="assistant", content=text),
                             ChatMessage(role="user", content=REPAIR_PROMPT.format(
                                 error=e, tools=", ".join(n.capitalize() for n in tools.names())))]
                continue
            return plan, text, attempt, None
        return None, text, c.repair_rounds, error

    async def work(self, plan: Plan, tools: ToolRegistry, ctx) -> list[EvidenceStep]:
        """Run every step (no LLM calls): in dependency order, independent steps concurrently."""
        wctx = ctx.child("worker")
        done: dict[int, EvidenceStep] = {}

        async def one(step: PlanStep) -> EvidenceStep:
            failed = [d for d in step.deps if not done[d].ok]
            base = dict(index=step.index, plan=step.plan, tool=step.tool, input=step.input, deps=list(step.deps))
            if failed:
                names = ", ".join(f"#E{d}" for d in failed)
                ev = EvidenceStep(**base, evidence=f"Error: not run: its input needs {names}, which failed", ok=False)
            else:
                arg = _REF.sub(lambda m: done[int(m.group(1))].evidence.strip(), step.input)
                res = await tools.get(step.tool)(arg, wctx)
                ev = EvidenceStep(**base, resolved_input=arg, evidence=res.text, ok=res.ok, duration_s=res.duration_s)
            wctx.trace.add("tool_call", wctx.node_path, step=step.var, tool=step.tool, code=ev.resolved_input or step.input,
                           output=ev.evidence, ok=ev.ok)
            return ev

        for level in plan.levels():
            for ev in await asyncio.gather(*(one(s) for s in level)):
                done[ev.index] = ev
        return [done[s.index] for s in plan.steps]

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        tools = self._registry(ctx)
        if not len(tools):
            raise RuntimeError(f"node {ctx.node_path!r}: no usable tools (configured {c.tools}); "
                               "pass executor=make_executor(...) (python, sympy) or store=open_store(...) (retrieve)")
        plan, text, repairs, error = await self.plan(inputs.question, tools, ctx)
        if plan is None:
            msg = f"the planner's plan is malformed after {repairs} repair round(s): {error}"
            if c.on_bad_plan == "fail":
                raise type(error)(error.line, f"{error.message} (planner gave up after {repairs} repair round(s))") from error
            return self.Outputs(answer=None, chain="", plan="", steps=[], repairs=repairs, plan_error=msg)
        ctx.trace.add("plan", ctx.node_path, graph="rewoo", steps=[
            {"id": s.var, "text": s.plan, "detail": f"{s.tool}[{s.input}]", "deps": [f"#E{d}" for d in s.deps]}
            for s in plan.steps])
        steps = await self.work(plan, tools, ctx)
        evidence = "\n".join(
            f"Plan: {s.plan}\nEvidence {'#E%d' % s.index} ({s.tool}): {_clip(s.evidence, c.evidence_max_chars)}"
            for s in steps)
        prompt = c.solver_prompt.format(evidence=evidence, question=inputs.question)
        sctx = ctx.child("solver")
        chain = (await sctx.generate([ChatPrompt.user(prompt, system=c.system)], self._params()))[0].completions[0].text
        ext = extract_answer(chain)
        return self.Outputs(answer=ext.answer, chain=chain, plan=plan.render(), steps=steps, repairs=repairs)


def _clip(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n - 14] + " [...truncated]"
