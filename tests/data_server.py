"""A real HTTP server on 127.0.0.1 serving a data folder (the cache layout), with faults on demand.

Used as a dataset mirror (``LEMMAFLOW_DATA_MIRROR`` / ``DataSource(mirror=...)``).
``fail(path, *faults)`` queues faults for the next requests of ``path``:

- ``"500"``: HTTP 500, no body;
- ``"corrupt"``: the right length with one byte changed;
- ``"cut"``: a Content-Length for the whole file, half of it, then the connection closes;
- ``"stall"``: half of the file, then nothing until :meth:`release` (or 60 s).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


class DataServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[str] = []
        self._faults: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.stalled = threading.Event()  # set when a "stall" response has sent its first half
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                rel = unquote(self.path.lstrip("/"))
                with server._lock:
                    server.requests.append(rel)
                    queue = server._faults.get(rel) or []
                    fault = queue.pop(0) if queue else None
                path = (server.root / rel).resolve()
                if server.root.resolve() not in path.parents or not path.is_file():
                    self.send_error(404)
                    return
                if fault == "500":
                    self.send_error(500)
                    return
                data = path.read_bytes()
                if fault == "corrupt":
                    data = data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault in ("cut", "stall"):
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    if fault == "stall":
                        server.stalled.set()
                        server._release.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def fail(self, path: str, *faults: str) -> None:
        with self._lock:
            self._faults.setdefault(path, []).extend(faults)

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> "DataServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
