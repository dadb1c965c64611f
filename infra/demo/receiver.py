"""A Slack-compatible incoming-webhook receiver: the demo's pager, and the tests' real peer."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DemoReceiver:
    """Answers like Slack (200 "ok"), keeps every page, can be told to fail the next requests."""

    def __init__(self, port: int, on_page: Callable[[dict], None] | None = None, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.on_page = on_page
        self._pages: list[dict] = []
        self._failures: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/services/T000/B000/demo"

    @property
    def pages(self) -> list[dict]:
        """Pages accepted so far (a copy)."""
        with self._lock:
            return list(self._pages)

    def fail_next(self, count: int, status: int, retry_after: float | None = None) -> None:
        """Answer the next `count` requests with `status` (and Retry-After) instead of accepting them."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests += 1
                    failure = receiver._failures.pop(0) if receiver._failures else None
                if failure is not None:
                    status, retry_after = failure
                    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                    return self._answer(status, b"rate_limited" if status == 429 else b"no_service", headers)
                try:
                    page = json.loads(body)
                    if not isinstance(page, dict) or not isinstance(page.get("text"), str):
                        raise ValueError
                except ValueError:
                    return self._answer(400, b"invalid_payload")
                with receiver._lock:
                    receiver._pages.append(page)
                if receiver.on_page is not None:
                    receiver.on_page(page)
                self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="demo-receiver", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
