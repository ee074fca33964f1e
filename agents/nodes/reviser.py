"""Reviser: rewrite each candidate in light of its critique (Archon's critic -> reviser, arXiv 2409.15254).

The reviser holds its candidate source, usually a :class:`~lemmaflow.agents.nodes.Critic`
(see :mod:`lemmaflow.agents.nodes.candidates`), and asks the model, in ONE batched
call, for a corrected version of every candidate, showing its critique when it
has one. A candidate whose critique says it has no flaws passes unchanged
(``keep_flawless``, no tokens spent on it). The revised candidates go to the
next layer; the reviser's answer is their majority answer. A revision that
states no answer keeps the original candidate.

Example (scripted model: two samples, their critiques, one revision)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import Critic, Reviser

    def lm_fn(prompt, i):
        if "Revise" in prompt:
            return "Fixed: 2+2 = 4, \\\\boxed{4}"
        if "List the flaws" in prompt:
            return "- 2+2 is not 5." if "boxed{5}" in prompt else "No flaws."
        return ["\\\\boxed{4}", "\\\\boxed{5}"][i % 2]

    node = Reviser(source=Critic(source={"type": "chain_of_thought", "config": {"temperature": 0.7}}, n=2))
    out = asyncio.run(node(RunContext(backend=ScriptedLM(lm_fn)), question="2+2?"))
    assert [c.answer for c in out.candidates] == ["4", "4"] and out.revised == [False, True]
"""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from ...tools.answers import extract_answer
from ..backends.base import SamplingParams
from .candidates import Candidate, CandidateLayer, CandidateOutputs, consensus_answer
from .prompts import MATH_SYSTEM, build_prompt

__all__ = ["REVISER_PROMPT", "Reviser"]

REVISER_PROMPT = (
    "Problem: {question}\n\nA proposed solution:\n{solution}\n\n{critique}"
    "Revise the solution: fix every mistake and write the complete corrected solution. "
    "Put the final answer in \\boxed{}."
)
_NO_FLAWS = re.compile(r"^\W*no flaws\W*$", re.IGNORECASE)


class Reviser(CandidateLayer):
    kind = "reviser"

    class Config(CandidateLayer.Config):
        prompt: str = REVISER_PROMPT
        system: str | None = MATH_SYSTEM
        chat: bool = True
        temperature: float = Field(0.0, ge=0)
        max_tokens: int = Field(512, ge=1)
        max_solution_chars: int = Field(4000, ge=1, description="longer candidate chains are cut (from the start)")
        keep_flawless: bool = True  # a candidate whose critique is "No flaws." is not revised
        model: str = "generator"

        @model_validator(mode="after")
        def _check_prompt(self):
            for f in ("{question}", "{solution}", "{critique}"):
                if f not in self.prompt:
                    raise ValueError(f"reviser prompt must contain {f}")
            return self

    class Outputs(CandidateOutputs):
        revised: list[bool]  # per candidate: was it rewritten (and did the rewrite state an answer)

    def _render(self, question: str, cand: Candidate):
        c = self.config
        critique = f"A reviewer's critique of it:\n{cand.critique.strip()}\n\n" if cand.critique else ""
        text = (c.prompt.replace("{question}", question).replace("{solution}", cand.chain[-c.max_solution_chars:])
                .replace("{critique}", critique))
        return build_prompt("{question}", text, c.system, c.chat)

    async def run(self, inputs, ctx) -> Outputs:
        c = self.config
        cands, budget_limited = await self.gather(ctx, inputs.question)
        todo = [i for i, cand in enumerate(cands)
                if not (c.keep_flawless and cand.critique and _NO_FLAWS.match(cand.critique.strip()))]
        revised = [False] * len(cands)
        if todo:
            params = SamplingParams(n=1, temperature=c.temperature, max_tokens=c.max_tokens)
            gens = await ctx.generate([self._render(inputs.question, cands[i]) for i in todo], params, model=c.model)
            for i, g in zip(todo, gens):
                text = g.completions[0].text
                answer = extract_answer(text).answer
                if answer is not None:  # a revision without an answer keeps the original
                    cands[i] = Candidate(chain=text, answer=answer)
                    revised[i] = True
        answer = await consensus_answer(ctx, cands)
        best = next((x for x in cands if answer is not None and x.answer == answer), cands[0])
        ctx.trace.add("info", ctx.node_path, event="revise", revised=revised, answers=[x.answer for x in cands])
        return self.Outputs(answer=answer, chain=best.chain, candidates=cands, samples_used=len(cands),
                            budget_limited=budget_limited, revised=revised)
