"""JSON over HTTP with one retry policy, shared by every client of a served model.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff
(tenacity) up to ``max_attempts``; other 4xx and non-JSON replies fail at once.
A request that still fails raises the caller's error class with the path, the
attempt count and the last error, so one bad item fails alone and says why.

Used by :class:`~lemmaflow.agents.backends.OpenAIBackend` (completions) and
:class:`~lemmaflow.agents.scorers.http_reward.HTTPRewardModel` (pooling).

Example (with a server on 127.0.0.1:8000)::

    import asyncio
    from lemmaflow.agents.backends.http_json import HTTPSettings, JSONClient

    client = JSONClient(HTTPSettings(base_url="http://127.0.0.1:8000/v1", max_attempts=3))
    data = asyncio.run(client.post("/models/list", {}))
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt, wait_exponential

from .base import BackendError

__all__ = ["HTTPSettings", "JSONClient", "RetryableStatus", "is_retryable"]


class HTTPSettings(BaseModel):
    """Where the server is and how hard to try."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: str | None = None
    max_concurrency: int = Field(64, ge=1)
    timeout_s: float = Field(600.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)


class RetryableStatus(Exception):
    """A status worth retrying (429, 5xx)."""

    def __init__(self, status: int, text: str):
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


def is_retryable(exc: BaseException) -> bool:
    """A failure another attempt may cure: 429/5xx, connection errors, timeouts."""
    return isinstance(exc, (RetryableStatus, httpx.TransportError))


class JSONClient:
    """POSTs JSON bodies with a concurrency limit and the retry policy above.

    ``error`` is the exception class raised when a request fails for good
    (:class:`BackendError` for LLM backends, ``ScorerError`` for reward models).
    """

    def __init__(
        self,
        settings: HTTPSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        error: type[Exception] = BackendError,
    ):
        self.settings = settings
        self.error = error
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._client_kwargs = dict(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            transport=transport,
            limits=httpx.Limits(max_connections=settings.max_concurrency),
        )
        self._client: httpx.AsyncClient | None = None
        self._client_loop = None
        self._sem: asyncio.Semaphore | None = None

    def _ensure_client(self) -> httpx.AsyncClient:
        # Clients and semaphores are bound to an event loop; recreate them if the
        # client is reused under a new asyncio.run().
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(**self._client_kwargs)
            self._client_loop = loop
            self._sem = asyncio.Semaphore(self.settings.max_concurrency)
        return self._client

    async def post_once(self, path: str, body: dict) -> Any:
        """One attempt: the decoded reply; ``RetryableStatus``/``httpx.TransportError`` or ``self.error``."""
        client = self._ensure_client()
        assert self._sem is not None
        async with self._sem:
            resp = await client.post(path, json=body)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableStatus(resp.status_code, resp.text[:200])
        if resp.status_code >= 400:
            raise self.error(f"HTTP {resp.status_code} from {path}: {resp.text[:500]}")
        try:
            return resp.json()
        except ValueError as e:
            raise self.error(f"non-JSON response from {path}: {resp.text[:200]!r}") from e

    async def post(self, path: str, body: dict) -> Any:
        """POST ``body`` to ``path``; the decoded JSON reply, or ``self.error`` after the retries."""
        s = self.settings
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(s.max_attempts),
            wait=wait_exponential(multiplier=s.backoff_initial_s, max=s.backoff_max_s),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self.post_once(path, body)
        except RetryError as e:
            last = e.last_attempt.exception()
            raise self.error(f"{path} failed after {s.max_attempts} attempts: {last!r}") from last
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
