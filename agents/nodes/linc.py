"""LINC: the model translates premises and conclusion into first-order logic, a prover decides.

Olausson et al., "LINC: A Neurosymbolic Approach for Logical Reasoning by
Combining Language Models with First-Order Logic Provers", EMNLP 2023
(arXiv 2310.15164). The model is only a semantic parser: a few-shot prompt
asks for one ``FOL:`` line per premise and one for the conclusion; the
translation is parsed (:mod:`lemmaflow.tools.logic.fol`) and z3 decides
(:mod:`lemmaflow.tools.logic.prover`): premises entail the conclusion → ``True``,
entail its negation → ``False``, neither → ``Unknown``. K translations are
sampled in one call and majority-voted; a translation that does not parse, has
an inconsistent signature or contradictory premises, was cut off by
``max_tokens``, or that the prover could not decide in time **abstains**. If all
abstain the answer is ``None``. Ties go to the label seen first.

Inputs: ``question`` in the text format of :mod:`lemmaflow.tools.logic.problems`
(``Premises:`` / ``- ...`` / ``Conclusion: ...``), or ``premises`` and
``conclusion`` directly (they win over ``question``).

Example (scripted model; real parser and prover)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import Linc
    from lemmaflow.agents.backends import ScriptedLM

    lm = ScriptedLM(["TEXT: All men are mortal.\\nFOL: all x. (Man(x) -> Mortal(x))\\n"
                     "TEXT: Socrates is a man.\\nFOL: Man(socrates)\\n"
                     "TEXT: Socrates is mortal.\\nFOL: Mortal(socrates)\\n</EVALUATE>"])
    out = asyncio.run(Linc(n=2)(RunContext(backend=lm), premises=["All men are mortal.",
                      "Socrates is a man."], conclusion="Socrates is mortal."))
    assert out.answer == "True" and out.confidence == 1.0
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ...tools.logic.problems import parse_logic_question
from ..backends.base import ChatPrompt, SamplingParams
from ..node import Node, NodeConfig
from .self_consistency import VoteSummary

__all__ = ["LINC_FEW_SHOT", "Linc", "LincSample", "parse_translation"]

# Our own few-shot examples in LINC's format: the problem between tags, then a
# TEXT/FOL pair per premise and one for the conclusion (the last pair).
LINC_FEW_SHOT = """The following is a first-order logic (FOL) problem.
The problem is to determine whether the conclusion follows from the premises.
The premises are given in the form of a set of first-order logic sentences.
The conclusion is given in the form of a single first-order logic sentence.
The task is to translate each of the premises and conclusions into FOL expressions, so that the expressions can be evaluated by a theorem solver to determine whether the conclusion follows from the premises.
Expressions should use these operators: all x. (for all), exists x. (there exists), & (and), | (or), ^ (either-or, not both), -> (implies), <-> (if and only if), ~ (not). Predicates start with a capital letter, constants are lowercase.
------
<PREMISES>
All birds that can fly have wings.
Every penguin is a bird.
No penguin can fly.
Tweety is a bird that can fly.
</PREMISES>
<CONCLUSION>
Tweety has wings.
</CONCLUSION>
<EVALUATE>
TEXT: All birds that can fly have wings.
FOL: all x. (Bird(x) & CanFly(x) -> HasWings(x))
TEXT: Every penguin is a bird.
FOL: all x. (Penguin(x) -> Bird(x))
TEXT: No penguin can fly.
FOL: all x. (Penguin(x) -> ~CanFly(x))
TEXT: Tweety is a bird that can fly.
FOL: Bird(tweety) & CanFly(tweety)
TEXT: Tweety has wings.
FOL: HasWings(tweety)
</EVALUATE>
------
<PREMISES>
Every student in the club either plays chess or plays go, but not both.
Anyone who plays go owns a board.
Mia is a student in the club.
Mia does not own a board.
</PREMISES>
<CONCLUSION>
Mia plays go.
</CONCLUSION>
<EVALUATE>
TEXT: Every student in the club either plays chess or plays go, but not both.
FOL: all x. (ClubStudent(x) -> (PlaysChess(x) ^ PlaysGo(x)))
TEXT: Anyone who plays go owns a board.
FOL: all x. (PlaysGo(x) -> OwnsBoard(x))
TEXT: Mia is a student in the club.
FOL: ClubStudent(mia)
TEXT: Mia does not own a board.
FOL: ~OwnsBoard(mia)
TEXT: Mia plays go.
FOL: PlaysGo(mia)
</EVALUATE>
------
<PREMISES>
{premises}
</PREMISES>
<CONCLUSION>
{conclusion}
</CONCLUSION>
<EVALUATE>
"""

_END = "</EVALUATE>"


class LincSample(BaseModel):
    """One translation: its FOL, the prover's verdict, and why it abstained if it did."""

    text: str
    premises_fol: list[str] = Field(default_factory=list)
    conclusion_fol: str | None = None
    status: str  # the prover's status, or "parse_error" / "truncated" / "no_fol"
    label: Literal["True", "False", "Unknown"] | None = None
    reason: str = ""


