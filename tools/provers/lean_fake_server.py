"""A test double of the Kimina Lean Server's HTTP API, backed by the Lean REPL double (no Lean).

It serves what :class:`~lemmaflow.tools.provers.lean_server.LeanServerProver`
talks to, as project-numina/kimina-lean-server 2.x documents and implements it
(``server/routers/check.py``, ``server/split.py``, ``server/auth.py``,
``kimina_client/models.py``):

- ``POST /api/check`` (and ``/api/check/``) with ``{"snippets": [{"id", "code"}],
  "timeout": int, "debug": bool, "reuse": bool, "infotree": null}``; answers
  ``{"results": [{"id", "time", "response"} | {"id", "time", "error"}]}`` (no
  ``null`` fields). Each snippet is split like the server's ``split_snippet``: the
  leading ``import`` lines form the header, run once per REPL process (processes
  are kept per header), the rest runs on the header's environment; positions in
  ``response`` are shifted back to the snippet's own lines. A REPL that answers
  ``{"message": ...}`` gives that object as ``response``; a snippet that runs past
  ``timeout`` gives ``error: "Lean REPL command timed out in N seconds"`` (the
  process is destroyed).
- ``Authorization: Bearer KEY`` when the server has an API key: 401 ``{"detail":
  "Missing API key"}`` / ``"Invalid API key"``. (Older deployments documented an
  ``X-Auth-Token`` header; the double accepts it too, as a proxy might.)
- 429 ``{"detail": "No available REPLs"}`` when no REPL process frees up within
  ``max_wait_s`` (the whole request fails, as in the server); 422 for a body the
  server's pydantic models refuse (no snippets, duplicate ids, wrong types).
- ``GET /health`` -> ``{"status": "ok"}``; ``GET /api/openapi.json`` -> the API's
  title and version.

Faults for client tests (:class:`Faults`): answer 429 to the first ``busy``
requests, drop the connection without an answer on the request numbers in
``die_on`` *after* running their snippets (a server that dies mid-batch: the
work is done, the answer lost), sleep ``stall_s`` before answering the
request numbers in ``stall_on``, leave out of the next answer the snippets at
the positions in ``lose_next`` (then forget them), repeat every result
(``duplicate``).

Example::

    from lemmaflow.tools.provers.lean_fake_server import FakeLeanServer

    with FakeLeanServer(api_key="k") as server:
        print(server.url)       # http://127.0.0.1:PORT
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .lean_repl import LeanRepl, ReplError, ReplRequestError, ReplTimeout, fake_repl_command

__all__ = ["Faults", "FakeLeanServer", "split_snippet"]

VERSION = "2.0.0+lemmaflow-double"


def split_snippet(code: str) -> tuple[str, str, int]:
    """``(header, body, header_line_count)`` as the server's ``split_snippet`` computes them."""
    lines = code.splitlines()
    i = 0
    while i < len(lines) and (lines[i].strip() == "" or lines[i].strip().startswith("import ")):
        i += 1
    imports, seen, mathlib = [], set(), False
    for line in (x.strip() for x in lines[:i]):
        if not line.startswith("import "):
            continue
        if line.startswith("import Mathlib"):
            mathlib = True
        elif line not in seen:
            seen.add(line)
            imports.append(line)
    header = "\n".join((["import Mathlib"] if mathlib else []) + imports)
    return header, "\n".join(lines[i:]), i


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) or a dropped connection: nothing to report in tests


@dataclass
class Faults:
    busy: int = 0  # answer 429 to this many requests first
    die_on: set[int] = field(default_factory=set)  # 1-based request numbers answered by a dropped connection
    stall_on: set[int] = field(default_factory=set)
    stall_s: float = 0.0
    lose_next: set[int] = field(default_factory=set)  # positions left out of the next answer
    duplicate: bool = False  # every result twice


@dataclass
class _Proc:
    repl: LeanRepl
    header: str
    header_env: int | None = None
    busy: bool = False


