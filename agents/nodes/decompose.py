"""Decomposition: split a problem into sub-questions, solve each with another node, compose.

Least-to-most prompting (Zhou et al., arXiv 2205.10625) with the sub-question
graph made explicit, as in plan-and-solve / ReWOO-style planners (arXiv 2305.18323):

1. **Decompose** (one LLM call): the model lists sub-questions, one per line,
   ``Q1: ...``, and may state what each needs: ``Q3: ... [uses Q1, Q2]``.
   Stated dependencies form a DAG (references to later or unknown sub-questions
   are dropped and noted); with ``dependencies: sequential`` every sub-question
   needs all earlier ones (classic least-to-most).
2. **Solve**: each sub-question goes to the ``inner`` node (any node with a
   ``question`` input and an ``answer`` output: ``chain_of_thought``,
   ``program_of_thought``, ``tora``, ``rewoo``, ...) with the problem as context
   and the answers of the sub-questions it needs. Sub-questions whose needs are
   answered run concurrently, so their LLM calls batch together. A sub-question
   that fails is recorded with its error; the others go on.
3. **Compose** (one LLM call): the problem plus every sub-question and answer → ``\\boxed{}``.

If the reply lists no sub-question, the inner node solves the whole problem.
The sub-question graph is a ``plan`` trace event (``graph: decompose``; the
final event has the answers), drawn by ``lemmaflow trace show --html``.

Example (scripted model)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ChainOfThought, Decompose
    from lemmaflow.agents.backends import ScriptedLM

    def lm(prompt, i):
        if "Break" in prompt: return "Q1: How many pencils in all?\\nQ2: How many are left? [uses Q1]"
        if "Compose" in prompt: return "So \\\\boxed{31}."
        return "\\\\boxed{36}" if "in all" in prompt.split("Question:")[-1] else "36 - 5 = \\\\boxed{31}"
    out = asyncio.run(Decompose(inner=ChainOfThought())(RunContext(backend=ScriptedLM(lm)), question="..."))
    assert out.answer == "31" and out.subquestions[1].deps == [1] and out.subquestions[0].answer == "36"
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from pydantic import BaseModel, Field

from ...tools.answers import extract_answer
from ..backends.base import ChatPrompt, SamplingParams
from ..budget import BudgetExceeded
from ..node import Node, NodeConfig
from .vote import InnerSpec
from ..registry import default_registry

__all__ = ["COMPOSE_PROMPT", "DECOMPOSE_PROMPT", "Decompose", "SubQuestion", "parse_subquestions"]

DECOMPOSE_PROMPT = """Break the problem below into at most {max_subquestions} simpler sub-questions whose answers \
lead to the answer. Write one per line as "Q1: ...", "Q2: ...". If a sub-question needs the answers of earlier \
ones, end its line with [uses Q1] or [uses Q1, Q2]. Write only the sub-questions.

Problem: {question}
"""

SUB_PROMPT = """Context: {question}
{known}Question: {sub}"""

COMPOSE_PROMPT = """Compose the answer to the problem from the answers to its sub-questions.

Problem: {question}

{answers}

