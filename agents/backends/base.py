"""The one small interface every LLM backend implements.

A backend turns a batch of prompts into completions. Nodes never call a backend
directly: they call :meth:`lemmaflow.agents.context.RunContext.generate`, which
checks the budget, records tokens and traces the call, then delegates here.

Example::

    import asyncio
    from lemmaflow.agents.backends import ScriptedLM, SamplingParams

    lm = ScriptedLM(["The answer is 4."])
    gens = asyncio.run(lm.generate(["What is 2+2?"], SamplingParams(n=1)))
    assert gens[0].completions[0].text == "The answer is 4."
"""

from __future__ import annotations

from typing import Literal, Protocol, Sequence, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ChatMessage",
    "ChatPrompt",
    "Completion",
    "Generation",
    "LLMBackend",
    "Prompt",
    "SamplingParams",
    "TokenLogprob",
    "prompt_key",
]


class BackendError(RuntimeError):
    """A request failed for good (after retries). The item fails; the batch goes on."""


class BackendUnavailable(BackendError):
    """The backend cannot start here (missing package, model, server)."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str


class ChatPrompt(BaseModel):
    """A chat conversation, optionally with a partial assistant reply to continue.

    ``assistant_prefix`` lets multi-round nodes (tool-integrated reasoning)
    continue the model's own message after inserting tool output, instead of
    starting a new turn.
    """

    model_config = ConfigDict(frozen=True)
    messages: tuple[ChatMessage, ...]
    assistant_prefix: str = ""

    @classmethod
    def user(cls, text: str, system: str | None = None, assistant_prefix: str = "") -> "ChatPrompt":
        msgs = []
        if system:
            msgs.append(ChatMessage(role="system", content=system))
        msgs.append(ChatMessage(role="user", content=text))
        return cls(messages=tuple(msgs), assistant_prefix=assistant_prefix)

    def continued(self, extra: str) -> "ChatPrompt":
        """The same conversation with ``extra`` appended to the assistant prefix."""
        return self.model_copy(update={"assistant_prefix": self.assistant_prefix + extra})


Prompt = Union[str, ChatPrompt]


def prompt_key(prompt: Prompt) -> str:
    """A stable text form of a prompt, for traces and scripted fakes."""
    if isinstance(prompt, str):
        return prompt
    parts = [f"<{m.role}>{m.content}" for m in prompt.messages]
    return "".join(parts) + "<assistant>" + prompt.assistant_prefix


class SamplingParams(BaseModel):
    """Sampling settings passed through to the engine unchanged.

    ``seed`` is per request. vLLM's CPU build crashes on per-request seeds
    ("CPU Generator does not use offset"), so the CPU backend rejects it with a
    clear error: seed the engine instead (``VLLMConfig.seed``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    n: int = Field(1, ge=1, le=1024)
    temperature: float = Field(0.7, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    include_stop_str_in_output: bool = False
    # Log-probabilities of the sampled tokens: None = off, 0 = the sampled
    # token's only, k > 0 = also the k most likely alternatives at each step.
    logprobs: int | None = Field(None, ge=0, le=20)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_tuple(cls, v):
        if isinstance(v, str):
            return (v,)
        return tuple(v or ())


class TokenLogprob(BaseModel):
    """One generated token: its text, log-probability, and (if asked) the top alternatives."""

    token: str
    logprob: float
    top: dict[str, float] | None = None


class Completion(BaseModel):
    text: str
    completion_tokens: int = Field(ge=0)
    finish_reason: Literal["stop", "length", "abort", "error"] | None = None
    stop_reason: str | None = None  # the stop string that matched, if the engine reports it
    # Filled when SamplingParams.logprobs is set: one entry per generated token.
    logprobs: list[TokenLogprob] | None = None
    cumulative_logprob: float | None = None

    @property
    def mean_logprob(self) -> float | None:
        """Length-normalised log-likelihood (None when log-probs were not requested)."""
        if self.cumulative_logprob is None:
            return None
        n = len(self.logprobs) if self.logprobs else self.completion_tokens
        return self.cumulative_logprob / n if n else 0.0


class Generation(BaseModel):
    """All completions for one prompt."""

    completions: list[Completion]
    prompt_tokens: int = Field(ge=0)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.completions)


@runtime_checkable
class LLMBackend(Protocol):
    """What every backend provides.

    ``generate`` returns one :class:`Generation` per prompt, in order. It may be
    called concurrently from many problems; implementations batch those calls
    into the engine. It raises :class:`BackendError` when a request fails for
    good, which fails only the calling item.
    """

    model_id: str

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        ...

    async def aclose(self) -> None:
        ...
