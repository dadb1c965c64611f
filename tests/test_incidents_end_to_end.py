"""Incidents end to end: samples through ingest and rules to grouped, silenced, inhibited, escalated pages.

Every Vigil process runs as in production against the test stack; the pager is a local
Slack-compatible webhook receiver per receiver name (infra/demo/receiver.py), so what is
asserted is what on-call people would see arrive: how many pages, for which group, when.
"""

from __future__ import annotations

import time

import httpx
import pytest

from infra.demo.receiver import DemoReceiver
from tests.harness import api_client, free_port, wait_until

pytestmark = pytest.mark.integration

RULES = """
rules:
  - {id: cpu, alert: HighCPU, metric: cpu_usage, op: ">", threshold: 90, labels: {severity: warning},
     annotations: {summary: "{{ $labels.host }} at {{ $value }}%"}}
  - {id: cluster-down, alert: ClusterDown, metric: cluster_up, op: "<", threshold: 1, labels: {severity: critical}}
  - {id: queue, alert: QueueStuck, metric: queue_depth, op: ">", threshold: 10, labels: {team: payments}}
"""

ALERTING = """
route:
  receiver: pager
  group_by: [alertname, cluster]
  group_wait: 2s
  group_interval: 3s
  repeat_interval: 4h
  escalation_policy: calm
  routes:
    - matchers: ['team="payments"']
      receiver: pager
      group_by: [alertname, host]
      escalation_policy: fast
receivers:
  - {name: pager, slack_configs: [{api_url: "${VIGIL_TEST_PAGER_URL}"}]}
  - {name: lead, slack_configs: [{api_url: "${VIGIL_TEST_LEAD_URL}"}]}
  - {name: manager, slack_configs: [{api_url: "${VIGIL_TEST_MANAGER_URL}"}]}
inhibit_rules:
  - {source_matchers: ['alertname="ClusterDown"'], target_matchers: ['severity="warning"'], equal: [cluster]}
escalation_policies:
  - {name: calm, escalate_after: 100h}
  - {name: fast, escalate_after: 4s, critical_after: 3s, escalated_receivers: [lead], critical_receivers: [manager]}
"""


@pytest.fixture
def pipeline(vigil_env, tmp_path):
    """api, ingest, streams, sinks and notifier with the rules and alerting config above; three pagers."""
    pagers = {name: DemoReceiver(free_port()) for name in ("pager", "lead", "manager")}
    for receiver in pagers.values():
        receiver.start()
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "alerting.yaml").write_text(ALERTING)
    ports = {name: free_port() for name in ("ingest", "streams", "sinks", "notifier", "api")}
    env = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]),
           "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]), "VIGIL_NOTIFIER_HEALTH_PORT": str(ports["notifier"]),
           "VIGIL_API_PORT": str(ports["api"]), "VIGIL_DATA_DIR": str(tmp_path / "faust"),
           "VIGIL_RULES_FILE": str(tmp_path / "rules.yaml"), "VIGIL_ALERTING_CONFIG": str(tmp_path / "alerting.yaml"),
           **{f"VIGIL_TEST_{name.upper()}_URL": r.url for name, r in pagers.items()}}
    for name in ("api", "ingest", "streams", "sinks", "notifier"):
        vigil_env.start(name, health_port=ports[name], extra_env=env)
    api = api_client(vigil_env, ports["api"], timeout=20)
    ingest = httpx.Client(base_url=f"http://127.0.0.1:{ports['ingest']}", timeout=20)
    yield api, ingest, pagers
    api.close()
    ingest.close()
    for receiver in pagers.values():
        receiver.stop()


def write(ingest: httpx.Client, lines: list[str]) -> None:
    """Influx line protocol through ingest, stamped now (ms)."""
    now = int(time.time() * 1000)
    answer = ingest.post("/write?precision=ms", content="\n".join(f"{line} {now}" for line in lines))
    assert answer.status_code == 204, answer.text


def pages_about(receiver: DemoReceiver, needle: str) -> list[dict]:
    """Pages whose text mentions `needle` (a group label such as `cluster=c3`)."""
    return [p for p in receiver.pages if needle in p["text"]]


