"""The text format of a logic problem (premises + conclusion) in one ``question`` string.

Pipelines pass problems as one ``question`` string. A logic problem is written::

    Premises:
    - All men are mortal.
    - Socrates is a man.
    Conclusion: Socrates is mortal.
    Is the conclusion True, False, or Unknown given the premises?

One premise per ``- `` line after ``Premises:``; the conclusion is the text after
``Conclusion:`` up to the end of that line. The final question line is for
readers and answer-extracting pipelines (self-consistency); the parser ignores it.

Example::

    >>> from lemmaflow.tools.logic.problems import format_logic_question, parse_logic_question
    >>> q = format_logic_question(["All men are mortal.", "Socrates is a man."], "Socrates is mortal.")
    >>> parse_logic_question(q)
    (['All men are mortal.', 'Socrates is a man.'], 'Socrates is mortal.')
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["LOGIC_QUESTION_SUFFIX", "format_logic_question", "parse_logic_question"]

LOGIC_QUESTION_SUFFIX = "Is the conclusion True, False, or Unknown given the premises?"


def format_logic_question(premises: Sequence[str], conclusion: str) -> str:
    prem = [" ".join(p.split()) for p in premises]
    concl = " ".join(conclusion.split())
    if not concl:
        raise ValueError("empty conclusion")
    lines = ["Premises:", *(f"- {p}" for p in prem if p), f"Conclusion: {concl}", LOGIC_QUESTION_SUFFIX]
    return "\n".join(lines)


def parse_logic_question(text: str) -> tuple[list[str], str]:
    """``(premises, conclusion)`` from the documented format; ``ValueError`` saying what is missing."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    try:
        start = next(i for i, ln in enumerate(lines) if ln.lower().startswith("premises:"))
    except StopIteration:
        raise ValueError("logic question has no 'Premises:' line") from None
    premises: list[str] = []
    conclusion = None
    first = lines[start][len("premises:"):].strip()
    if first:
        premises.append(first)
    for ln in lines[start + 1:]:
        if ln.lower().startswith("conclusion:"):
            conclusion = ln[len("conclusion:"):].strip()
            break
        if ln:
            premises.append(ln[2:].strip() if ln.startswith("- ") else ln)
    if not conclusion:
        raise ValueError("logic question has no 'Conclusion: ...' line")
    return premises, conclusion
