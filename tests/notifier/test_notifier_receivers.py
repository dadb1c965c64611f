"""`vigil notifier` with VIGIL_ALERTING_CONFIG: PagerDuty, Slack and webhook integrations, as a real subprocess
against real Kafka, real Redis and the local receivers (which check payloads as PagerDuty and Slack do)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.demo.receiver import PAGERDUTY, SLACK, DemoReceiver
from kernel.kafka import make_producer
from notifier.outbox import DELIVERY_HEADER
from schemas import codec
from tests.harness import REPO, free_port, wait_until
from infra.topic_reader import TopicReader
from schemas.examples import alert, incident

pytestmark = pytest.mark.integration
KEY = "0123456789abcdef0123456789abcdef"  # PagerDuty routing keys are 32 characters
OTHER_KEY = "fedcba9876543210fedcba9876543210"


def config(receiver: DemoReceiver) -> str:
    return f"""
route: {{receiver: team}}
receivers:
  - name: team
    pagerduty_configs: [{{routing_key: {KEY}, url: "{receiver.pagerduty_url}"}}]
    slack_configs: [{{api_url: "{receiver.slack_url('team')}", channel: "#team",
                      title: "{{{{ status | upper }}}} {{{{ group_labels.alertname }}}} ({{{{ firing | length }}}})"}}]
    webhook_configs: [{{url: "{receiver.webhook_url}", send_resolved: false}}]
  - name: pager
    pagerduty_configs: [{{routing_key: {KEY}, url: "{receiver.pagerduty_url}"}}]
  - name: other-pager
    pagerduty_configs: [{{routing_key: {OTHER_KEY}, url: "{receiver.pagerduty_url}"}}]
  - name: chat
    slack_configs: [{{api_url: "{receiver.slack_url('chat')}"}}]
  - name: broken-pager
    pagerduty_configs: [{{routing_key: too-short, url: "{receiver.pagerduty_url}"}}]
"""


def start_notifier(vigil_env, receiver, tmp_path, name="notifier", **env):
    """The notifier with this module's alerting config; returns the process and its /metrics URL."""
    path = tmp_path / "alerting.yaml"
    path.write_text(config(receiver))
    port = free_port()
    proc = vigil_env.start("notifier", health_port=port, name=name, extra_env={
        "VIGIL_NOTIFIER_HEALTH_PORT": str(port), "VIGIL_ALERTING_CONFIG": str(path), "VIGIL_BACKOFF_INITIAL_S": "0.1",
        "VIGIL_MAX_ATTEMPTS": "4", **env})
    return proc, f"http://127.0.0.1:{port}/metrics"


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of the notifier's /metrics (0 when absent)."""
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def publish(settings, *notes) -> None:
    producer = make_producer(settings)
    for n in notes:
        producer.produce(settings.topics.notifications, codec.notification().encode(n), key=n["dedup_key"].encode())
    assert producer.flush(10) == 0


def deliveries(vigil_env) -> TopicReader:
    return TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())


def test_trigger_acknowledge_resolve_land_on_one_pagerduty_alert(vigil_env, receiver, tmp_path):
    _, metrics_url = start_notifier(vigil_env, receiver, tmp_path)
    resolved = [alert(1, "resolved"), alert(2, "resolved")]
    publish(vigil_env.settings, incident("inc-a"),
            incident("inc-a", "ACKNOWLEDGE", 2, status="ACKNOWLEDGED", reason="acknowledged"),
            incident("inc-a", "RESOLVE", 3, alerts=resolved, status="RESOLVED", reason="all_alerts_resolved"))
    wait_until(lambda: len(receiver.pd_events) == 3 and len(receiver.pages) == 3, message="3 events and 3 messages")
    (pd_alert,) = receiver.pd_alerts("inc-a")
    assert pd_alert.status == "resolved"
    assert [e["event_action"] for e in pd_alert.events] == ["trigger", "acknowledge", "resolve"]
    assert pd_alert.events[0]["payload"]["severity"] == "critical"  # severity "page"
    assert [p["blocks"][0]["text"]["text"] for p in receiver.pages] == [
        ":rotating_light: FIRING HighCPU (2)", ":eyes: ACKNOWLEDGED HighCPU (2)", ":white_check_mark: RESOLVED HighCPU (0)"]
    assert all(p["channel"] == "#team" for p in receiver.pages)
    # The webhook: no acknowledge (Alertmanager's payload has none), no resolve (send_resolved: false).
    assert [(w["status"], w["receiver"], len(w["alerts"])) for w in receiver.webhooks] == [("firing", "team", 2)]
    records = deliveries(vigil_env).wait_for(lambda r: len(r) >= 7)
    assert sorted({(d["receiver"], d["action"]) for d in records}) == [
        ("team/pagerduty/0", "ACKNOWLEDGE"), ("team/pagerduty/0", "RESOLVE"), ("team/pagerduty/0", "TRIGGER"),
        ("team/slack/0", "ACKNOWLEDGE"), ("team/slack/0", "RESOLVE"), ("team/slack/0", "TRIGGER"),
        ("team/webhook/0", "TRIGGER")]
    assert {d["status"] for d in records} == {"DELIVERED"}
    # Every decision is counted by kind and reason.
    assert metric(metrics_url, "vigil_notifier_decisions_total", kind="pagerduty", decision="delivered") == 3
    assert metric(metrics_url, "vigil_notifier_decisions_total", kind="webhook",
                  decision="acknowledge_not_supported") == 1
    assert metric(metrics_url, "vigil_notifier_decisions_total", kind="webhook", decision="send_resolved_false") == 1


