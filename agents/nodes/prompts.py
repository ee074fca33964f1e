"""Prompt templates shared by the math nodes.

Templates use ``str.format`` with a ``{question}`` field. Keep them short: the
same prefix is reused by every sample, so vLLM's prefix cache serves it once.
"""

from __future__ import annotations

from ..backends.base import ChatPrompt, Prompt

__all__ = ["MATH_COT", "MATH_SYSTEM", "build_prompt"]

MATH_SYSTEM = "You are a careful mathematician. Reason step by step."
MATH_COT = (
    "Solve the following problem step by step. "
    "Put the final answer in \\boxed{{}}.\n\nProblem: {question}"
)


def build_prompt(template: str, question: str, system: str | None, chat: bool) -> Prompt:
    try:
        text = template.format(question=question)
    except (KeyError, IndexError) as e:
        raise ValueError(f"prompt template needs exactly one field, {{question}}; got error {e!r}") from e
    if chat:
        return ChatPrompt.user(text, system=system)
    return f"{system}\n\n{text}\n" if system else text