Give the final answer to the problem in \\boxed{{}}."""

_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:\*\*)?Q(\d+)(?:\*\*)?\s*[:.)]\s*(.+?)\s*$", re.IGNORECASE)
_DEPS = re.compile(r"[\[(]\s*(?:uses|needs|depends on|after)\s*:?\s*([^\])]*)[\])]\s*$", re.IGNORECASE)
_QREF = re.compile(r"Q(\d+)", re.IGNORECASE)


class SubQuestion(BaseModel):
    id: int  # position, 1-based
    text: str
    deps: list[int] = []
    answer: str | None = None
    error: str | None = None
    note: str | None = None  # e.g. dropped dependencies


def parse_subquestions(text: str, max_subquestions: int, sequential: bool = False) -> list[SubQuestion]:
    """``Q<n>: text [uses Qi, ...]`` lines, renumbered 1.. in order; other lines are ignored."""
    out: list[SubQuestion] = []
    label_to_id: dict[int, int] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or len(out) >= max_subquestions:
            continue
        body, deps_text = m.group(2), ""
        d = _DEPS.search(body)
        if d:
            body, deps_text = body[: d.start()].strip(), d.group(1)
        if not body:
            continue
        sid = len(out) + 1
        label_to_id.setdefault(int(m.group(1)), sid)
        deps, dropped = [], []
        for r in _QREF.findall(deps_text):
            target = label_to_id.get(int(r))
            if target is None or target >= sid:
                dropped.append(f"Q{r}")
            elif target not in deps:
                deps.append(target)
        if sequential:
            deps = list(range(1, sid))
        note = f"ignored dependencies on {', '.join(dropped)} (not an earlier sub-question)" if dropped else None
        out.append(SubQuestion(id=sid, text=body, deps=sorted(deps), note=note))
    return out


class Decompose(Node):
    kind = "decompose"

    class Config(NodeConfig):
        inner: InnerSpec = Field(default_factory=lambda: InnerSpec(type="chain_of_thought", config={"temperature": 0.0}))
        max_subquestions: int = Field(5, ge=1, le=20)
        dependencies: Literal["stated", "sequential"] = "stated"
        max_tokens: int = Field(256, ge=1, description="new tokens for the decompose and compose calls")
        temperature: float = Field(0.0, ge=0)
        system: str | None = "You are a careful mathematician."
        decompose_prompt: str = DECOMPOSE_PROMPT
        compose_prompt: str = COMPOSE_PROMPT

    class Inputs(BaseModel):
        question: str

    class Outputs(BaseModel):
        answer: str | None
        chain: str  # the compose reply (or the inner node's chain when there was nothing to decompose)
        decomposition: str  # the decompose reply
        subquestions: list[SubQuestion]
        finish: str  # "composed", "no_subquestions"

    def __init__(self, config=None, *, inner: Node | None = None, **overrides):
        if inner is not None:
            overrides["inner"] = InnerSpec(type=inner.kind, config=inner.config.model_dump(mode="json"))
        super().__init__(config, **overrides)
        if inner is None:
            inner = default_registry().get(self.config.inner.type)(self.config.inner.config)
        if "answer" not in inner.Outputs.model_fields or "question" not in inner.Inputs.model_fields:
            raise ValueError(f"Decompose needs an inner node with a `question` input and an `answer` output; "
                             f"{inner.kind} has not")
        self.inner = inner
        self.needs_executor = getattr(inner, "needs_executor", False)

    def _params(self) -> SamplingParams:
        return SamplingParams(n=1, temperature=self.config.temperature, max_tokens=self.config.max_tokens)

    def _trace_graph(self, ctx, subs: list[SubQuestion]) -> None:
        ctx.trace.add("plan", ctx.node_path, graph="decompose", steps=[
            {"id": f"Q{s.id}", "text": s.text, "deps": [f"Q{d}" for d in s.deps], "answer": s.answer,
             "error": s.error} for s in subs])

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        prompt = c.decompose_prompt.format(max_subquestions=c.max_subquestions, question=inputs.question)
        dctx = ctx.child("decompose")
        text = (await dctx.generate([ChatPrompt.user(prompt, system=c.system)], self._params()))[0].completions[0].text
        subs = parse_subquestions(text, c.max_subquestions, sequential=c.dependencies == "sequential")
        if not subs:
            out = await self.inner(ctx.child("direct"), question=inputs.question)
            return self.Outputs(answer=out.answer, chain=str(getattr(out, "chain", "")), decomposition=text,
                                subquestions=[], finish="no_subquestions")
        self._trace_graph(ctx, subs)
        by_id = {s.id: s for s in subs}

        async def solve(s: SubQuestion) -> None:
            known = "".join(f"Known: {by_id[d].text} Answer: {by_id[d].answer}\n" for d in s.deps)
            q = SUB_PROMPT.format(question=inputs.question, known=known, sub=s.text)
            try:
                out = await self.inner(ctx.child(f"q{s.id}"), question=q)
                s.answer = out.answer
            except BudgetExceeded:
                raise
            except Exception as e:  # one sub-question failing does not sink the others
                s.error = f"{type(e).__name__}: {e}"

        pending = {s.id for s in subs}
        while pending:  # deps always point to earlier ids, so each round makes progress
            ready = [by_id[i] for i in sorted(pending) if not pending.intersection(by_id[i].deps)]
            await asyncio.gather(*(solve(s) for s in ready))
            pending -= {s.id for s in ready}
        self._trace_graph(ctx, subs)
        answers = "\n".join(f"Q{s.id}: {s.text}\nA{s.id}: {s.answer if s.answer is not None else '(no answer: ' + (s.error or 'abstained') + ')'}"
                            for s in subs)
        cprompt = c.compose_prompt.format(question=inputs.question, answers=answers)
        chain = (await ctx.child("compose").generate([ChatPrompt.user(cprompt, system=c.system)], self._params()))[0].completions[0].text
        return self.Outputs(answer=extract_answer(chain).answer, chain=chain, decomposition=text, subquestions=subs,
                            finish="composed")