def test_429_then_500_then_success_is_one_page(vigil_env, receiver, tmp_path):
    receiver.fail_next(1, 429, retry_after=1, dialect=PAGERDUTY)
    receiver.fail_next(1, 500, dialect=PAGERDUTY)
    start_notifier(vigil_env, receiver, tmp_path)
    publish(vigil_env.settings, incident("inc-b", receiver="pager"))
    records = deliveries(vigil_env).wait_for(lambda r: len(r) >= 3)
    assert [(d["attempt"], d["status"], d["http_status"]) for d in records] == [
        (1, "RETRYING", 429), (2, "RETRYING", 500), (3, "DELIVERED", 202)]
    assert len(receiver.pd_alerts("inc-b")) == 1 and len(receiver.pd_events) == 1


def test_400_is_not_retried_and_goes_to_the_dead_letter_topic(vigil_env, receiver, tmp_path):
    start_notifier(vigil_env, receiver, tmp_path)
    publish(vigil_env.settings, incident("inc-c", receiver="broken-pager"))  # PagerDuty refuses its routing key
    publish(vigil_env.settings, incident("inc-d", receiver="pager"))
    dead = TopicReader(vigil_env.settings, vigil_env.settings.topics.dead_notifications, codec.notification())
    deadline = time.monotonic() + 40
    while (msg := dead.consumer.poll(0.2)) is None or msg.error():
        assert time.monotonic() < deadline, "no dead letter"
    assert codec.notification().decode(msg.value())["dedup_key"] == "inc-c"
    final = codec.delivery().decode(dict(msg.headers())[DELIVERY_HEADER])
    assert (final["receiver"], final["status"], final["http_status"]) == ("broken-pager/pagerduty/0", "FAILED", 400)
    assert "routing_key" in final["response"]  # PagerDuty's own explanation
    wait_until(lambda: len(receiver.pd_alerts("inc-d")) == 1, message="the next notification paged")
    records = deliveries(vigil_env).wait_for(lambda r: len(r) >= 2)
    assert [(d["attempt"], d["status"]) for d in records if d["dedup_key"] == "inc-c"] == [(1, "FAILED")]
    assert receiver.requests == 2  # the 400 was not retried


def test_limiters_hold_their_rates(vigil_env, receiver, tmp_path):
    """PagerDuty per routing key and Slack per channel (rates lowered for the test); other keys aren't held up."""
    _, metrics_url = start_notifier(vigil_env, receiver, tmp_path, VIGIL_PAGERDUTY_EVENTS_PER_MINUTE="60",
                                    VIGIL_SLACK_MESSAGES_PER_SECOND="2")
    n = 5
    publish(vigil_env.settings, *(incident(f"pd-{i}", receiver="pager") for i in range(n)),
            *(incident(f"chat-{i}", receiver="chat") for i in range(n)), incident("other", receiver="other-pager"))
    wait_until(lambda: len(receiver.pd_events) == n + 1 and len(receiver.pages) == n, timeout=40,
               message="every event and message")
    pd = [a.at for a in receiver.arrivals(PAGERDUTY) if a.body["routing_key"] == KEY]
    chat = [a.at for a in receiver.arrivals(SLACK)]
    # N sends take at least (N - burst) / rate; burst is 1 for both.
    assert pd[-1] - pd[0] >= (n - 1) / 1.0 - 0.05 and chat[-1] - chat[0] >= (n - 1) / 2.0 - 0.05
    (other,) = [a.at for a in receiver.arrivals(PAGERDUTY) if a.body["routing_key"] == OTHER_KEY]
    assert other < pd[-1]  # the other routing key did not queue behind the limited one
    assert metric(metrics_url, "vigil_notifier_limiter_waits_total", kind="pagerduty") >= n - 1


