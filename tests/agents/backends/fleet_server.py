"""Local OpenAI-compatible servers that tests can slow down, kill and restart: a fake fleet.

Only for tests and benchmarks: each listens on 127.0.0.1, answers ``POST /v1/completions``
and ``/v1/chat/completions`` after ``latency_s`` (the completion of ``flaky_server``),
``GET /health`` with ``health_status`` and ``GET /v1/models``; ``respond(path, body)``
may return ``(status, payload)`` instead of a completion. ``kill()`` stops it the
way a crashed server stops: the listening socket closes and every open connection
is cut without a reply. ``start()`` brings it back on the same port. ``capacity``
models an engine's batch: at most that many requests are served at once, the
others queue (as on a real server, where more load means more latency).

``python fleet_server.py N LATENCY_S [CAPACITY]`` runs N of them in their own
process (benchmarks: the servers then take no CPU from the client being measured),
prints their URLs as one JSON line, and stops when stdin closes.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from .flaky_server import _completion
except ImportError:  # loaded as a plain module (benchmarks)
    from flaky_server import _completion  # type: ignore[no-redef]


class FleetServer:
    def __init__(self, latency_s: float = 0.0, name: str = "", port: int = 0, respond=None,
                 capacity: int | None = None):
        self.latency_s = latency_s
        self._slots = threading.BoundedSemaphore(capacity) if capacity else None
        self.name = name
        self.port = port
        self.respond = respond or (lambda path, body: _completion(body))
        self.health_status = 200
        self.health_delay_s = 0.0
        self.requests = 0  # completion requests received (including ones cut by a kill)
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self.alive = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FleetServer":
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as vLLM's server: kill() must cut idle connections too

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with fleet.lock:
                    fleet._conns.add(self.connection)

            def finish(self):
                with fleet.lock:
                    fleet._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # cut by kill()
                    pass

            def do_GET(self):
                if not fleet.alive:  # accepted while kill() was shutting down: a crashed server answers nothing
                    self.close_connection = True
                    return
                if fleet.health_delay_s:
                    time.sleep(fleet.health_delay_s)
                if self.path == "/health":
                    self._reply(fleet.health_status, {})
                elif self.path == "/v1/models":
                    self._reply(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not fleet.alive:  # a request on a connection that outlived a kill
                    self.close_connection = True
                    return
                with fleet.lock:
                    fleet.requests += 1
                    fleet.in_flight += 1
                    fleet.max_in_flight = max(fleet.max_in_flight, fleet.in_flight)
                if fleet._slots is not None:
                    fleet._slots.acquire()
                try:
                    deadline = time.monotonic() + fleet.latency_s
                    while time.monotonic() < deadline and fleet.alive:
                        time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
                    if not fleet.alive:
                        self.close_connection = True
                        return  # killed: the connection is cut, no reply
                    payload = fleet.respond(self.path, body)
                    status, payload = payload if isinstance(payload, tuple) else (200, payload)
                    payload["x_server"] = fleet.name
                    self._reply(status, payload)
                    with fleet.lock:
                        fleet.answered += 1
                finally:
                    if fleet._slots is not None:
                        fleet._slots.release()
                    with fleet.lock:
                        fleet.in_flight -= 1

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self.alive = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def kill(self) -> None:
        """Stop like a crash: no new connections, open ones cut without a reply."""
        self.alive = False
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def __enter__(self) -> "FleetServer":
        return self.start() if not self.alive else self

    def __exit__(self, *exc) -> None:
        self.kill()


if __name__ == "__main__":
    import sys

    count, latency = int(sys.argv[1]), float(sys.argv[2])
    cap = int(sys.argv[3]) if len(sys.argv) > 3 else None
    fleet_ = [FleetServer(latency, name=f"s{i}", capacity=cap).start() for i in range(count)]
    print(json.dumps([f.url for f in fleet_]), flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    for f in fleet_:
        f.kill()
