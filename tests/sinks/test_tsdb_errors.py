"""How TSDB write errors are classified, from real HTTP answers of a local server (no Vigil servers)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from schemas.records import MetricBatch
from sinks.base import Consumed, WriteFailed, WriteRejected
from sinks.tsdb import TsdbSink
from tests.harness import closed_port

BATCH: MetricBatch = {"partition": 0, "source": "test", "accepted_at_ms": 0, "samples": [
    {"series_id": 1, "name": "up", "labels": {"job": "x"}, "value": 1.0, "timestamp_ms": 1_700_000_000_000}]}


@pytest.fixture
def answering():
    """Start a local HTTP server that answers every write with (status, headers, body, delay_s)."""
    servers = []

    def start(status: int, headers: dict[str, str] | None = None, body: bytes = b"", delay_s: float = 0.0) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay_s)
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def write(url: str, timeout_s: float = 5.0) -> int:
    """One TsdbSink write of one sample to `url`."""
    sink = TsdbSink(url, timeout_s=timeout_s, max_lines=1000)
    try:
        return sink.write([Consumed("metrics", 0, 0, BATCH)])
    finally:
        sink.close()


def test_a_204_is_success(answering):
    assert write(answering(204)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(answering, status):
    with pytest.raises(WriteFailed) as caught:
        write(answering(status, body=b'{"message":"storage busy"}'))
    assert caught.value.reason == "http_5xx"
    assert f"HTTP {status}" in str(caught.value) and "storage busy" in str(caught.value)


def test_429_is_retryable_and_its_retry_after_is_honoured(answering):
    with pytest.raises(WriteFailed) as caught:
        write(answering(429, headers={"Retry-After": "7"}))
    assert caught.value.reason == "http_429" and caught.value.retry_after == 7.0


def test_a_400_is_permanent_and_says_why(answering):
    with pytest.raises(WriteRejected) as caught:
        write(answering(400, body=b'{"code":"invalid","message":"unable to parse line 1"}'))
    assert caught.value.reason == "http_4xx" and "unable to parse line 1" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_wrong_url_or_credentials_is_retried_rather_than_dropping_every_batch(answering, status):
    with pytest.raises(WriteFailed) as caught:
        write(answering(status))
    assert caught.value.reason == f"http_{status}"


def test_nothing_listening_is_retryable_with_the_same_message_each_time():
    url = f"http://127.0.0.1:{closed_port()}"
    errors = []
    for _ in range(2):
        with pytest.raises(WriteFailed) as caught:
            write(url)
        errors.append(caught.value)
    assert errors[0].reason == "unreachable" and "Connection refused" in str(errors[0])
    assert str(errors[0]) == str(errors[1])  # so the retry helper logs it once, not per attempt


def test_a_server_too_slow_to_answer_is_a_retryable_timeout(answering):
    with pytest.raises(WriteFailed) as caught:
        write(answering(204, delay_s=1.0), timeout_s=0.2)
    assert caught.value.reason == "timeout"