def test_a_notifier_killed_mid_send_pages_once(vigil_env, receiver, tmp_path):
    """SIGKILL while PagerDuty and Slack are slowly answering: PagerDuty gets the trigger again (it dedups,
    one alert), Slack does not (one message) and the Slack send is recorded IN_DOUBT."""
    receiver.delay_next(1, 60, dialect=PAGERDUTY)
    receiver.delay_next(1, 60, dialect=SLACK)
    first, _ = start_notifier(vigil_env, receiver, tmp_path, name="n1")
    publish(vigil_env.settings, incident("inc-k"))
    wait_until(lambda: receiver.pd_events and receiver.pages and receiver.webhooks, message="all three on the wire")
    # The webhook is answered at once: kill only once its delivery is recorded, or it is in doubt too.
    deliveries(vigil_env).wait_for(lambda r: ("team/webhook/0", "DELIVERED") in {(d["receiver"], d["status"]) for d in r},
                                   timeout=30, what="the webhook delivered")
    time.sleep(0.5)  # its sent-marker follows the Delivery record by one Redis round trip (notifier/dispatch.py)
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(10)
    _, metrics_url = start_notifier(vigil_env, receiver, tmp_path, name="n2")
    records = deliveries(vigil_env).wait_for(
        lambda r: {("team/pagerduty/0", "DELIVERED"), ("team/slack/0", "IN_DOUBT")} <= {
            (d["receiver"], d["status"]) for d in r}, timeout=60, what="the PagerDuty re-send and the Slack IN_DOUBT")
    time.sleep(1.5)  # and nothing more arrives
    assert len(receiver.pd_events) == 2 and len(receiver.pd_alerts("inc-k")) == 1  # re-sent, one alert
    assert len(receiver.pages) == 1 and len(receiver.webhooks) == 1
    in_doubt = [d for d in records if d["status"] == "IN_DOUBT"]
    assert [(d["receiver"], d["attempt"]) for d in in_doubt] == [("team/slack/0", 1)]
    assert metric(metrics_url, "vigil_notifier_in_doubt_total", kind="slack", handling="not_resent") == 1
    assert metric(metrics_url, "vigil_notifier_in_doubt_total", kind="pagerduty", handling="resent") == 1
    publish(vigil_env.settings, incident("inc-k", "RESOLVE", 2, alerts=[alert(1, "resolved")], status="RESOLVED"))
    wait_until(lambda: receiver.pd_alerts("inc-k")[0].status == "resolved" and len(receiver.pages) == 2,
               message="the resolve still flows")


def test_a_broken_alerting_config_stops_the_notifier_naming_the_problem(vigil_env, tmp_path):
    path = tmp_path / "alerting.yaml"
    path.write_text("route: {receiver: team}\nreceivers:\n  - name: team\n    slack_configs:\n"
                    "      - {api_url: 'http://127.0.0.1:1/services/x', title: '{{ incident.nope }}'}\n")
    done = subprocess.run([sys.executable, "-m", "infra.cli", "notifier"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **vigil_env.env, "VIGIL_ALERTING_CONFIG": str(path),
                                           "VIGIL_NOTIFIER_HEALTH_PORT": str(free_port())})
    assert done.returncode == 2
    assert f"{path}: receivers: receiver 'team' integration team/slack/0 field 'title'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_restart_during_a_retry_wait_sends_once_and_numbers_attempts_on(vigil_env, receiver, tmp_path):
    receiver.fail_next(1, 503, retry_after=30, dialect=PAGERDUTY)  # PagerDuty asks for 30 s
    first, _ = start_notifier(vigil_env, receiver, tmp_path, name="n1")
    publish(vigil_env.settings, incident("inc-r", receiver="pager"))
    reader = deliveries(vigil_env)
    reader.wait_for(lambda r: len(r) >= 1)
    stopping = time.monotonic()
    first.popen.send_signal(signal.SIGTERM)
    assert first.popen.wait(20) == 0 and time.monotonic() - stopping < 10  # the wait ends at once
    start_notifier(vigil_env, receiver, tmp_path, name="n2")
    records = reader.wait_for(lambda r: len(r) >= 2, timeout=60)
    assert [(d["attempt"], d["status"], d["http_status"]) for d in records] == [(1, "RETRYING", 503),
                                                                             (2, "DELIVERED", 202)]
    assert len(receiver.pd_alerts("inc-r")) == 1 and len(receiver.pd_events) == 1
