"""Critic: list the flaws of each candidate with the model (Archon, arXiv 2409.15254).

The critic holds its candidate source (see :mod:`lemmaflow.agents.nodes.candidates`)
and asks the ``critic`` model role (the generator unless configured otherwise)
to list each candidate's flaws, in ONE batched call (one prompt per
candidate). The critiques ride on the candidates (``Candidate.critique``), so a
:class:`~lemmaflow.agents.nodes.Fuser` holding the critic shows them beside each
solution when it merges them (critique-then-fuse, as in Archon), and a ranker
above it passes them through. The critic's own answer is the candidates'
majority answer: it changes no answer itself.

Example (scripted model: two candidates, then their critiques)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import Critic

    def lm_fn(prompt, i):
        if "List the flaws" in prompt:
            return "- 2+2 is not 5." if "boxed{5}" in prompt else "No flaws."
        return ["\\\\boxed{4}", "\\\\boxed{5}"][i % 2]

    node = Critic(source={"type": "chain_of_thought", "config": {"temperature": 0.7}}, n=2)
    out = asyncio.run(node(RunContext(backend=ScriptedLM(lm_fn)), question="2+2?"))
    assert [c.critique for c in out.candidates] == ["No flaws.", "- 2+2 is not 5."]
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ..backends.base import SamplingParams
from .candidates import CandidateLayer, CandidateOutputs, consensus_answer
from .prompts import MATH_SYSTEM, build_prompt

__all__ = ["CRITIC_PROMPT", "Critic"]

CRITIC_PROMPT = (
    "Problem: {question}\n\nProposed solution:\n{solution}\n\n"
    "List the flaws of this solution (wrong steps, arithmetic errors, a wrong final answer) as short "
    "bullet points. If it has none, write exactly: No flaws."
)


class Critic(CandidateLayer):
    kind = "critic"

    class Config(CandidateLayer.Config):
        prompt: str = CRITIC_PROMPT
        system: str | None = MATH_SYSTEM
        chat: bool = True
        temperature: float = Field(0.0, ge=0)
        max_tokens: int = Field(256, ge=1)
        max_solution_chars: int = Field(4000, ge=1, description="longer candidate chains are cut (from the start)")
        model: str = "critic"  # the model role that writes critiques

        @model_validator(mode="after")
        def _check_prompt(self):
            for f in ("{question}", "{solution}"):
                if f not in self.prompt:
                    raise ValueError(f"critic prompt must contain {f}")
            return self

    Outputs = CandidateOutputs

    def _render(self, question: str, solution: str):
        c = self.config
        text = c.prompt.replace("{question}", question).replace("{solution}", solution[-c.max_solution_chars:])
        return build_prompt("{question}", text, c.system, c.chat)

    async def run(self, inputs, ctx) -> CandidateOutputs:
        c = self.config
        cands, budget_limited = await self.gather(ctx, inputs.question)
        prompts = [self._render(inputs.question, cand.chain) for cand in cands]
        params = SamplingParams(n=1, temperature=c.temperature, max_tokens=c.max_tokens)
        gens = await ctx.generate(prompts, params, model=c.model)
        for cand, g in zip(cands, gens):
            cand.critique = g.completions[0].text.strip()
        answer = await consensus_answer(ctx, cands)
        best = next((x for x in cands if answer is not None and x.answer == answer), cands[0])
        return self.Outputs(answer=answer, chain=best.chain, candidates=cands, samples_used=len(cands),
                            budget_limited=budget_limited)
