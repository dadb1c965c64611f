"""A tiny HTTP server for processes that have no web framework: /healthz and /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def serve_health(port: int, healthy: Callable[[], bool], host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve GET /healthz (200 when `healthy()`, else 503) and GET /metrics on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/healthz":
                ok = healthy()
                body = b"ok\n" if ok else b"unhealthy\n"
                self._answer(200 if ok else 503, body, "text/plain")
            elif self.path == "/metrics":
                self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
            else:
                self._answer(404, b"not found: try /healthz or /metrics\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # health probes would flood the log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name=f"health:{port}", daemon=True).start()
    return server
