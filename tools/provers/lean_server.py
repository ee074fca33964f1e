"""Lean 4 checks through a Kimina Lean Server (project-numina/kimina-lean-server): pooled REPLs behind HTTP.

For users who run one (the field's way to check Lean at scale). Same
:class:`~lemmaflow.tools.provers.base.Prover` interface and the same
statement-exact verdict as :class:`~lemmaflow.tools.provers.lean.LeanProver`:
the check's commands (:func:`~.lean_check.build_plan`: original statement under
a nonce name, context lemmas, the model's text, ``type_of%`` check, ``#print
axioms``) are assembled client-side into one snippet
(:func:`~.lean_check.assemble`), the server runs it as one REPL command, and
the answer is split back per command and judged by the same functions as the
pool (:func:`~.lean_check.judge`). Nothing of the verdict is left to the server.

API (server 2.x, ``server/routers/check.py``): ``POST /api/check`` with
``{"snippets": [{"id", "code"}], "timeout": s, "debug": false, "reuse": true}``
answers ``{"results": [{"id", "time", "response" | "error"}]}``; ``response`` is
the REPL's own answer (or its ``{"message": ...}``), ``error`` a server-side
failure ("Lean REPL command timed out in N seconds"). Authentication:
``Authorization: Bearer KEY`` (what the server reads; ``X-Auth-Token`` is sent
too, for deployments that documented it). Retries (tenacity, exponential
backoff): 429 (no REPL free: the whole request is refused), 5xx, connection
errors and timeouts, and results missing from an answer — only the snippets
still unanswered are sent again; every task ends with exactly one result
(answers matched by snippet id, duplicates and unknown ids ignored), a
per-item ``crashed``/``timeout`` with the last error when the attempts run out.
401/403 raise :class:`~.base.ProverUnavailable` (a wrong key is no proof's fault).

Why httpx and not ``kimina-client``: the published client (0.2.1) pulls in
``datasets``, ``loguru``, ``pygments``, ``tabulate`` and pins ``pip>=25``,
retries every HTTP error alike (401 included, with no 429 back-off of its own)
and turns failures into strings; the request is one POST.

Example (against the shipped test double, which runs the REPL double: proves nothing)::

    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.lean_fake_server import FakeLeanServer
    from lemmaflow.tools.provers.lean_server import LeanServerProver

    task = ProofTask(name="t", statement="theorem t : 1 + 1 = 2 := by", proof="  norm_num")
    with FakeLeanServer(api_key="k") as server, LeanServerProver(url=server.url, api_key="k") as prover:
        print(prover.check(task).summary())   # proved
        print(prover.versions())              # {'lean': '4.19.0-fake', 'mathlib': 'unknown', ...}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import threading
import time
from typing import Any, Sequence

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .base import ProofResult, ProofTask, ProverMessage, ProverUnavailable
from .lean_check import LeanPlan, LeanPlanError, assemble, build_plan, judge, split_answer
from .lean_repl import CommandResponse, ReplMessage
from .lean_versions import UNKNOWN, VERSION_COMMAND, parse_lean_version

__all__ = ["LeanServerConfig", "LeanServerProver"]

URL_VAR, KEY_VAR = "LEAN_SERVER_API_URL", "LEAN_SERVER_API_KEY"  # the names kimina-client reads


class LeanServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = None  # None: $LEAN_SERVER_API_URL, else http://127.0.0.1:8000
    api_key: str | None = None  # None: $LEAN_SERVER_API_KEY (none: no header)
    timeout_s: float = Field(60.0, gt=0, description="per snippet, enforced by the server (whole seconds)")
    http_timeout_s: float | None = Field(None, gt=0, description="per HTTP request; None: enough for a batch")
    connect_timeout_s: float = Field(10.0, gt=0)
    batch_size: int = Field(8, ge=1, description="snippets per request (acheck_batch)")
    max_concurrency: int = Field(4, ge=1, description="requests in flight")
    max_attempts: int = Field(5, ge=1)
    backoff_initial_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    reuse: bool = True  # the server may run a snippet on a REPL that already ran its header
    debug: bool = False  # ask for CPU/memory diagnostics (ignored by the verdict)
    mathlib: str | None = None  # Mathlib's version on the server, if you know it (the API cannot tell)


class _Retry(Exception):
    """Worth another attempt: 429, 5xx, results missing from an answer."""


class _Lost(Exception):
    """A transport failure (connection dropped, timeout), kept with its kind for the per-item result."""

    def __init__(self, text: str, timeout: bool) -> None:
        super().__init__(text)
        self.timeout = timeout


class LeanServerProver:
    """Statement-exact Lean checks on a Kimina Lean Server; ``check``/``acheck``/``acheck_batch``."""

    language = "lean4"

    def __init__(self, config: LeanServerConfig | None = None, **overrides: Any) -> None:
        base = config or LeanServerConfig()
        merged = base.model_copy(update=overrides) if overrides else base
        self.config = LeanServerConfig.model_validate(merged.model_dump())
        c = self.config
        self.url = (c.url or os.environ.get(URL_VAR) or "http://127.0.0.1:8000").rstrip("/")
        self.api_key = c.api_key if c.api_key is not None else os.environ.get(KEY_VAR) or None
        self.requests = 0  # HTTP requests sent (tests and reports)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._versions: dict[str, str] | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Check that a server answers (``GET /health``) and start the prover's event-loop thread (all HTTP
        runs there, on one connection pool); :class:`ProverUnavailable` says how to get a server."""
        with self._lock:
            if self._loop is not None:
                return
            try:
                r = httpx.get(f"{self.url}/health", timeout=self.config.connect_timeout_s)
                problem = None if r.status_code == 200 else f"GET /health answered HTTP {r.status_code}"
            except httpx.HTTPError as e:
                problem = f"{type(e).__name__}: {e}"
            if problem:
                raise ProverUnavailable(
                    f"no Kimina Lean Server at {self.url} ({problem}): start one (project-numina/kimina-lean-server,"
                    f" e.g. its docker compose) and set {URL_VAR} / {KEY_VAR}, or pass url=/api_key=")
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="lean-server", daemon=True)
            self._thread.start()
            self._loop = loop

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._http is not None:
            asyncio.run_coroutine_threadsafe(self._http.aclose(), loop).result(timeout=10)
            self._http = None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> "LeanServerProver":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_loop(self, coro: Any) -> "concurrent.futures.Future[Any]":
        self.start()
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # -- checking ----------------------------------------------------------------
    def check(self, task: ProofTask) -> ProofResult:
        return self.check_batch([task])[0]

    def check_batch(self, tasks: Sequence[ProofTask]) -> list[ProofResult]:
        return self._on_loop(self._check_batch(tasks)).result()

    async def acheck(self, task: ProofTask) -> ProofResult:
        return (await self.acheck_batch([task]))[0]

    async def acheck_batch(self, tasks: Sequence[ProofTask]) -> list[ProofResult]:
        """Check ``tasks`` in requests of ``batch_size`` snippets; one result per task, in order."""
        return await asyncio.wrap_future(self._on_loop(self._check_batch(tasks)))

    async def _check_batch(self, tasks: Sequence[ProofTask]) -> list[ProofResult]:
        t0 = time.monotonic()
        results: list[ProofResult | None] = [None] * len(tasks)
        jobs: dict[str, tuple[int, LeanPlan, str, list]] = {}
        for i, task in enumerate(tasks):
            try:
                plan = build_plan(task)
            except LeanPlanError as e:
                results[i] = ProofResult(status="failed", messages=e.messages or [ProverMessage(text=e.reason)],
                                         reason=e.reason)
                continue
            code, spans = assemble(plan, task.header)
            jobs[f"{task.name}-{plan.nonce}"] = (i, plan, code, spans)
        ids = list(jobs)
        chunks = [ids[k: k + self.config.batch_size] for k in range(0, len(ids), self.config.batch_size)]
        limits = {sid: tasks[jobs[sid][0]].timeout_s or self.config.timeout_s for sid in ids}
        answers = await asyncio.gather(*(self._post_batch({s: jobs[s][2] for s in chunk},
                                                          max(limits[s] for s in chunk)) for chunk in chunks))
        for got in answers:
            for sid, item in got.items():
                i, plan, _code, spans = jobs[sid]
                results[i] = self._verdict(plan, spans, item)
        elapsed = time.monotonic() - t0
        out = []
        for r in results:
            assert r is not None  # every task has exactly one result
            if not r.time_s:
                r.time_s = elapsed
            out.append(r)
        return out

    # -- HTTP ----------------------------------------------------------------------
    def _client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The one client and request limit, created on the prover's loop (the only one that uses them)."""
        if self._http is None:
            headers = {}
            if self.api_key:
                headers = {"Authorization": f"Bearer {self.api_key}", "X-Auth-Token": self.api_key}
            batch_time = self.config.timeout_s * self.config.batch_size + 30.0
            self._http = httpx.AsyncClient(
                base_url=self.url, headers=headers,
                timeout=httpx.Timeout(self.config.http_timeout_s or batch_time, connect=self.config.connect_timeout_s))
            self._sem = asyncio.Semaphore(self.config.max_concurrency)
        assert self._sem is not None
        return self._http, self._sem

    async def _post_batch(self, codes: dict[str, str], timeout_s: float) -> dict[str, dict[str, Any]]:
        """POST the snippets; the results by id (one each: an answer, or an error after the retries)."""
        c = self.config
        got: dict[str, dict[str, Any]] = {}
        body = {"timeout": int(math.ceil(timeout_s)), "debug": c.debug, "reuse": c.reuse}
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((_Retry, _Lost)), stop=stop_after_attempt(c.max_attempts),
            wait=wait_exponential(multiplier=c.backoff_initial_s, max=c.backoff_max_s), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    pending = [{"id": sid, "code": code} for sid, code in codes.items() if sid not in got]
                    await self._post_once({"snippets": pending, **body}, got)
        except (_Retry, _Lost) as e:
            kind = "timeout" if isinstance(e, _Lost) and e.timeout else "crashed"
            for sid in codes:
                if sid not in got:
                    got[sid] = {"id": sid, "_failure": kind,
                                "error": f"no result from the Lean server after {c.max_attempts} attempts: {e}"}
        return got

    async def _post_once(self, body: dict[str, Any], got: dict[str, dict[str, Any]]) -> None:
        client, sem = self._client()
        async with sem:
            self.requests += 1
            try:
                resp = await client.post("/api/check", json=body)
            except httpx.TimeoutException as e:
                raise _Lost(f"{type(e).__name__} after {client.timeout.read:g} s", timeout=True) from None
            except httpx.TransportError as e:
                raise _Lost(f"{type(e).__name__}: {e}", timeout=False) from None
        if resp.status_code in (401, 403):
            raise ProverUnavailable(f"the Lean server at {self.url} refused the API key (HTTP {resp.status_code}: "
                                    f"{resp.text[:200]}); set {KEY_VAR} or api_key=")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retry(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:  # 422: the server refused the request itself; not worth repeating
            for s in body["snippets"]:
                got.setdefault(s["id"], {"id": s["id"], "_failure": "crashed",
                                         "error": f"the Lean server refused the request (HTTP {resp.status_code}): "
                                                  f"{resp.text[:300]}"})
            return
        try:
            results = resp.json()["results"]
        except (ValueError, KeyError, TypeError):
            raise _Retry(f"not a check answer: {resp.text[:200]!r}") from None
        asked = {s["id"] for s in body["snippets"]}
        for item in results if isinstance(results, list) else []:
            sid = item.get("id") if isinstance(item, dict) else None
            if sid in asked and sid not in got:  # unknown ids and repeats are ignored: one result per task
                got[sid] = item
        missing = asked - set(got)
        if missing:
            raise _Retry(f"the answer has no result for {len(missing)} snippet(s)")

    # -- verdicts ------------------------------------------------------------------
    @staticmethod
    def _verdict(plan: LeanPlan, spans: list, item: dict[str, Any]) -> ProofResult:
        took = float(item.get("time") or 0.0)
        error = item.get("error")
        if error:
            timed_out = item.get("_failure") == "timeout" or "timed out" in str(error)
            return ProofResult(status="timeout" if timed_out else "crashed", reason=str(error), time_s=took)
        response = item.get("response")
        if not isinstance(response, dict):
            return ProofResult(status="crashed", reason=f"the Lean server answered no response: {str(item)[:200]}")
        if "message" in response and "env" not in response:  # the REPL refused the command
            return ProofResult(status="failed", reason=f"the Lean REPL refused a request: {response['message']}",
                               time_s=took)
        try:
            answer = CommandResponse.model_validate({"env": 0, **response})
        except ValidationError as e:
            return ProofResult(status="crashed", reason=f"unexpected REPL answer from the server: {e}", time_s=took)
        first_line = spans[0][1]
        header_errors = [m for m in answer.errors if m.pos is not None and m.pos.line < first_line]
        if header_errors:
            msgs = [ProverMessage(text=m.data) for m in header_errors]
            return ProofResult(status="failed", messages=msgs, time_s=took,
                               reason=f"the task's header does not load: {header_errors[0].data.splitlines()[0]}")
        result = judge(plan, split_answer(spans, answer))
        result.time_s = took
        return result

    # -- versions ------------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        """``lean`` (``#eval Lean.versionString`` on the server), ``mathlib`` (``config.mathlib``: the API
        cannot tell), ``repl`` (unknown: the API does not say), ``server`` (the API's own version)."""
        if self._versions is None:
            self._versions = self._on_loop(self._aversions()).result()
        return dict(self._versions)

    async def _aversions(self) -> dict[str, str]:
        got = await self._post_batch({"lemmaflow-versions": VERSION_COMMAND}, self.config.timeout_s)
        response = got["lemmaflow-versions"].get("response") or {}
        messages = [ReplMessage.model_validate(m) for m in response.get("messages", []) if isinstance(m, dict)]
        server = UNKNOWN
        try:
            client, _sem = self._client()
            info = (await client.get("/api/openapi.json")).json().get("info", {})
            server = f"{info.get('title', 'server')} {info.get('version', UNKNOWN)}".strip()
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
        return {"lean": parse_lean_version(messages) or UNKNOWN, "mathlib": self.config.mathlib or UNKNOWN,
                "repl": UNKNOWN, "server": server}