class FakeLeanServer:
    """The double on ``127.0.0.1:port`` (0: any free port), in a background thread."""

    def __init__(self, *, api_key: str | None = None, max_repls: int = 2, max_wait_s: float = 2.0,
                 faults: Faults | None = None, port: int = 0) -> None:
        self.api_key = api_key
        self.max_repls = max_repls
        self.max_wait_s = max_wait_s
        self.faults = faults or Faults()
        self.requests = 0  # POST /api/check requests received
        self.snippets_run: list[str] = []  # ids of the snippets the REPLs ran, in order
        self.asked: list[list[str]] = []  # the snippet ids of each POST /api/check, in order
        self._procs: list[_Proc] = []
        self._cond = threading.Condition()
        self._count_lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "FakeLeanServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True  # a handler still running (a stalled request) starts no new REPL
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._cond:
            for p in self._procs:
                p.repl.close()
            self._procs.clear()

    def __enter__(self) -> "FakeLeanServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- REPL processes, kept per header (the server's Manager) -----------------
    def _acquire(self, header: str) -> _Proc | None:
        deadline = time.monotonic() + self.max_wait_s
        with self._cond:
            while True:
                if self._closed:
                    return None
                free = [p for p in self._procs if not p.busy]
                pick = next((p for p in free if p.header == header), None)
                if pick is None and len(self._procs) < self.max_repls:
                    pick = _Proc(LeanRepl(fake_repl_command()), header)
                    self._procs.append(pick)
                elif pick is None and free:  # replace an idle process that holds another header
                    free[0].repl.close()
                    self._procs.remove(free[0])
                    pick = _Proc(LeanRepl(fake_repl_command()), header)
                    self._procs.append(pick)
                if pick is not None:
                    pick.busy = True
                    return pick
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def _release(self, proc: _Proc, destroy: bool) -> None:
        with self._cond:
            proc.busy = False
            if destroy:
                proc.repl.close()
                self._procs.remove(proc)
            self._cond.notify_all()

    def _run_one(self, snippet: dict[str, str], timeout: float) -> dict[str, Any] | None:
        """One result, or None when no REPL frees up (the request then answers 429)."""
        header, body, offset = split_snippet(snippet["code"])
        proc = self._acquire(header)
        if proc is None:
            return None
        t0 = time.monotonic()
        destroy = False
        try:
            if not proc.repl.alive:
                proc.repl.start()
                proc.header_env = None
            if header.strip() and proc.header_env is None:
                try:
                    head = proc.repl.command(header, timeout_s=timeout)
                except ReplTimeout:
                    destroy = True
                    return {"id": snippet["id"], "time": timeout,
                            "error": f"Lean REPL header command timed out in {timeout} seconds"}
                proc.header_env = head.env
            env = proc.header_env if header.strip() else None
            self.snippets_run.append(snippet["id"])
            try:
                answer = proc.repl.request({"cmd": body, **({"env": env} if env is not None else {})}, timeout)
            except ReplRequestError as e:
                answer = {"message": str(e)}
            for key in ("messages", "sorries"):
                for item in answer.get(key, []):
                    for pos in ("pos", "endPos"):
                        if item.get(pos) and offset > 0:
                            item[pos]["line"] += offset
            return {"id": snippet["id"], "time": round(time.monotonic() - t0, 6), "response": answer}
        except ReplTimeout:
            destroy = True
            return {"id": snippet["id"], "time": timeout, "error": f"Lean REPL command timed out in {timeout} seconds"}
        except ReplError as e:
            destroy = True
            return {"id": snippet["id"], "time": round(time.monotonic() - t0, 6), "error": f"REPL error: {e}"}
        finally:
            self._release(proc, destroy or not proc.repl.alive)

    # -- HTTP ----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet in tests
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.rstrip("/")
                if path in ("/health", ""):
                    self._send(200, {"status": "ok"})
                elif path == "/api/openapi.json":
                    self._send(200, {"openapi": "3.1.0", "info": {"title": "Kimina Lean Server API",
                                                                   "version": VERSION}})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/api/check":
                    self._send(404, {"detail": "Not Found"})
                    return
                with server._count_lock:
                    server.requests += 1
                    n = server.requests
                f = server.faults
                if server.api_key is not None:
                    token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                    token = token or (self.headers.get("X-Auth-Token") or "").strip()
                    if not token:
                        self._send(401, {"detail": "Missing API key"})
                        return
                    if token != server.api_key:
                        self._send(401, {"detail": "Invalid API key"})
                        return
                try:
                    body = json.loads(raw)
                    snippets = body["snippets"]
                    timeout = body.get("timeout", 30)
                    ok = (isinstance(snippets, list) and snippets and isinstance(timeout, int) and timeout >= 0
                          and all(isinstance(s, dict) and isinstance(s.get("id"), str)
                                  and isinstance(s.get("code"), str) for s in snippets)
                          and len({s["id"] for s in snippets}) == len(snippets))
                except (ValueError, KeyError, TypeError):
                    ok = False
                if not ok:
                    self._send(422, {"detail": [{"type": "value_error", "loc": ["body"],
                                                 "msg": "Value error, invalid CheckRequest"}]})
                    return
                if f.busy > 0:
                    with server._count_lock:
                        f.busy -= 1
                    self._send(429, {"detail": "No available REPLs"})
                    return
                with server._count_lock:
                    server.asked.append([s["id"] for s in snippets])
                if n in f.stall_on:
                    time.sleep(f.stall_s)
                results = []
                lose, f.lose_next = f.lose_next, set()
                for k, s in enumerate(snippets):
                    r = server._run_one(s, float(timeout))
                    if r is None:
                        self._send(429, {"detail": "No available REPLs"})
                        return
                    if k in lose:
                        continue
                    results.append(r)
                    if f.duplicate:
                        results.append(dict(r))
                if n in f.die_on:  # the server dies before answering: the connection closes, nothing sent
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._send(200, {"results": results})

        return Handler


def _main() -> None:  # pragma: no cover - a manual run: python -m lemmaflow.tools.provers.lean_fake_server
    import argparse

    ap = argparse.ArgumentParser(description="Kimina Lean Server test double (no Lean: the REPL double)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--api-key", default=None)
    args = ap.parse_args()
    with FakeLeanServer(api_key=args.api_key, port=args.port) as s:
        print(f"serving the Kimina API double on {s.url}", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":  # pragma: no cover
    _main()

