r"""FOBAR: forward-backward reasoning to verify self-consistency candidates (arXiv 2308.07758).

Forward: self-consistency draws ``n`` chains; each answer class gets its vote
share ``P_f``. Backward: a number of the question is masked as ``x``
(:mod:`lemmaflow.tools.masking`) and, for each candidate answer ``c`` among the
``top_k`` forward classes, the model is asked "If we know the answer to the
above question is c, what is the value of unknown variable x?" ``m`` times per
(masked question, candidate). ``P_b(c)`` is the share of those backward chains
whose answer equals the masked number (the run's :class:`AnswerChecker`
decides equality, so "0.5" recovers "1/2"). Candidates are ranked by

    score(c) = P_f(c)^alpha * P_b(c)^(1 - alpha)

(ties: higher ``P_f``, then the class seen first). The paper normalises
``P_b`` over the candidates first; that multiplies every score by the same
constant, so the ranking is the same and the raw share is reported.

All backward prompts of a problem go out in ONE ``ctx.generate`` call, so the
engine batches them (and the shared masked-question prefix is cached). The
backward pass is skipped when the forward vote is unanimous (nothing to
decide), when there is no candidate, or when the question has no maskable
number; ``backward_skipped`` says why. Backward samples are budgeted like any
others: if the budget cannot pay for them all, the node returns the forward
answer and sets ``budget_limited``.

Example (scripted model: the forward vote is split 2-1 for the wrong answer,
the backward check recovers the masked 3 only from the right one)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import FOBAR
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.tools.answers import AnswerChecker

    def lm(prompt, i):
        if "unknown variable x" in prompt:            # backward: x = 3 only if the candidate is 7
            return "\\boxed{3}" if "question is 7," in prompt else "\\boxed{5}"
        return ["\\boxed{8}", "\\boxed{7}", "\\boxed{8}"][i % 3]

    with AnswerChecker() as checker:
        ctx = RunContext(backend=ScriptedLM(lm), checker=checker)
        out = asyncio.run(FOBAR(n=3, m=2, mask="first")(ctx, question="Tom has 3 apples and buys 4 more. How many?"))
    assert out.forward_answer == "8" and out.answer == "7"
    assert [(c.answer, c.p_b) for c in out.candidates] == [("8", 0.0), ("7", 1.0)]
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, Field

from ...tools.answers import extract_answer
from ...tools.masking import Masking, MaskSelect, NoMaskableNumber, select_maskings
from ..budget import BudgetExceeded
from ..node import Node
from .prompts import PromptedSampling
from .self_consistency import SelfConsistency, VotedAnswer

__all__ = ["FOBAR", "BACKWARD_TEMPLATE", "BackwardCheck", "CandidateScore"]

BACKWARD_TEMPLATE = (
    "{masked_question} If we know the answer to the above question is {candidate}, "
    "what is the value of unknown variable x?"
)


class CandidateScore(BaseModel):
    """One forward candidate: forward vote share, backward recovery share, combined score."""

    answer: str
    votes: float
    p_f: float
    p_b: float | None  # None: no backward check ran for it
    score: float
    backward_samples: int = 0
    recovered: int = 0


class BackwardCheck(BaseModel):
    """M backward chains for one (masked question, candidate) pair."""

    candidate: str
    masked_question: str
    masked_text: str  # the number that was masked, as written in the question
    masked_value: str  # ... as an answer string
    kind: str
    answers: list[str | None]
    recovered: list[bool]


class FOBAR(Node):
    kind = "fobar"

    class Config(PromptedSampling):
        n: int = Field(8, ge=1, le=1024, description="forward samples (self-consistency)")
        m: int = Field(4, ge=1, le=256, description="backward samples per (masked question, candidate)")
        alpha: float = Field(0.5, ge=0.0, le=1.0, description="weight of the forward share in the score")
        top_k: int = Field(3, ge=1, description="forward classes checked backward")
        mask: MaskSelect = "all"
        max_masks: int = Field(2, ge=1, description="with mask=all: at most this many masked questions")
        skip_unanimous: bool = True
        backward_temperature: float | None = Field(None, ge=0, description="None: the forward temperature")
        backward_max_tokens: int | None = Field(None, ge=1, description="None: the forward max_tokens")
        backward_template: str = BACKWARD_TEMPLATE
        abstain_on_truncated: bool = True

    class Inputs(BaseModel):
        question: str

    class Outputs(VotedAnswer):
        chains: list[str]
        forward_answer: str | None
        candidates: list[CandidateScore]
        backward: list[BackwardCheck] = []
        maskings: list[Masking] = []
        backward_skipped: Literal["unanimous", "no_candidates", "no_maskable_number", "budget"] | None = None

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if "{masked_question}" not in c.backward_template or "{candidate}" not in c.backward_template:
            raise ValueError("backward_template must contain {masked_question} and {candidate}")
        # FOBAR holds a self-consistency node for its forward pass (composition, not a copy of SC).
        self.forward = SelfConsistency(
            n=c.n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, prompt=c.prompt,
            system=c.system, chat=c.chat, abstain_on_truncated=c.abstain_on_truncated,
        )

    def _backward_params(self, n: int):
        c = self.config
        sp = c.sampling(n)
        update = {}
        if c.backward_temperature is not None:
            update["temperature"] = c.backward_temperature
        if c.backward_max_tokens is not None:
            update["max_tokens"] = c.backward_max_tokens
        return sp.model_copy(update=update) if update else sp

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        checker = ctx.require_checker()
        fwd = await self.forward(ctx.child("forward"), question=inputs.question)
        voted = sum(v.votes for v in fwd.votes)
        cands = [
            CandidateScore(answer=v.answer, votes=v.votes, p_f=v.votes / voted if voted else 0.0, p_b=None,
                           score=v.votes / voted if voted else 0.0)
            for v in fwd.votes
        ]
        base = dict(
            votes=fwd.votes, extracted=fwd.extracted, chains=fwd.chains, forward_answer=fwd.answer,
            budget_limited=fwd.budget_limited,
        )

        def forward_result(reason, maskings=(), samples=fwd.samples_used, budget_limited=fwd.budget_limited):
            ctx.trace.add("info", ctx.node_path, fobar="backward skipped", reason=reason)
            return self.Outputs(answer=fwd.answer, confidence=fwd.confidence, candidates=cands,
                                maskings=list(maskings), samples_used=samples, backward_skipped=reason,
                                **{**base, "budget_limited": budget_limited})

        if not cands:
            return forward_result("no_candidates")
        if len(cands) == 1 and c.skip_unanimous:
            return forward_result("unanimous")
        try:
            maskings = select_maskings(inputs.question, c.mask, c.max_masks)
        except NoMaskableNumber:
            return forward_result("no_maskable_number")
        checked = cands[: c.top_k]
        pairs = [(mk, cand) for mk in maskings for cand in checked]
        prompts = [
            c.render(c.backward_template.format(masked_question=mk.masked, candidate=cand.answer))
            for mk, cand in pairs
        ]
        params = self._backward_params(c.m)
        bctx = ctx.child("backward")
        affordable = ctx.ledger.affordable_samples(params.max_tokens)
        if affordable is not None and affordable < len(prompts) * c.m:
            return forward_result("budget", maskings, budget_limited=True)
        try:
            gens = await bctx.generate(prompts, params)
        except BudgetExceeded as e:
            ctx.trace.add("budget_stop", bctx.node_path, error=str(e))
            return forward_result("budget", maskings, budget_limited=True)

        answers = [[self._answer_of(comp) for comp in g.completions] for g in gens]
        # One batched equivalence call for every backward chain of the problem.
        flat = [(k, a) for k, ans in enumerate(answers) for a in ans]
        verdicts = await asyncio.to_thread(
            checker.equivalent_many, [(a, pairs[k][0].answer) for k, a in flat if a is not None]
        )
        it = iter(verdicts)
        recovered = [[a is not None and next(it) for a in ans] for ans in answers]

        backward: list[BackwardCheck] = []
        for (mk, cand), ans, rec in zip(pairs, answers, recovered):
            cand.backward_samples += len(rec)
            cand.recovered += sum(rec)
            check = BackwardCheck(candidate=cand.answer, masked_question=mk.masked, masked_text=mk.text,
                                  masked_value=mk.answer, kind=mk.kind, answers=ans, recovered=rec)
            backward.append(check)
            ctx.trace.add("score", bctx.node_path, check="fobar_backward", candidate=cand.answer,
                          masked_value=mk.answer, masked_kind=mk.kind, answers=ans, recovered=rec,
                          p=sum(rec) / len(rec) if rec else 0.0)
        for i, cand in enumerate(cands):
            if i < len(checked):
                cand.p_b = cand.recovered / cand.backward_samples if cand.backward_samples else 0.0
                cand.score = cand.p_f ** c.alpha * cand.p_b ** (1 - c.alpha)
            else:
                cand.score = 0.0  # outside the top-k: not in the contest
        order = sorted(range(len(cands)), key=lambda i: (-cands[i].score, -cands[i].p_f, i))
        best = cands[order[0]]
        total = sum(x.score for x in cands)
        ctx.trace.add("vote", ctx.node_path, winner=best.answer, method="fobar", forward_winner=fwd.answer,
                      candidates=[x.model_dump() for x in cands])
        return self.Outputs(
            answer=best.answer, confidence=best.score / total if total > 0 else best.p_f, candidates=cands,
            backward=backward, maskings=maskings,
            samples_used=fwd.samples_used + sum(len(g.completions) for g in gens), **base,
        )

    def _answer_of(self, comp) -> str | None:
        ext = extract_answer(comp.text)
        if self.config.abstain_on_truncated and comp.finish_reason == "length" and ext.method == "final_number":
            return None
        return ext.answer
