"""Fuser: merge several candidate solutions into one with the model (Archon, arXiv 2409.15254).

The fuser holds its candidate source (see :mod:`lemmaflow.agents.nodes.candidates`),
shows the model the problem and every candidate (with its critique when a
:class:`~lemmaflow.agents.nodes.Critic` produced them) and asks for one
corrected, complete solution. It draws ``fusions`` fused solutions in one call
(prompt paid once); they are its candidates for the next layer, and its answer
is their majority answer (the first fused answer without an answer checker).
If no fused solution states an answer, the fuser falls back to the source
candidates' majority answer and says so (``fell_back``).

Example (scripted model: three samples, then the fusion)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import Fuser

    def lm_fn(prompt, i):
        if "candidate solutions" in prompt:
            return "Solutions 1 and 3 agree and check out: \\\\boxed{12}"
        return ["\\\\boxed{12}", "\\\\boxed{13}", "\\\\boxed{12}"][i % 3]

    node = Fuser(source={"type": "chain_of_thought", "config": {"temperature": 0.7}}, n=3)
    out = asyncio.run(node(RunContext(backend=ScriptedLM(lm_fn)), question="3*4?"))
    assert out.answer == "12" and out.samples_used == 3 and not out.fell_back
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ...tools.answers import extract_answer
from ..backends.base import SamplingParams
from .candidates import Candidate, CandidateLayer, CandidateOutputs, consensus_answer
from .prompts import MATH_SYSTEM, build_prompt

__all__ = ["FUSER_PROMPT", "Fuser"]

FUSER_PROMPT = (
    "Problem: {question}\n\nHere are candidate solutions from other solvers; some may be wrong.\n\n"
    "{candidates}\n\nUsing what is right in them and avoiding their mistakes, write one complete, correct "
    "solution. Put the final answer in \\boxed{}."
)


class Fuser(CandidateLayer):
    kind = "fuser"

    class Config(CandidateLayer.Config):
        fusions: int = Field(1, ge=1, le=64, description="fused solutions drawn (their majority is the answer)")
        prompt: str = FUSER_PROMPT
        system: str | None = MATH_SYSTEM
        chat: bool = True
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)
        max_tokens: int = Field(512, ge=1)
        max_solution_chars: int = Field(2000, ge=1, description="each candidate chain is cut to its last N chars")
        model: str = "generator"  # the model role that fuses

        @model_validator(mode="after")
        def _check_prompt(self):
            for f in ("{question}", "{candidates}"):
                if f not in self.prompt:
                    raise ValueError(f"fuser prompt must contain {f}")
            return self

    class Outputs(CandidateOutputs):
        fell_back: bool = False

    def _render(self, question: str, cands: list[Candidate]):
        c = self.config
        blocks = []
        for i, cand in enumerate(cands, 1):
            block = f"Solution {i}:\n{cand.chain[-c.max_solution_chars:].strip()}"
            if cand.critique:
                block += f"\nCritique of solution {i}:\n{cand.critique.strip()}"
            blocks.append(block)
        text = c.prompt.replace("{question}", question).replace("{candidates}", "\n\n".join(blocks))
        return build_prompt("{question}", text, c.system, c.chat)

    async def run(self, inputs, ctx) -> Outputs:
        c = self.config
        cands, budget_limited = await self.gather(ctx, inputs.question)
        params = SamplingParams(n=c.fusions, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens)
        gen = (await ctx.generate([self._render(inputs.question, cands)], params, model=c.model))[0]
        fused = [Candidate(chain=comp.text, answer=extract_answer(comp.text).answer) for comp in gen.completions]
        fell_back = all(f.answer is None for f in fused)
        answer = await consensus_answer(ctx, cands if fell_back else fused)
        ctx.trace.add("info", ctx.node_path, event="fuse", inputs=len(cands), fused=[f.answer for f in fused], answer=answer,
                      fell_back=fell_back)
        best = next((f for f in fused if f.answer is not None and f.answer == answer), fused[0])
        return self.Outputs(answer=answer, chain=best.chain, candidates=fused, samples_used=len(cands),
                            budget_limited=budget_limited, fell_back=fell_back)