def parse_translation(text: str) -> tuple[list[str], str]:
    """The ``FOL:`` lines of a completion: all but the last are premises, the last is the conclusion.

    As in LINC, the pairing with the NL sentences is by position, so a missing
    premise line is not detected here (the count is checked by the node).
    Raises ``ValueError`` when there is no ``FOL:`` line.
    """
    body = text.split(_END, 1)[0]
    fols = [ln.split(":", 1)[1].strip() for ln in body.splitlines() if ln.strip().upper().startswith("FOL:")]
    fols = [f for f in fols if f]
    if not fols:
        raise ValueError("no 'FOL:' line in the translation")
    return fols[:-1], fols[-1]


class Linc(Node):
    kind = "linc"

    class Config(NodeConfig):
        n: int = Field(4, ge=1, le=256, description="K: translations sampled in one call and voted on")
        temperature: float = Field(0.8, ge=0)
        top_p: float = Field(0.95, gt=0, le=1)
        max_tokens: int = Field(512, ge=1)
        prompt: str = LINC_FEW_SHOT
        # LINC prompts a completion model with a few-shot document; with chat=True
        # the same text is the user turn and the answer starts after <EVALUATE>.
        chat: bool = False
        timeout_s: float = Field(10.0, gt=0, description="z3 timeout per solver check")
        unique_names: bool = False
        # A translation with fewer/more FOL lines than premises + 1 pairs sentences
        # wrongly; LINC keeps it, strict mode abstains.
        strict_count: bool = False

        @model_validator(mode="after")
        def _check_prompt(self):
            for field in ("{premises}", "{conclusion}"):
                if field not in self.prompt:
                    raise ValueError(f"prompt must contain {field}")
            return self

    class Inputs(BaseModel):
        question: str = ""
        premises: list[str] | None = None
        conclusion: str | None = None

    class Outputs(BaseModel):
        answer: Literal["True", "False", "Unknown"] | None
        confidence: float
        votes: list[VoteSummary]
        extracted: list[str | None]
        samples: list[LincSample]
        samples_used: int
        abstained: int

    def _problem(self, inputs: Inputs) -> tuple[list[str], str]:
        if inputs.conclusion is not None:
            return list(inputs.premises or []), inputs.conclusion
        if not inputs.question.strip():
            raise ValueError("linc needs `question` (premises/conclusion text) or `conclusion` [+ `premises`]")
        return parse_logic_question(inputs.question)

    def render(self, premises: list[str], conclusion: str):
        text = self.config.prompt.replace("{premises}", "\n".join(premises)).replace("{conclusion}", conclusion)
        if self.config.chat:
            return ChatPrompt.user(text, assistant_prefix="")
        return text

    def _judge(self, comp, n_premises: int) -> LincSample:
        from ...tools.logic import check_entailment
        from ...tools.logic.fol import FOLError, parse_formula

        text = comp.text
        if comp.finish_reason == "length" and _END not in text:
            return LincSample(text=text, status="truncated", reason="cut off by max_tokens before </EVALUATE>")
        try:
            prem, concl = parse_translation(text)
        except ValueError as e:
            return LincSample(text=text, status="no_fol", reason=str(e))
        sample = LincSample(text=text, premises_fol=prem, conclusion_fol=concl, status="parse_error")
        if self.config.strict_count and len(prem) != n_premises:
            sample.reason = f"{len(prem)} premise translations for {n_premises} premises"
            return sample
        try:
            formulas = [parse_formula(f) for f in prem]
            conclusion = parse_formula(concl)
        except FOLError as e:
            sample.reason = str(e)
            return sample
        res = check_entailment(formulas, conclusion, timeout_s=self.config.timeout_s,
                               unique_names=self.config.unique_names)
        sample.status, sample.label, sample.reason = res.status, res.label, res.message
        return sample

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        try:
            premises, conclusion = self._problem(inputs)
        except ValueError as e:
            from ..node import NodeInputError

            raise NodeInputError(f"node {ctx.node_path!r} (Linc): {e}") from e
        params = SamplingParams(n=c.n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, stop=(_END,))
        gen = (await ctx.generate([self.render(premises, conclusion)], params))[0]
        # z3 runs outside the event loop so other problems' generation continues.
        samples = [await asyncio.to_thread(self._judge, comp, len(premises)) for comp in gen.completions]
        labels = [s.label for s in samples]
        counts: dict[str, list[int]] = {}
        for i, lab in enumerate(labels):
            if lab is not None:
                counts.setdefault(lab, []).append(i)
        votes = sorted(
            (VoteSummary(answer=lab, votes=len(ix), samples=ix) for lab, ix in counts.items()),
            key=lambda v: (-v.votes, v.samples[0]),  # majority; ties: first seen
        )
        voted = sum(len(ix) for ix in counts.values())
        answer = votes[0].answer if votes else None
        confidence = votes[0].votes / voted if votes else 0.0
        ctx.trace.add(
            "vote", ctx.node_path, winner=answer, confidence=confidence,
            classes=[v.model_dump() for v in votes], abstained=len(samples) - voted,
            statuses=[s.status for s in samples],
        )
        return self.Outputs(
            answer=answer, confidence=confidence, votes=votes, extracted=labels, samples=samples,
            samples_used=len(samples), abstained=len(samples) - voted,
        )
