"""A continuous-batching engine double: scripted text, engine-like timing.

Not a language model and never a result. :class:`SteppedLM` answers from a
:class:`ScriptedLM` script (same items, stop strings, ``max_tokens`` and token
counts), but a call takes as long as a continuous-batching engine would need:
one engine loop emits one token per running sequence per step, new requests
join the running batch between steps (up to ``max_num_seqs``, the rest wait),
and a request is handed back the moment its last token is out, whatever the
other sequences are doing. A step costs ``step_s + per_seq_s * running``
seconds of wall time: ``per_seq_s = 0`` is an accelerator whose step costs
about the same for 1 or 64 sequences; ``per_seq_s > 0`` is an engine whose
step cost grows with the batch, like vLLM's CPU build.

Use it to measure what a *scheduler* buys (how nodes and batch loops keep an
engine busy) independently of the machine: the figures it gives depend on the
cost model you chose, never on a model's speed or quality.

Example::

    import asyncio
    from lemmaflow.agents.backends import SamplingParams
    from lemmaflow.agents.backends.stepped import SteppedLM

    lm = SteppedLM(lambda prompt, i: " ".join(["tok"] * (3 if prompt == "short" else 6)), step_s=0.001)

    async def both():
        return await asyncio.gather(lm.generate(["short"], SamplingParams()), lm.generate(["long"], SamplingParams()))

    short, long = asyncio.run(both())
    assert short[0].completions[0].completion_tokens == 3 and long[0].completions[0].completion_tokens == 6
    assert lm.stats.steps == 6 and lm.stats.batch_sizes == [2, 2, 2, 1, 1, 1]
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

from .base import BackendError, Completion, Generation, Prompt, SamplingParams, prompt_key
from .fake import Script, ScriptedLM, _count_tokens

__all__ = ["SteppedLM", "StepStats"]


@dataclass
class StepStats:
    """What the engine loop did: steps taken, sequences per step, seconds spent stepping."""

    steps: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    busy_s: float = 0.0
    tokens: int = 0

    @property
    def mean_batch(self) -> float:
        return sum(self.batch_sizes) / len(self.batch_sizes) if self.batch_sizes else 0.0


class _Seq:
    __slots__ = ("left", "done")

    def __init__(self, tokens: int, done: asyncio.Future):
        # A completion of k tokens needs k steps (at least one: an empty
        # completion still costs the step that sampled its end).
        self.left, self.done = max(1, tokens), done


class SteppedLM(ScriptedLM):
    """A :class:`ScriptedLM` served by a simulated continuous-batching step loop.

    Args:
        script: as for :class:`ScriptedLM` (tokens are whitespace-separated words).
        step_s: wall seconds of one engine step with one sequence.
        per_seq_s: extra seconds per running sequence in a step (0: accelerator-like).
        max_num_seqs: sequences in one step; later requests wait for a free slot.
        burst_wait_s: after idling, wait this long to gather a burst of requests
            before the first step (as :class:`VLLMBackend` does, ``VLLMConfig.burst_wait_s``).
    """

    def __init__(self, script: Script, *, step_s: float = 0.02, per_seq_s: float = 0.0, max_num_seqs: int = 256,
                 burst_wait_s: float = 0.002, model_id: str = "stepped"):
        if step_s < 0 or per_seq_s < 0 or max_num_seqs < 1 or burst_wait_s < 0:
            raise ValueError("need step_s >= 0, per_seq_s >= 0, burst_wait_s >= 0 and max_num_seqs >= 1")
        super().__init__(script, model_id=model_id)
        self.step_s, self.per_seq_s, self.max_num_seqs = step_s, per_seq_s, max_num_seqs
        self.burst_wait_s = burst_wait_s
        self.stats = StepStats()
        self._waiting: deque[_Seq] = deque()
        self._running: list[_Seq] = []
        self._loop_task: asyncio.Task | None = None
        self._closed = False

    def step_cost(self, running: int) -> float:
        """Seconds one step takes with ``running`` sequences."""
        return self.step_s + self.per_seq_s * running

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        if self._closed:
            raise BackendError("backend is closed")
        keys = [prompt_key(p) for p in prompts]
        self.calls.append((keys, params))
        loop = asyncio.get_running_loop()
        # Text is decided at submission (like a seeded engine); only its timing is simulated.
        gens = [Generation(completions=[self._apply_stop(self._next(k), params) for _ in range(params.n)],
                           prompt_tokens=_count_tokens(k)) for k in keys]
        seqs = [_Seq(c.completion_tokens, loop.create_future()) for g in gens for c in g.completions]
        self._waiting.extend(seqs)
        if self._loop_task is None or self._loop_task.done() or self._loop_task.get_loop() is not loop:
            self._running = [s for s in self._running if s.done.get_loop() is loop]
            self._loop_task = loop.create_task(self._engine_loop())
        try:
            await asyncio.gather(*(s.done for s in seqs))
        except BaseException:
            for s in seqs:  # cancelled: free the slots (the engine aborts the requests)
                s.done.cancel()
            raise
        return gens

    async def _engine_loop(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.burst_wait_s)  # let the rest of this burst arrive before the first step
        while True:
            self._running = [s for s in self._running if not s.done.done()]
            while self._waiting and len(self._running) < self.max_num_seqs:
                s = self._waiting.popleft()
                if not s.done.done():
                    self._running.append(s)
            if not self._running:
                return
            n = len(self._running)
            t0 = loop.time()
            await asyncio.sleep(self.step_cost(n))
            self.stats.steps += 1
            self.stats.batch_sizes.append(n)
            self.stats.busy_s += loop.time() - t0
            self.stats.tokens += n
            for s in self._running:
                s.left -= 1
                if s.left == 0 and not s.done.done():
                    s.done.set_result(None)

    async def aclose(self) -> None:
        self._closed = True
        if self._loop_task is not None and not self._loop_task.done():
            self._loop_task.cancel()

    def close(self) -> None:
        self._closed = True