def test_storm_silence_and_inhibition(pipeline):
    api, ingest, pagers = pipeline
    pager = pagers["pager"]
    silence = api.post("/api/v1/silences", json={"matchers": ['cluster="quiet"'], "duration": "1h",
                                                  "created_by": "ops", "comment": "maintenance"})
    assert silence.status_code == 201, silence.text
    write(ingest, ["cluster,cluster=broken up=0"])  # ClusterDown for cluster=broken: inhibits its warnings
    wait_until(lambda: pages_about(pager, "cluster=broken"), timeout=30, message="ClusterDown paged")
    time.sleep(1)  # the inhibit feed of the worker reads the alerts topic continuously

    # A storm: 1,000 hosts over 10 clusters cross the threshold at once, plus the silenced and the inhibited.
    write(ingest, [f"cpu,cluster=c{i % 10},host=h{i} usage=99" for i in range(1000)]
          + [f"cpu,cluster=quiet,host=q{i} usage=99" for i in range(5)]
          + [f"cpu,cluster=broken,host=b{i} usage=99" for i in range(5)])
    wait_until(lambda: all(pages_about(pager, f"cluster=c{i}") for i in range(10)), timeout=60,
               message="a page per storm group")
    time.sleep(6)  # two more group intervals: nothing else may arrive
    for i in range(10):
        pages = pages_about(pager, f"cluster=c{i}")
        assert len(pages) == 1, [p["text"][:80] for p in pages]
        assert "HighCPU" in pages[0]["text"]
    assert pages_about(pager, "cluster=quiet") == []  # silenced
    assert [p["text"][:40] for p in pages_about(pager, "cluster=broken")] == [
        p["text"][:40] for p in pages_about(pager, "ClusterDown")]  # only ClusterDown: the warnings are inhibited
    assert len(pager.pages) == 11

    # Expiring the silence lets its group page at the next flush.
    assert api.delete(f"/api/v1/silences/{silence.json()['id']}").status_code in (200, 204)
    wait_until(lambda: pages_about(pager, "cluster=quiet"), timeout=30, message="the unsilenced group paged")
    incidents = wait_until(lambda: (r := api.get("/api/v1/incidents", params={"limit": 100})).status_code == 200
                           and len(r.json()["items"]) >= 12 and r.json()["items"], timeout=30,
                           message="the incidents in the API")
    assert {i["status"] for i in incidents} == {"OPEN"}


def test_escalation_on_time_and_ack_stops_it(pipeline):
    api, ingest, pagers = pipeline
    write(ingest, ["queue,host=a depth=50", "queue,host=b depth=50"])
    wait_until(lambda: pages_about(pagers["pager"], "host=a") and pages_about(pagers["pager"], "host=b"),
               timeout=30, message="both queues paged")

    def incident(host: str) -> dict | None:
        r = api.get("/api/v1/incidents", params={"label": f"host={host}"})
        items = r.json()["items"] if r.status_code == 200 else []
        return items[0] if items else None

    b = wait_until(lambda: incident("b"), timeout=20, message="incident of host=b in the API")
    ack = api.post(f"/api/v1/incidents/{b['incident_key']}/acknowledge", json={"actor": "alice", "comment": "mine"})
    assert ack.status_code == 202, ack.text

    # Nobody acknowledges host=a: escalated to the lead after 4 s, critical to the manager 3 s later.
    wait_until(lambda: pages_about(pagers["manager"], "host=a"), timeout=30, message="host=a critical")
    a = incident("a")
    detail = wait_until(lambda: (d := api.get(f"/api/v1/incidents/{a['incident_key']}").json())
                        and d["status"] == "CRITICAL" and d, timeout=20, message="critical in Postgres")
    events = [e for e in detail["timeline"] if e["kind"] == "event"]
    assert [e["status"] for e in events] == ["OPEN", "ESCALATED", "CRITICAL"]
    at = [e["event_time_ms"] for e in events]
    assert (at[1] - at[0], at[2] - at[1]) == (4000, 3000)  # on the policy's times exactly
    assert len(pages_about(pagers["lead"], "host=a")) == 1

    time.sleep(3)
    b_detail = api.get(f"/api/v1/incidents/{b['incident_key']}").json()
    assert [e["status"] for e in b_detail["timeline"] if e["kind"] == "event"] == ["OPEN", "ACKNOWLEDGED"]
    assert pages_about(pagers["lead"], "host=b") == [] and pages_about(pagers["manager"], "host=b") == []
    assert len(pages_about(pagers["pager"], "host=b")) == 2  # the page, then the acknowledgement
