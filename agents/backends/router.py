"""Routing requests over several OpenAI-compatible servers: least-loaded, health-checked, failing over.

One :class:`EndpointRouter` fronts a fleet of ``vllm serve`` processes (or any
OpenAI-compatible servers) with the same ``post(path, body)`` as
:class:`~.http_json.JSONClient`, so :class:`~.openai_client.OpenAIBackend` uses
either without knowing which:

- **least loaded**: each request goes to the healthy endpoint with the fewest
  requests in flight (ties in turn), so a slow or busy server gets less;
- **health checks**: every ``health_interval_s`` each endpoint is probed (vLLM's
  ``GET /health``, else ``GET /v1/models``); ``health_failures`` failed probes in a
  row take it out, one good probe (or one good reply) brings it back, if it was
  sent after the endpoint went down (a reply already in transit when the server
  crashed says nothing about the server now);
- **failover**: a request that fails on an endpoint with a connection error, a
  timeout, 429 or 5xx is sent again at once to another healthy endpoint. An
  endpoint whose connection breaks (the server died) or whose probes fail is
  marked down and *its requests in flight are moved to the others* — nothing
  waits on a dead server. 429/5xx only cool the endpoint down for ``cooldown_s``;
- **bounded**: a request is tried at most ``max_attempts + len(endpoints) - 1``
  times; when no endpoint is healthy it backs off exponentially like the
  one-server client. Then it raises the caller's error class (``BackendError``)
  naming the endpoints and the last error, so only that item fails. Other 4xx
  and malformed replies fail at once, as with one server.

Replies are returned exactly as the chosen server sent them: log-probs, stop
strings, usage (hence budgets and ledgers) are those of the one server that
answered; a retried request's lost attempt costs no tokens in the ledger.

Why our own: LiteLLM's Router (least-busy routing, cooldowns, retries) is the
model, but it brings LiteLLM's whole provider layer and its dependencies for
~200 lines; vLLM's production-stack router is a separate server to deploy.

Example (two servers)::

    import asyncio
    from lemmaflow.agents.backends.http_json import HTTPSettings
    from lemmaflow.agents.backends.router import EndpointRouter

    router = EndpointRouter(HTTPSettings(), ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"])
    reply = asyncio.run(router.post("/completions", {"model": "m", "prompt": "2+2=", "max_tokens": 4}))
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

import httpx

from .base import BackendError
from .http_json import HTTPSettings, JSONClient, RetryableStatus

__all__ = ["EndpointRouter", "EndpointStats", "split_urls"]

log = logging.getLogger(__name__)


def split_urls(urls: str | Sequence[str] | None) -> list[str]:
    """``"a,b"``, ``["a", "b,c"]`` -> ``["a", "b", "c"]`` (blank items dropped, order kept, duplicates once)."""
    if urls is None:
        return []
    items = [urls] if isinstance(urls, str) else list(urls)
    out: list[str] = []
    for item in items:
        for u in str(item).split(","):
            u = u.strip().rstrip("/")
            if u and u not in out:
                out.append(u)
    return out


class _EndpointDown(Exception):
    """The endpoint was marked down while this request was on it."""


class EndpointStats(dict):
    """One endpoint's counters: url, up, in_flight, requests, ok, failures, last_error."""


@dataclass(eq=False)
class _Endpoint:
    url: str
    client: JSONClient
    up: bool = True
    in_flight: int = 0
    requests: int = 0
    ok: int = 0
    failures: int = 0
    probe_failures: int = 0
    cooldown_until: float = 0.0
    last_error: str | None = None
    down: asyncio.Event | None = None  # set while down: requests on it abandon it
    downs: int = 0  # times marked down: evidence gathered before the latest mark-down is stale

    @property
    def root(self) -> str:
        """The server root (vLLM serves /health there, the API under /v1)."""
        return self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url

    def available(self, now: float) -> bool:
        return self.up and now >= self.cooldown_until


