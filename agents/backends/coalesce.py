"""Request coalescing: concurrent ``generate`` calls become one backend call.

When a batch runs many problems concurrently, each problem's search issues its
own ``generate`` for its frontier at about the same moment. A
:class:`CoalescingBackend` wraps any backend and merges the calls that arrive
within ``window_s`` of the first one (and share the same
:class:`SamplingParams`) into ONE call of the inner backend, then hands each
caller its own generations back in order. So one search round over every
problem of a batch is one engine call (one HTTP request, one ``LLM`` batch),
while budgets and traces stay per problem (they live in each problem's
``RunContext``, above the backend).

If the merged call fails with a :class:`BackendError`, each caller's request is
retried on its own, so one bad prompt fails only its own problem.

Example::

    import asyncio
    from lemmaflow.agents.backends import CoalescingBackend, ScriptedLM, SamplingParams

    inner = ScriptedLM(lambda prompt, i: prompt.upper())
    lm = CoalescingBackend(inner, window_s=0.01)

    async def main():
        return await asyncio.gather(*(lm.generate([f"p{k}"], SamplingParams()) for k in range(5)))

    outs = asyncio.run(main())
    assert [o[0].completions[0].text for o in outs] == ["P0", "P1", "P2", "P3", "P4"]
    assert len(inner.calls) == 1 and lm.stats == {"calls": 5, "backend_calls": 1}
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from .base import BackendError, Generation, LLMBackend, Prompt, SamplingParams

__all__ = ["CoalescingBackend"]


class CoalescingBackend:
    """Merges concurrent ``generate`` calls with equal sampling params into one inner call."""

    def __init__(self, inner: LLMBackend, window_s: float = 0.002, max_prompts: int = 4096):
        if window_s < 0 or max_prompts < 1:
            raise ValueError("window_s must be >= 0 and max_prompts >= 1")
        self.inner = inner
        self.model_id = inner.model_id
        self.window_s = window_s
        self.max_prompts = max_prompts
        self._pending: dict[SamplingParams, list[tuple[list[Prompt], asyncio.Future]]] = {}
        self._timers: dict[SamplingParams, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self.stats = {"calls": 0, "backend_calls": 0}

    def __getattr__(self, name: str) -> Any:  # close(), config, ... of the wrapped backend
        return getattr(self.inner, name)

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        group = self._pending.setdefault(params, [])
        group.append((list(prompts), fut))
        self.stats["calls"] += 1
        if sum(len(p) for p, _ in group) >= self.max_prompts:
            self._flush(params)
        elif params not in self._timers:
            self._timers[params] = loop.call_later(self.window_s, self._flush, params)
        return await fut

    def _flush(self, params: SamplingParams) -> None:
        timer = self._timers.pop(params, None)
        if timer is not None:
            timer.cancel()
        group = self._pending.pop(params, [])
        if group:
            task = asyncio.ensure_future(self._run(params, group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, params: SamplingParams, group: list[tuple[list[Prompt], asyncio.Future]]) -> None:
        live = [(p, f) for p, f in group if not f.done()]  # callers cancelled meanwhile drop out
        if not live:
            return
        self.stats["backend_calls"] += 1
        try:
            gens = await self.inner.generate([x for p, _ in live for x in p], params)
            if len(gens) != sum(len(p) for p, _ in live):
                raise BackendError(f"backend returned {len(gens)} generations for {sum(len(p) for p, _ in live)} prompts")
        except BackendError as e:
            if len(live) == 1:
                _settle(live[0][1], exc=e)
                return
            await asyncio.gather(*(self._alone(params, p, f) for p, f in live))
            return
        except BaseException as e:  # cancellation, bugs: every caller sees it
            for _, f in live:
                _settle(f, exc=e if isinstance(e, Exception) else BackendError(f"coalesced call stopped: {e!r}"))
            if not isinstance(e, Exception):
                raise
            return
        k = 0
        for p, f in live:
            _settle(f, result=gens[k:k + len(p)])
            k += len(p)

    async def _alone(self, params: SamplingParams, prompts: list[Prompt], fut: asyncio.Future) -> None:
        self.stats["backend_calls"] += 1
        try:
            _settle(fut, result=await self.inner.generate(prompts, params))
        except Exception as e:
            _settle(fut, exc=e)

    async def aclose(self) -> None:
        for params in list(self._pending):
            self._flush(params)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.inner.aclose()


def _settle(fut: asyncio.Future, result: Any = None, exc: BaseException | None = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
