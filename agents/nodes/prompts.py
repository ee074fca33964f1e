"""Prompt templates shared by the math nodes.

Templates use ``str.format`` with a ``{question}`` field. Keep them short: the
same prefix is reused by every sample, so vLLM's prefix cache serves it once.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ..backends.base import ChatPrompt, Prompt, SamplingParams
from ..node import NodeConfig

__all__ = ["MATH_COT", "MATH_SYSTEM", "PromptedSampling", "build_prompt"]

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


class PromptedSampling(NodeConfig):
    """Config fields shared by nodes that sample from one templated prompt."""

    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    prompt: str = MATH_COT
    system: str | None = MATH_SYSTEM
    chat: bool = True

    @model_validator(mode="after")
    def _check_prompt(self):
        if "{question}" not in self.prompt:
            raise ValueError("prompt must contain {question}")
        return self

    def render(self, question: str) -> Prompt:
        return build_prompt(self.prompt, question, self.system, self.chat)

    def sampling(self, n: int = 1) -> SamplingParams:
        return SamplingParams(n=n, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens)
