"""A process reward model behind an OpenAI-compatible server's pooling endpoint (``vllm serve``).

Start the server with the pooling runner and STEP pooling on the separator
token, e.g. for Qwen2.5-Math-PRM-7B (its separator ``<extra_0>`` is id 151651)::

    vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling \\
        --pooler-config '{"task": "token_classify", "pooling_type": "STEP", "step_tag_id": 151651}'

Each (question, steps) pair is POSTed to ``{base_url}/pooling`` (vLLM mounts it
at the server root, so ``base_url`` is ``http://host:port``, without ``/v1``).
With ``prompt_format: chat`` (the default) the body carries ``messages``
(system, user = question, assistant = steps each followed by the separator)
and the server applies the model's chat template, one request per pair, sent
concurrently; with ``plain`` the pairs are rendered here with
``plain_template`` and sent as one batched ``input`` list. The reply holds, per
input, one row of class probabilities per separator; the positive class's
probability is the step's score (:class:`~.prm_format.StepFormat`).

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff
like the OpenAI backend (same helper, same settings); a request that still
fails raises :class:`ScorerError`.

Example (with the server above on 127.0.0.1:8000)::

    import asyncio
    from lemmaflow.agents.scorers import StepScoreRequest
    from lemmaflow.agents.scorers.http_reward import HTTPRewardConfig, HTTPRewardModel

    prm = HTTPRewardModel(HTTPRewardConfig(base_url="http://127.0.0.1:8000", model="Qwen/Qwen2.5-Math-PRM-7B"))
    [out] = asyncio.run(prm.score_steps([StepScoreRequest(question="2+2?", steps=("2+2=4.", "The answer is 4."))]))
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import httpx
from pydantic import Field

from ..backends.http_json import HTTPSettings, JSONClient
from .base import RewardOutput, ScorerError, StepScoreRequest
from .prm_format import StepFormat

__all__ = ["HTTPRewardConfig", "HTTPRewardModel"]


class HTTPRewardConfig(HTTPSettings, StepFormat):
    """Server, retry policy (:class:`HTTPSettings`) and PRM format (:class:`StepFormat`)."""

    base_url: str = "http://127.0.0.1:8000"
    model: str
    path: str = "/pooling"
    task: str = "token_classify"
    extra_body: dict[str, Any] = Field(default_factory=dict)


class HTTPRewardModel:
    def __init__(self, config: HTTPRewardConfig, *, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.model_id = config.model
        self._http = JSONClient(config, transport=transport, error=ScorerError)

    @classmethod
    def from_spec(cls, spec) -> "HTTPRewardModel":
        """Build from a :class:`~lemmaflow.agents.backends.factory.ModelSpec` (kind ``http_reward``)."""
        kw: dict[str, Any] = dict(model=spec.model, api_key=spec.api_key)
        if spec.base_url:
            kw["base_url"] = spec.base_url
        return cls(HTTPRewardConfig(**{**kw, **spec.options}))

    def _body(self, **inputs: Any) -> dict:
        return {"model": self.config.model, "task": self.config.task, **inputs, **self.config.extra_body}

    def _rows(self, data: Any, n: int) -> tuple[list[Any], int]:
        """Per-input outputs (in input order) and the prompt tokens of a pooling reply."""
        try:
            items = sorted(data["data"], key=lambda d: d.get("index", 0))
            rows = [d["data"] for d in items]
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ScorerError(f"malformed pooling response: {str(data)[:300]}") from e
        if len(rows) != n:
            raise ScorerError(f"pooling response has {len(rows)} outputs for {n} inputs")
        return rows, prompt_tokens

    async def _chat_one(self, req: StepScoreRequest) -> RewardOutput:
        body = self._body(messages=self.config.messages(req), add_generation_prompt=False)
        [row], tokens = self._rows(await self._http.post(self.config.path, body), 1)
        return RewardOutput(steps=self.config.step_scores(row, len(req.steps), self.model_id), prompt_tokens=tokens)

    async def _plain(self, reqs: list[StepScoreRequest]) -> list[RewardOutput]:
        body = self._body(input=[self.config.plain_text(r) for r in reqs])
        rows, tokens = self._rows(await self._http.post(self.config.path, body), len(reqs))
        # Usage is per reply, not per input: spread it so totals stay exact.
        n = len(reqs)
        return [
            RewardOutput(steps=self.config.step_scores(row, len(r.steps), self.model_id),
                         prompt_tokens=tokens // n + (1 if i < tokens % n else 0))
            for i, (r, row) in enumerate(zip(reqs, rows))
        ]

    async def score_steps(self, requests: Sequence[StepScoreRequest]) -> list[RewardOutput]:
        requests = list(requests)
        # A pair without steps needs no model call (and would give no separator).
        todo = [r for r in requests if r.steps]
        if not todo:
            scored: list[RewardOutput] = []
        elif self.config.prompt_format == "chat":
            scored = list(await asyncio.gather(*(self._chat_one(r) for r in todo)))
        else:
            scored = await self._plain(todo)
        it = iter(scored)
        return [next(it) if r.steps else RewardOutput(steps=[]) for r in requests]

    async def aclose(self) -> None:
        await self._http.aclose()
