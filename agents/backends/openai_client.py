"""Client for an OpenAI-compatible server (a ``vllm serve`` process, or any compatible one).

Async HTTP with a concurrency limit; connection errors, timeouts, 429 and 5xx
are retried with exponential backoff (tenacity). A request that still fails
raises :class:`BackendError`, which fails only the item that made it: the
batch goes on.

Plain-text prompts go to ``/v1/completions``; chat prompts to
``/v1/chat/completions`` (a partial assistant reply is continued with vLLM's
``continue_final_message``).

Several servers: give ``base_url`` a list (or comma-separated URLs) and the
requests are spread over them by :class:`~.router.EndpointRouter` (least
loaded, health-checked, failing over to the others when one dies).

Example (with a server on 127.0.0.1:8000)::

    import asyncio
    from lemmaflow.agents.backends import OpenAIBackend, OpenAIConfig, SamplingParams

    backend = OpenAIBackend(OpenAIConfig(base_url="http://127.0.0.1:8000/v1", model="my-model"))
    gens = asyncio.run(backend.generate(["2+2="], SamplingParams(max_tokens=8)))
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import httpx
from pydantic import Field, field_validator

from .base import BackendError, ChatPrompt, Completion, Generation, Prompt, SamplingParams, TokenLogprob
from .http_json import HTTPSettings, JSONClient
from .router import EndpointRouter, split_urls

__all__ = ["OpenAIBackend", "OpenAIConfig"]


class OpenAIConfig(HTTPSettings):
    """Server(s), model and retry policy (the fields of :class:`HTTPSettings`).

    ``base_url`` is one URL, a comma-separated list or a list: with several,
    requests go to the least-loaded healthy one (``health_*`` and ``cooldown_s``
    tune the :class:`~.router.EndpointRouter`); ``max_concurrency`` is per server.
    """

    base_url: str | list[str] = "http://127.0.0.1:8000/v1"  # type: ignore[assignment]
    model: str
    extra_body: dict[str, Any] = Field(default_factory=dict)
    health_interval_s: float = Field(5.0, ge=0)  # 0: no background probes (failures still fail over)
    health_timeout_s: float = Field(5.0, gt=0)
    health_failures: int = Field(2, ge=1)  # failed probes in a row that take a server out
    cooldown_s: float = Field(2.0, ge=0)  # a server that answered 429/5xx gets no new request this long

    @field_validator("base_url")
    @classmethod
    def _urls(cls, v):
        urls = split_urls(v)
        if not urls:
            raise ValueError("base_url needs at least one URL")
        return urls[0] if len(urls) == 1 else urls

    @property
    def urls(self) -> list[str]:
        return split_urls(self.base_url)


class OpenAIBackend:
    def __init__(self, config: OpenAIConfig, *, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.model_id = config.model
        urls = config.urls
        if len(urls) == 1:  # one server: the plain client and its retry policy
            self._http: JSONClient | EndpointRouter = JSONClient(config, transport=transport, error=BackendError)
        else:
            self._http = EndpointRouter(
                config, urls, error=BackendError, transport=transport, health_interval_s=config.health_interval_s,
                health_timeout_s=config.health_timeout_s, health_failures=config.health_failures,
                cooldown_s=config.cooldown_s,
            )

    def endpoint_stats(self) -> list[dict]:
        """Per-server counters (url, up, in_flight, requests, ok, failures); one row for a single server."""
        if isinstance(self._http, EndpointRouter):
            return self._http.stats()
        return [dict(url=self.config.urls[0], up=True)]

    def _body(self, prompt: Prompt, params: SamplingParams) -> tuple[str, dict]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.include_stop_str_in_output:
            body["include_stop_str_in_output"] = True
        chat = isinstance(prompt, ChatPrompt)
        if params.logprobs is not None:
            if chat:  # chat API: a flag plus the number of alternatives
                body.update(logprobs=True, top_logprobs=params.logprobs)
            else:  # legacy completions API: the number of alternatives
                body["logprobs"] = params.logprobs
        body.update(self.config.extra_body)
        if chat:
            msgs = [{"role": m.role, "content": m.content} for m in prompt.messages]
            if prompt.assistant_prefix:
                msgs.append({"role": "assistant", "content": prompt.assistant_prefix})
                body.update(continue_final_message=True, add_generation_prompt=False)
            body["messages"] = msgs
            return "/chat/completions", body
        body["prompt"] = prompt
        return "/completions", body

    async def _one(self, prompt: Prompt, params: SamplingParams) -> Generation:
        path, body = self._body(prompt, params)
        data = await self._http.post(path, body)
        return self._parse(data, chat=isinstance(prompt, ChatPrompt), with_top=bool(params.logprobs))

    @staticmethod
    def _logprobs(raw: Any, chat: bool, with_top: bool) -> list[TokenLogprob] | None:
        """Token log-probs from either API's ``choices[i].logprobs`` shape."""
        if not raw:
            return None
        if chat:  # {"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]}
            return [
                TokenLogprob(
                    token=t["token"], logprob=float(t["logprob"]),
                    top={a["token"]: float(a["logprob"]) for a in t.get("top_logprobs") or []} if with_top else None,
                )
                for t in raw.get("content") or []
            ]
        # completions: parallel lists "tokens", "token_logprobs", "top_logprobs" ([{token: logprob}])
        tops = raw.get("top_logprobs") or [None] * len(raw["tokens"])
        return [
            TokenLogprob(token=tok, logprob=float(lp), top={k: float(v) for k, v in (top or {}).items()} if with_top else None)
            for tok, lp, top in zip(raw["tokens"], raw["token_logprobs"], tops)
        ]

    @classmethod
    def _parse(cls, data: dict, chat: bool, with_top: bool = False) -> Generation:
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            usage = data.get("usage") or {}
            comps = []
            for c in choices:
                text = c["message"]["content"] if chat else c["text"]
                reason = c.get("finish_reason")
                lps = cls._logprobs(c.get("logprobs"), chat, with_top)
                comps.append(
                    Completion(
                        text=text or "",
                        completion_tokens=0,
                        finish_reason=reason if reason in ("stop", "length", "abort") else None,
                        stop_reason=c.get("stop_reason") if isinstance(c.get("stop_reason"), str) else None,
                        logprobs=lps,
                        cumulative_logprob=sum(t.logprob for t in lps) if lps is not None else None,
                    )
                )
        except (KeyError, TypeError, ValueError) as e:
            raise BackendError(f"malformed completion response: {str(data)[:300]}") from e
        # The API reports usage per request, not per choice: spread it evenly so
        # totals stay exact.
        total = int(usage.get("completion_tokens") or 0)
        exact = comps and all(c.logprobs is not None for c in comps)  # one entry per token
        for i, comp in enumerate(comps):
            if exact:
                comp.completion_tokens = len(comp.logprobs)
            else:
                comp.completion_tokens = total // len(comps) + (1 if i < total % len(comps) else 0)
        return Generation(completions=comps, prompt_tokens=int(usage.get("prompt_tokens") or 0))

    async def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Generation]:
        return list(await asyncio.gather(*(self._one(p, params) for p in prompts)))

    async def aclose(self) -> None:
        await self._http.aclose()
