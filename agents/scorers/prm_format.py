"""How a (question, steps) pair is shown to a process reward model, and how its outputs map back to steps.

Process reward models such as Qwen2.5-Math-PRM read a chat: system prompt,
the question as the user turn, and the solution as the assistant turn with a
step-separator token after every step (``<extra_0>`` for Qwen). The model's
token-classification head gives class probabilities at every separator; the
positive class's probability is that step's score. vLLM's pooling runner with
``STEP`` pooling returns exactly those rows (one per separator).

:class:`StepFormat` holds these conventions so the in-process runner
(:mod:`.vllm_reward`) and the HTTP client (:mod:`.http_reward`) agree.

Example::

    from lemmaflow.agents.scorers import StepScoreRequest
    from lemmaflow.agents.scorers.prm_format import StepFormat

    fmt = StepFormat(step_separator="<sep>", system_prompt=None)
    req = StepScoreRequest(question="2+2?", steps=("2+2=4", "so 4"))
    assert fmt.messages(req)[-1] == {"role": "assistant", "content": "2+2=4<sep>so 4<sep>"}
    assert fmt.step_scores([[0.2, 0.8], [0.6, 0.4]], 2, "m") == [0.8, 0.4]
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import ScorerError, StepScoreRequest

__all__ = ["QWEN_PRM_SYSTEM", "StepFormat"]

# The system prompt of Qwen2.5-Math-PRM's model card.
QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


class StepFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step_separator: str = "<extra_0>"  # a single token of the PRM's vocabulary, after every step
    system_prompt: str | None = QWEN_PRM_SYSTEM
    # chat: system/user/assistant through the model's chat template (PRMs are trained so);
    # plain: ``plain_template`` with {question} and {steps}, for models without a chat template.
    prompt_format: Literal["chat", "plain"] = "chat"
    plain_template: str = "{question}\n{steps}"
    positive_label: int = Field(1, ge=0)  # which class of the head means "this step is right"

    def _clean(self, text: str) -> str:
        # A separator inside the text would add a score row and shift every step after it.
        return text.replace(self.step_separator, " ")

    def assistant_text(self, req: StepScoreRequest) -> str:
        sep = self.step_separator
        return "".join(self._clean(s) + sep for s in req.steps)

    def messages(self, req: StepScoreRequest) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return msgs + [
            {"role": "user", "content": self._clean(req.question)},
            {"role": "assistant", "content": self.assistant_text(req)},
        ]

    def plain_text(self, req: StepScoreRequest) -> str:
        return self.plain_template.format(question=self._clean(req.question), steps=self.assistant_text(req))

    def step_scores(self, rows: Any, n_steps: int, model_id: str) -> list[float]:
        """One score per step from the per-separator outputs (class probabilities or one value each)."""
        if not isinstance(rows, list) or len(rows) != n_steps:
            got = len(rows) if isinstance(rows, list) else type(rows).__name__
            raise ScorerError(
                f"reward model {model_id!r} returned {got} separator outputs for {n_steps} steps: "
                f"is {self.step_separator!r} one token of its vocabulary, and the pooler's step_tag_id its id?"
            )
        out = []
        for row in rows:
            if isinstance(row, list):
                if self.positive_label >= len(row):
                    raise ScorerError(
                        f"reward model {model_id!r}: positive_label={self.positive_label} but the head "
                        f"has {len(row)} classes"
                    )
                row = row[self.positive_label]
            try:
                x = float(row)
            except (TypeError, ValueError):
                raise ScorerError(f"reward model {model_id!r}: a step output is not a number: {row!r}") from None
            if not math.isfinite(x):
                raise ScorerError(f"reward model {model_id!r}: non-finite step score {x}")
            out.append(x)
        return out
