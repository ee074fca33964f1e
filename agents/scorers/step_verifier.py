r"""Step verifier (``type: step_verifier``): the LLM judge plus a sympy check of arithmetic (arXiv 2306.03872).

Deductive verification checks each step on its own. Here a step gets:

1. an **arithmetic check** with sympy wherever an equation of plain numbers can
   be parsed robustly: ``3 × 4 = 12``, ``$12 + $3 = $15``, ``16 - 3 - 4 = 9``,
   chains ``a = b = c``, GSM8K's ``<<2*3=6>>``, with ``+ - * / × · ÷``,
   parentheses, thousands separators, currency signs and percents (``20%`` is
   ``20/100``). Only equations with an operator on the left side are checked
   (``of 10 = 5`` in "1/2 of 10 = 5" is not an equation), and none glued to a
   variable (``2x = 10``, ``x * 3 = 12`` are left alone). A decimal side counts as
   equal when it is the other side rounded to its digits (``10 / 3 = 3.33``);
2. the **LLM judge** (:class:`~lemmaflow.agents.scorers.judge.JudgeScorer`)
   against the premises, for every step whose arithmetic is not already false.

A false equation scores the step 0 whatever the judge says; a step whose
equations are all true scores the judge's score (1.0 if the judge abstained
or ``judge: false``); a step with no parseable equation defers to the judge
(None without it). ``details`` say why, per step.

Example (sympy only, no model call)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.scorers import StepScoreRequest, build_scorer

    scorer = build_scorer({"type": "step_verifier", "judge": False})
    steps = ("She has 3 × 4 = 12 eggs.", "She pays $12 + $3 = $16.", "So she is happy.")
    [s] = asyncio.run(scorer.score(RunContext(backend=ScriptedLM(["-"])), [StepScoreRequest(question="?", steps=steps)]))
    assert s.steps == [1.0, 0.0, None] and s.value == 0.0
    assert "12 + 3 = 16 is false" in s.details[1]["why"]
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Sequence

from .base import StepScoreRequest, StepScores, aggregate_scores
from .judge import JudgeScorer

__all__ = ["EquationCheck", "StepVerifierScorer", "check_equations", "find_equations"]

_NUM = r"[$£€]?\s?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|[$£€]?\s?\d+(?:\.\d+)?%?|[$£€]?\s?\.\d+%?"
_OP = r"(?:\s*[-+*/×÷·−–]\s*|\s+x\s+)"
_ATOM = rf"\(*\s*(?:{_NUM})(?:\s*\))*"
_EXPR = rf"{_ATOM}(?:{_OP}{_ATOM})*"
_EQUATION = re.compile(rf"{_EXPR}(?:\s*=\s*{_EXPR})+")
_HAS_OP = re.compile(rf"\d%?(?:\s*\))*{_OP}\(*\s*[$£€]?\s?\.?\d")


class EquationCheck(dict):
    """``{"equation": text, "ok": bool, "values": [...]}`` for one parsed equation."""


def _to_sympy_text(side: str) -> str:
    s = re.sub(r"[$£€,\s]", "", side.replace(" x ", "*"))
    s = s.replace("×", "*").replace("·", "*").replace("÷", "/").replace("−", "-").replace("–", "-")
    return re.sub(r"(\d+(?:\.\d+)?)%", r"(\1/100)", s)


def find_equations(step: str) -> list[str]:
    """The arithmetic equations of ``step`` that are checked (see the module docstring)."""
    found = []
    for m in _EQUATION.finditer(step):
        text = m.group(0).strip()
        start = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
        before = step[:start]
        after = step[m.end():]
        if before and (before[-1].isalnum() or before[-1] in "._^"):
            continue  # glued to a word or variable: 2x = ..., a2 = ...
        if re.search(r"[-+*/×÷·^=(]\s*$", before) or re.search(r"[A-Za-z]\s*[-+*/×÷·^]\s*$", before):
            continue  # the expression started earlier with a variable: x * 3 + 4 = 10
        if re.match(r"[A-Za-z0-9_^]|\s*[*/×÷^]|\s*[-+]\s*[A-Za-z(\d]", after):
            continue  # the right side goes on with a variable or an operator: = 6x, = 3 + y
        left = text.split("=")[0]
        if not _HAS_OP.search(left):
            continue  # "of 10 = 5": no operator on the left, no computation to check
        found.append(text)
    return found


def _equal(a, b, text_b: str) -> bool:
    if a == b:
        return True
    # A side written as a decimal may be the other side rounded to its digits.
    m = re.fullmatch(r"-?\d+\.(\d+)", text_b)
    if m:
        tol = Decimal(1).scaleb(-len(m.group(1))) / 2
        return abs(a - b) <= float(tol) + 1e-12
    return False


def check_equations(step: str) -> list[EquationCheck]:
    """Evaluate each equation of ``step`` exactly with sympy (rational arithmetic)."""
    import sympy

    checks = []
    for eq in find_equations(step):
        sides = [s.strip() for s in eq.split("=")]
        try:
            values = [sympy.sympify(_to_sympy_text(s), rational=True) for s in sides]
        except (sympy.SympifyError, SyntaxError, TypeError, ZeroDivisionError):
            continue  # not robustly parseable: leave it to the judge
        if any(not v.is_number or not v.is_finite for v in values):
            continue  # division by zero (zoo) and the like
        ok = True
        for i in range(1, len(values)):
            plain = re.sub(r"[$£€,\s]", "", sides[i])
            prev_plain = re.sub(r"[$£€,\s]", "", sides[i - 1])
            if not (_equal(values[i - 1], values[i], plain) or _equal(values[i], values[i - 1], prev_plain)):
                ok = False
        shown = re.sub(r"\s+", " ", " = ".join(re.sub(r"[$£€,]", "", x) for x in sides)).strip()
        checks.append(EquationCheck(equation=shown, ok=ok, values=[str(v) for v in values]))
    return checks


class StepVerifierScorer(JudgeScorer):
    kind = "step_verifier"

    class Config(JudgeScorer.Config):
        judge: bool = True  # False: the sympy check alone (no model call)

    async def score(self, ctx, requests: Sequence[StepScoreRequest]) -> list[StepScores]:
        arith = [[check_equations(s) for s in r.steps] for r in requests]
        items, where = [], []
        if self.config.judge:
            for k, r in enumerate(requests):
                for i in range(len(r.steps)):
                    if all(c["ok"] for c in arith[k][i]):  # a false equation needs no judge
                        items.append((r.question, r.steps, i))
                        where.append((k, i))
        judged = dict(zip(where, await self.judge_steps(ctx, items)))
        results = []
        for k, r in enumerate(requests):
            steps, details = [], []
            for i in range(len(r.steps)):
                checks = arith[k][i]
                j = judged.get((k, i))
                judge_score = j["score"] if j else None
                false = [c for c in checks if not c["ok"]]
                if false:
                    score = 0.0
                    why = "; ".join(f"{c['equation']} is false ({' vs '.join(c['values'])})" for c in false)
                elif checks:
                    score = judge_score if judge_score is not None else 1.0
                    why = "arithmetic checked" + (", judge" if judge_score is not None else
                                                  (", judge abstained" if j else ""))
                else:
                    score = judge_score
                    why = ("judge" if judge_score is not None else "judge abstained") if j else \
                        "no equation to check"
                steps.append(score)
                details.append({"equations": checks, "judge": judge_score,
                                "verdicts": j["verdicts"] if j else [], "why": why})
            results.append(StepScores(steps=steps, value=aggregate_scores(steps, self.config.aggregate),
                                      details=details))
        return results
