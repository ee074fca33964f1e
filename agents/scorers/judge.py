r"""LLM-as-judge step scorer (``type: judge``), after Deductive Verification of CoT (arXiv 2306.03872).

Each step is judged against its premises: the question and the steps before
it. The judge must end its reply with a line ``VERDICT: correct`` or
``VERDICT: incorrect``; a reply without one is an abstention (``None``), never
an error. With ``votes: k`` each step is judged k times (sampled) and scores the
share of ``correct`` among the verdicts given (the paper's majority over
verification samples). Every step of every request goes out in ONE generate
call on the model playing ``model`` (default role ``verifier``, which falls back
to the generator), so the engine batches them and the ledger books them under
that role.

Example (scripted judge)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.scorers import StepScoreRequest, build_scorer

    judge = ScriptedLM(lambda p, i: "VERDICT: incorrect" if "Step to check: 3 + 4 = 8" in p else "ok\nVERDICT: correct")
    ctx = RunContext(backend=judge)
    scorer = build_scorer({"type": "judge", "aggregate": "min"})
    [s] = asyncio.run(scorer.score(ctx, [StepScoreRequest(question="3+4?", steps=("3 + 4 = 8", "So 8."))]))
    assert s.steps == [0.0, 1.0] and s.value == 0.0
    assert ctx.ledger.per_model["verifier"].samples == 2
"""

from __future__ import annotations

import re
from typing import Sequence

from pydantic import Field, model_validator

from ..backends.base import ChatPrompt, SamplingParams
from .base import Aggregate, Scorer, ScorerConfig, StepScoreRequest, StepScores, aggregate_scores

__all__ = ["JUDGE_PROMPT", "JudgeScorer", "parse_verdict"]

JUDGE_SYSTEM = "You are a strict verifier of mathematical reasoning."
JUDGE_PROMPT = (
    "Check one step of a solution. Use only the premises: the problem and the earlier steps.\n\n"
    "Problem: {question}\n\n"
    "Earlier steps:\n{premises}\n\n"
    "Step to check: {step}\n\n"
    "Is this step correct, i.e. does it follow from the premises and is every calculation in it right? "
    "Explain briefly, then end with exactly one line: VERDICT: correct  or  VERDICT: incorrect"
)
_VERDICT = re.compile(r"verdict\s*[:\-]?\s*\**\s*(correct|incorrect|wrong|right|valid|invalid)\b", re.I)
_POSITIVE = {"correct", "right", "valid"}


def parse_verdict(text: str) -> bool | None:
    """The last ``VERDICT: correct|incorrect`` of a judge reply; None when there is none (abstain)."""
    found = _VERDICT.findall(text or "")
    if not found:
        return None
    return found[-1].lower() in _POSITIVE


class JudgeScorer(Scorer):
    kind = "judge"

    class Config(ScorerConfig):
        aggregate: Aggregate = "min"  # a chain is as good as its weakest step (deductive validity)
        model: str = "verifier"  # the role in RunContext.models; the generator when not configured
        votes: int = Field(1, ge=1, le=64, description="judgements per step")
        temperature: float | None = Field(None, ge=0, description="None: 0 for one vote, 0.7 for several")
        max_tokens: int = Field(256, ge=1)
        prompt: str = JUDGE_PROMPT
        system: str | None = JUDGE_SYSTEM
        chat: bool = True

        @model_validator(mode="after")
        def _check_prompt(self):
            missing = [f for f in ("{question}", "{premises}", "{step}") if f not in self.prompt]
            if missing:
                raise ValueError(f"judge prompt must contain {', '.join(missing)}")
            return self

    def render(self, question: str, premises: Sequence[str], step: str):
        c = self.config
        shown = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(premises)) or "(none)"
        text = c.prompt.format(question=question, premises=shown, step=step)
        if c.chat:
            return ChatPrompt.user(text, system=c.system)
        return f"{c.system}\n\n{text}\n" if c.system else text

    def sampling(self) -> SamplingParams:
        c = self.config
        temp = c.temperature if c.temperature is not None else (0.0 if c.votes == 1 else 0.7)
        return SamplingParams(n=c.votes, temperature=temp, max_tokens=c.max_tokens)

    async def judge_steps(self, ctx, items: Sequence[tuple[str, Sequence[str], int]]) -> list[dict]:
        """Judge ``(question, steps, index)`` items in one call: per item {score, verdicts, raw}."""
        if not items:
            return []
        prompts = [self.render(q, steps[:i], steps[i]) for q, steps, i in items]
        gens = await ctx.model(self.config.model).generate(prompts, self.sampling())
        out = []
        for g in gens:
            verdicts = [parse_verdict(comp.text) for comp in g.completions]
            given = [v for v in verdicts if v is not None]
            out.append({
                "score": sum(given) / len(given) if given else None,
                "verdicts": verdicts,
                "raw": [comp.text[-200:] for comp in g.completions],
            })
        return out

    async def score(self, ctx, requests: Sequence[StepScoreRequest]) -> list[StepScores]:
        items = [(r.question, r.steps, i) for r in requests for i in range(len(r.steps))]
        judged = iter(await self.judge_steps(ctx, items))
        results = []
        for r in requests:
            details, steps = [], []
            for _ in r.steps:
                j = next(judged)
                steps.append(j["score"])
                details.append({"judge": j["score"], "verdicts": j["verdicts"],
                                "why": "judge abstained (no VERDICT line)" if j["score"] is None else "judge"})
            results.append(StepScores(steps=steps, value=aggregate_scores(steps, self.config.aggregate),
                                      details=details))
        return results
