"""Scripted fake models for users' and our own orchestration tests.

They are not language models and their output is never a result: they exist
so that voting, budgets, resume logic and graph wiring can be tested
deterministically.

Example::

    import asyncio
    from lemmaflow.agents.backends import ScriptedLM, SamplingParams

    # A function of the prompt text and sample index, or a fixed list cycled in order.
    lm = ScriptedLM(lambda prompt, i: f"The answer is {i % 2}.")
    gens = asyncio.run(lm.generate(["q"], SamplingParams(n=3)))
    assert [c.text for c in gens[0].completions] == [
        "The answer is 0.", "The answer is 1.", "The answer is 0."]

    # A script item may be (text, logprob per token), for nodes that read log-probs.
    lm = ScriptedLM([("sure thing", -0.25)])
    c = asyncio.run(lm.generate(["q"], SamplingParams(logprobs=0)))[0].completions[0]
    assert c.cumulative_logprob == -0.5 and [t.token for t in c.logprobs] == ["sure", "thing"]
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Callable, Sequence, Union

from .base import BackendError, Completion, Generation, Prompt, SamplingParams, TokenLogprob, prompt_key

__all__ = ["ScriptedLM", "FailingLM"]

# A script item is the completion text, or (text, log-probability of each of its tokens).
ScriptItem = Union[str, tuple[str, float]]
Script = Union[Sequence[ScriptItem], Callable[[str, int], ScriptItem]]


def _count_tokens(text: str) -> int:
    # Whitespace tokens: deterministic and good enough to exercise budget logic.
    return len(text.split())


class ScriptedLM:
    """Answers from a script: a list of items (cycled) or ``f(prompt_text, i) -> item``.

    An item is a string, or ``(text, logprob)`` giving every whitespace token
    of ``text`` that log-probability when ``SamplingParams.logprobs`` is set.

    ``i`` counts completions per distinct prompt, so repeated sampling of the same
    prompt walks through a deterministic sequence. Stop strings are honoured the
    way a real engine does (the text is cut at the first stop string, which is
    dropped unless ``include_stop_str_in_output``). ``max_tokens`` truncates
    whitespace tokens and reports ``finish_reason="length"``.
    """

    def __init__(self, script: Script, model_id: str = "scripted", latency_s: float = 0.0):
        self.model_id = model_id
        self._script = script
        self._latency_s = latency_s
        self._counters: dict[str, itertools.count] = {}
        self._cycle = 0
        self.calls: list[tuple[list[str], SamplingParams]] = []

    def _next(self, key: str) -> ScriptItem:
        if callable(self._script):
            i = next(self._counters.setdefault(key, itertools.count()))
            return self._script(key, i)
        if not self._script:
            raise BackendError("ScriptedLM has an empty script")
        text = self._script[self._cycle % len(self._script)]
        self._cycle += 1
        return text

    @staticmethod
    def _apply_stop(item: ScriptItem, params: SamplingParams) -> Completion:
        text, token_lp = (item, 0.0) if isinstance(item, str) else item
        cut, reason = len(text), None
        for s in params.stop:
            j = text.find(s)
            if j != -1 and j < cut:
                cut, reason = j, s
        finish = "stop"
        if reason is not None:
            text = text[: cut + (len(reason) if params.include_stop_str_in_output else 0)]
        if len(text.split()) > params.max_tokens:
            # Keep the first max_tokens whitespace tokens with their own separators
            # (newlines too), so the count matches completion_tokens.
            m = re.match(r"\s*(?:\S+\s+){%d}" % params.max_tokens, text)
            text = m.group(0).rstrip() if m else text
            finish, reason = "length", None
        comp = Completion(
            text=text, completion_tokens=_count_tokens(text), finish_reason=finish, stop_reason=reason
        )
        if params.logprobs is not None:
            comp.logprobs = [TokenLogprob(token=w, logprob=token_lp) for w in text.split()]
            comp.cumulative_logprob = token_lp * len(comp.logprobs)
        return comp

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        keys = [prompt_key(p) for p in prompts]
        self.calls.append((keys, params))
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        out = []
        for key in keys:
            comps = [self._apply_stop(self._next(key), params) for _ in range(params.n)]
            out.append(Generation(completions=comps, prompt_tokens=_count_tokens(key)))
        return out

    async def aclose(self) -> None:
        return None


class FailingLM:
    """A backend whose requests fail for prompts matching ``fail_if`` (for batch-isolation tests)."""

    def __init__(self, inner: ScriptedLM, fail_if: Callable[[str], bool]):
        self.model_id = inner.model_id
        self._inner = inner
        self._fail_if = fail_if

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        for p in prompts:
            if self._fail_if(prompt_key(p)):
                raise BackendError(f"scripted failure for prompt {prompt_key(p)[:60]!r}")
        return await self._inner.generate(prompts, params)

    async def aclose(self) -> None:
        await self._inner.aclose()
