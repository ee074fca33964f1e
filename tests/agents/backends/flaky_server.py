"""A local OpenAI-compatible HTTP server whose behaviour tests script per request.

Only for tests: it listens on 127.0.0.1 on a free port and stops by itself when
the test's context ends.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Script:
    """``actions`` is consumed one per request: an int status, "hang", "garbage", or "ok".

    ``respond(path, body) -> dict`` builds the "ok" reply (default: a completion).
    """

    def __init__(self, actions, default="ok", hang_s=3.0, respond=None):
        self.respond = respond
        self.actions = list(actions)
        self.default = default
        self.hang_s = hang_s
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            return self.actions.pop(0) if self.actions else self.default


def _completion(body: dict) -> dict:
    n = body.get("n", 1)
    chat = "messages" in body
    text = "The answer is \\boxed{4}."
    choices = [
        {"index": i, "finish_reason": "stop", **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})}
        for i in range(n)
    ]
    return {"choices": choices, "usage": {"prompt_tokens": 11, "completion_tokens": 7 * n}}


def _completion_for(path: str, body: dict) -> dict:
    return _completion(body)


@contextmanager
def serve(script: Script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.requests.append({"path": self.path, "body": body})
            action = script.next()
            if action == "hang":
                time.sleep(script.hang_s)
                action = "ok"
            if isinstance(action, int):
                payload = b'{"error": "scripted"}'
                self.send_response(action)
            elif action == "garbage":
                payload = b"<html>not json"
                self.send_response(200)
            else:
                payload = json.dumps((script.respond or _completion_for)(self.path, body)).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
