"""A receiver's URL is its credential: no log line and no Delivery record may carry it (issue 15).

The dispatcher runs in-process against real Redis, Kafka and HTTP receivers, with the logging that
`vigil notifier` sets up (infra/cli.py) and every logger at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.cli import _logging
from infra.demo.receiver import WEBHOOK
from notifier.dispatch import Decision
from kernel.alerting.receivers import ReceiverConfig
from schemas import codec
from tests.harness import free_port
from infra.topic_reader import TopicReader
from tests.notifier import dispatching
from schemas.examples import incident

pytestmark = pytest.mark.integration

WEBHOOK_TOKEN = "whTOKEN5e1f0c9a7b3d"
SLACK_TOKEN = "xoxSLACK8c2d4e6f0a1b"
ECHO_TOKEN = "echoTOKEN3a9b7c1d5e"
TOKENS = (WEBHOOK_TOKEN, SLACK_TOKEN, ECHO_TOKEN)


class _Echo(BaseHTTPRequestHandler):
    """A receiver (or proxy) that answers 404 quoting the request line, URL and token included."""

    def do_POST(self) -> None:  # http.server's naming
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = f"no route for {self.command} {self.path}".encode()
        self.send_response(404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def notifier_logging(caplog):
    """`vigil notifier`'s logging setup, with every logger Vigil's own at DEBUG; restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in ("httpx", "httpcore")})
    _logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    yield caplog
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def deliver(vigil_env, config: ReceiverConfig) -> dict[str, Decision]:
    """Deliver one incident to every integration of `config` with the notifier's real parts."""
    async def body(dispatcher, integrations, *_):
        results = {i.id: await dispatcher.deliver(incident(), i) for i in integrations}
        await asyncio.gather(*(a for r in results.values() for a in r.acks))
        return {where: r.decision for where, r in results.items()}
    return dispatching.run(vigil_env, config, body)


def test_delivering_to_urls_with_tokens_logs_and_records_no_token(vigil_env, receiver, echo, notifier_logging):
    receiver.fail_next(1, 503, dialect=WEBHOOK)  # a retry, logged
    config = ReceiverConfig(name="team", slack_configs=({"api_url": receiver.slack_url(SLACK_TOKEN)},),
                            webhook_configs=({"url": f"{receiver.webhook_url}?token={WEBHOOK_TOKEN}"},
                                             {"url": f"{echo}/hook?token={ECHO_TOKEN}"}))
    decisions = deliver(vigil_env, config)
    assert decisions == {"team/slack/0": Decision.DELIVERED, "team/webhook/0": Decision.DELIVERED,
                         "team/webhook/1": Decision.FAILED_PERMANENTLY}
    assert len(receiver.pages) == len(receiver.webhooks) == 1
    logged = notifier_logging.text
    assert "retrying" in logged and "failed permanently" in logged  # the deliveries were logged …
    for token in TOKENS:
        assert token not in logged  # … without a token
    deliveries = TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())
    records = deliveries.wait_for(lambda r: len(r) >= 4)
    assert sorted((d["receiver"], d["status"], d["http_status"]) for d in records) == [
        ("team/slack/0", "DELIVERED", 200), ("team/webhook/0", "DELIVERED", 200),
        ("team/webhook/0", "RETRYING", 503), ("team/webhook/1", "FAILED", 404)]
    echoed = next(d["response"] for d in records if d["receiver"] == "team/webhook/1")
    assert echoed == "no route for POST /hook?REDACTED"  # the receiver's answer, its echo of the token redacted
    for record in records:
        assert not any(token in str(value) for token in TOKENS for value in record.values()), record