class EndpointRouter:
    """Least-loaded routing with health checks and failover over several servers (see the module doc)."""

    def __init__(
        self,
        settings: HTTPSettings,
        urls: Sequence[str],
        *,
        error: type[Exception] = BackendError,
        transport: httpx.AsyncBaseTransport | None = None,
        health_interval_s: float = 5.0,
        health_timeout_s: float = 5.0,
        health_failures: int = 2,
        cooldown_s: float = 2.0,
    ):
        urls = split_urls(urls)
        if not urls:
            raise ValueError("EndpointRouter needs at least one URL")
        self.settings = settings
        self.error = error
        self.health_interval_s = health_interval_s
        self.health_timeout_s = health_timeout_s
        self.health_failures = max(1, health_failures)
        self.cooldown_s = cooldown_s
        self.endpoints = [
            _Endpoint(u, JSONClient(settings.model_copy(update={"base_url": u}), transport=transport, error=error))
            for u in urls
        ]
        self._transport = transport
        self._headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._probe_http: httpx.AsyncClient | None = None
        self._probe_loop: asyncio.AbstractEventLoop | None = None
        self._turn = 0  # round-robin among equally loaded endpoints
        self._loop: asyncio.AbstractEventLoop | None = None
        self._health_task: asyncio.Task | None = None

    # -- state ------------------------------------------------------------------------------------

    def _ensure_loop(self) -> None:
        # Events and the probe task belong to one event loop; a new asyncio.run() gets fresh ones.
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._health_task is not None and not self._health_task.done():
            return
        if self._loop is not loop:
            self._loop = loop
            for ep in self.endpoints:
                ep.down = asyncio.Event()
                if not ep.up:
                    ep.down.set()
        if self.health_interval_s > 0:
            self._health_task = loop.create_task(self._health_loop())

    def _mark_down(self, ep: _Endpoint, why: str) -> None:
        ep.last_error = why
        if ep.up:
            log.warning("endpoint %s is down (%s): its requests go to the others", ep.url, why)
            ep.up = False
            ep.downs += 1
            if ep.down is not None:
                ep.down.set()  # requests in flight there move to the others

    def _mark_up(self, ep: _Endpoint, seen_downs: int) -> None:
        # ``seen_downs``: ``ep.downs`` when the request or probe that answered was sent. A reply
        # sent before the latest mark-down (e.g. it was in transit when the server crashed) says
        # nothing about the server now, so it must not bring the endpoint back.
        if seen_downs != ep.downs:
            return
        ep.probe_failures = 0
        if not ep.up:
            log.warning("endpoint %s is back", ep.url)
            ep.up = True
            ep.down = asyncio.Event() if self._loop is not None else None

    def stats(self) -> list[EndpointStats]:
        """Per-endpoint counters (for logs, tests and the progress line)."""
        return [EndpointStats(url=e.url, up=e.up, in_flight=e.in_flight, requests=e.requests, ok=e.ok,
                              failures=e.failures, last_error=e.last_error) for e in self.endpoints]

    # -- health -----------------------------------------------------------------------------------

    def _probe_client(self) -> httpx.AsyncClient:
        # Its own client: probes must not queue behind a saturated server's requests for a connection
        # (that would read as "unhealthy" exactly when the server is busiest).
        loop = asyncio.get_running_loop()
        if self._probe_http is None or self._probe_loop is not loop:
            self._probe_http = httpx.AsyncClient(transport=self._transport, headers=self._headers,
                                                 timeout=self.health_timeout_s)
            self._probe_loop = loop
        return self._probe_http

    async def _probe(self, ep: _Endpoint) -> bool:
        client = self._probe_client()
        try:
            status = (await client.get(ep.root + "/health")).status_code
            if status == 404:  # not vLLM: any OpenAI-compatible server lists its models
                status = (await client.get(ep.url + "/models")).status_code
            return status == 200
        except (httpx.HTTPError, OSError):
            return False

    async def check_health(self) -> list[bool]:
        """Probe every endpoint once now; update who is up. Returns each endpoint's probe result."""
        seen = [ep.downs for ep in self.endpoints]
        results = await asyncio.gather(*(self._probe(ep) for ep in self.endpoints))
        for ep, ok, downs in zip(self.endpoints, results, seen):
            if ok:
                self._mark_up(ep, downs)
            else:
                ep.probe_failures += 1
                if ep.probe_failures >= self.health_failures:
                    self._mark_down(ep, "health check failed")
        return list(results)

    async def _health_loop(self) -> None:
        while True:
            await self.check_health()
            await asyncio.sleep(self.health_interval_s)

    # -- routing ----------------------------------------------------------------------------------

    def _pick(self, avoid: _Endpoint | None) -> _Endpoint:
        now = time.monotonic()
        pool = [e for e in self.endpoints if e.available(now)] or [e for e in self.endpoints if e.up] \
            or self.endpoints  # nothing healthy: keep trying them all (with backoff)
        if avoid is not None and len(pool) > 1:
            pool = [e for e in pool if e is not avoid]
        n = len(self.endpoints)
        turn = self._turn
        ep = min(pool, key=lambda e: (e.in_flight, (self.endpoints.index(e) - turn) % n))
        self._turn = (self.endpoints.index(ep) + 1) % n
        return ep

    def _healthy_other(self, ep: _Endpoint) -> bool:
        now = time.monotonic()
        return any(e is not ep and e.available(now) for e in self.endpoints)

    async def _send(self, ep: _Endpoint, path: str, body: dict) -> Any:
        ep.in_flight += 1
        ep.requests += 1
        try:
            if not ep.up or ep.down is None or len(self.endpoints) == 1:
                return await ep.client.post_once(path, body)
            req = asyncio.ensure_future(ep.client.post_once(path, body))
            gone = asyncio.ensure_future(ep.down.wait())
            try:
                await asyncio.wait({req, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
                if not req.done():  # the endpoint went down first (or we are cancelled): abandon it there
                    req.cancel()
                    abandoned = True
                else:
                    abandoned = False
            if abandoned:
                raise _EndpointDown(f"{ep.url} went down")
            return req.result()
        finally:
            ep.in_flight -= 1

    async def post(self, path: str, body: dict) -> Any:
        """POST to the least-loaded healthy endpoint, failing over; the reply, or ``self.error``."""
        self._ensure_loop()
        s = self.settings
        limit = s.max_attempts + len(self.endpoints) - 1
        last: BaseException | None = None
        tried: list[str] = []
        ep: _Endpoint | None = None
        backoffs = 0
        for attempt in range(1, limit + 1):
            ep = self._pick(avoid=ep)
            tried.append(ep.url)
            seen_downs = ep.downs
            try:
                reply = await self._send(ep, path, body)
            except (_EndpointDown, RetryableStatus, httpx.TransportError) as e:
                last = e
                ep.failures += 1
                ep.last_error = repr(e)
                if isinstance(e, RetryableStatus):
                    ep.cooldown_until = time.monotonic() + self.cooldown_s
                elif isinstance(e, httpx.TransportError) and not isinstance(e, httpx.TimeoutException):
                    self._mark_down(ep, repr(e))  # refused / reset: the server is gone, not slow
                if attempt == limit:
                    break
                if not self._healthy_other(ep):  # nowhere else to go now: back off as one server would
                    backoffs += 1
                    await asyncio.sleep(min(s.backoff_max_s, s.backoff_initial_s * 2 ** (backoffs - 1)))
                continue
            ep.ok += 1
            if not ep.up:
                self._mark_up(ep, seen_downs)  # it answered a request sent while it was down: it is back
            return reply
        down = sum(not e.up for e in self.endpoints)
        raise self.error(
            f"{path} failed after {len(tried)} attempts on {len(set(tried))} of {len(self.endpoints)} endpoints "
            f"({down} down): {last!r}"
        ) from last

    async def aclose(self) -> None:
        task, self._health_task = self._health_task, None
        if task is not None:
            task.cancel()
            if task.get_loop() is asyncio.get_running_loop():
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        if self._probe_http is not None and self._probe_loop is asyncio.get_running_loop():
            await self._probe_http.aclose()
        self._probe_http = None
        for ep in self.endpoints:
            await ep.client.aclose()
