"""`/api/v1/routes`, `/api/v1/receivers` and `/api/v1/routes/test` against a real `vigil api` and config file."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.conftest import start_api
from tests.harness import drop_env, wait_until

pytestmark = pytest.mark.integration

PD_KEY = "pd-SECRET-4f1c9e7a"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/SECRETslack93"
WEBHOOK_URL = "https://hookuser:SECRETpw@hooks.example.com:8443/hooks/SECRETpath?token=SECRETtoken"
LITERAL_KEY = "SECRETliteral0b5d"
SECRETS = (PD_KEY, SLACK_URL, "SECRETslack93", "SECRETpw", "SECRETpath", "SECRETtoken", "hookuser", LITERAL_KEY,
           "services/T000")

CONFIG = f"""
route:
  receiver: team-pager
  group_by: [alertname, cluster]
  routes:
    - matchers: ['severity="critical"', 'team=~"db|infra"']
      receiver: db-oncall
      continue: true
      mute_time_intervals: [weekend]
      routes:
        - match: {{service: postgres}}
          receiver: dba
          group_by: ['...']
          escalation_policy: databases
    - match_re: {{service: "api|web"}}
      receiver: frontend
      group_wait: 0s
      active_time_intervals: [business-hours]
    - matchers: [team = infra]
      receiver: infra-hook
      repeat_interval: 1h30m

receivers:
  - name: team-pager
    pagerduty_configs: [{{routing_key: "${{TEST_PD_KEY}}"}}]
  - name: dba
    pagerduty_configs: [{{routing_key: "{LITERAL_KEY}", severity: critical}}]
  - name: frontend
    slack_configs: [{{api_url: "${{TEST_SLACK_URL}}", channel: "#frontend", title: "{{{{ group_labels.alertname }}}}"}}]
  - name: infra-hook
    webhook_configs: [{{url: "{WEBHOOK_URL}", max_alerts: 10}}]
  - name: alice-pager
  - name: bob-pager
  - name: carol-pager

time_intervals:
  - name: weekend
    time_intervals: [{{weekdays: ['saturday', 'sunday']}}]
  - name: business-hours
    time_intervals: [{{weekdays: ['monday:friday'], times: [{{start_time: '09:00', end_time: '17:00'}}]}}]

escalation_policies:
  - name: databases
    escalate_after: 2m

schedules:
  - name: db-oncall
    layers:
      - start: "2026-11-02T09:00:00+01:00"
        rotation: 7d
        members: [alice-pager, bob-pager]
    overrides:
      - {{start: "2026-11-25T00:00:00Z", end: "2026-11-26T00:00:00Z", member: carol-pager}}
"""


@pytest.fixture(scope="module")
def configured(stack, tmp_path_factory):
    """A `vigil api` reading CONFIG, its secrets partly from the environment (as the workers read them)."""
    path = tmp_path_factory.mktemp("alerting") / "alerting.yaml"
    path.write_text(CONFIG)
    running = start_api(stack, VIGIL_ALERTING_CONFIG=str(path), TEST_PD_KEY=PD_KEY, TEST_SLACK_URL=SLACK_URL)
    running.config_path = path
    yield running
    running.http.close()
    drop_env(running.env)


def by_path(node: dict) -> dict[str, dict]:
    """Every route of the answered tree by its path."""
    found = {node["path"]: node}
    for child in node["routes"]:
        found.update(by_path(child))
    return found


def test_the_route_tree_is_what_the_workers_route_with(configured):
    answer = configured.http.get("/api/v1/routes")
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == str(configured.config_path)
    routes = by_path(answer.json()["route"])
    assert list(routes) == ["0", "0.0", "0.0.0", "0.1", "0.2"]
    root = routes["0"]
    assert (root["receiver"], root["matchers"], root["group_by"], root["continue"]) == (
        "team-pager", [], ["alertname", "cluster"], False)
    assert root["timings"] == {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
                               "group_wait_ms": 30_000, "group_interval_ms": 300_000,
                               "repeat_interval_ms": 14_400_000}
    db = routes["0.0"]
    assert db["matchers"] == ['severity="critical"', 'team=~"db|infra"']
    assert (db["receiver"], db["receiver_is_schedule"], db["continue"]) == ("db-oncall", True, True)
    assert db["mute_time_intervals"] == ["weekend"] and db["active_time_intervals"] == []
    dba = routes["0.0.0"]
    assert (dba["matchers"], dba["group_by"], dba["escalation_policy"]) == (['service="postgres"'], ["..."],
                                                                            "databases")
    assert dba["timings"]["group_wait"] == "30s", "timings are inherited from the parent"
    assert routes["0.1"]["matchers"] == ['service=~"api|web"'] and routes["0.1"]["timings"]["group_wait"] == "0s"
    assert routes["0.1"]["active_time_intervals"] == ["business-hours"]
    assert routes["0.2"]["matchers"] == ['team="infra"'] and routes["0.2"]["timings"]["repeat_interval"] == "1h30m"
    assert routes["0.2"]["escalation_policy"] == "default"


def test_receivers_show_their_settings_with_every_secret_redacted(configured):
    answer = configured.http.get("/api/v1/receivers")
    assert answer.status_code == 200, answer.text
    for secret in SECRETS:
        assert secret not in answer.text
    receivers = {r["name"]: r["integrations"] for r in answer.json()["items"]}
    assert list(receivers) == ["team-pager", "dba", "frontend", "infra-hook", "alice-pager", "bob-pager",
                               "carol-pager"]
    (pager,) = receivers["team-pager"]
    assert (pager["id"], pager["kind"]) == ("team-pager/pagerduty/0", "pagerduty")
    assert pager["settings"]["routing_key"] == "redacted"
    assert pager["settings"]["url"] == "https://events.pagerduty.com/v2/enqueue"  # not a secret
    assert receivers["dba"][0]["settings"]["routing_key"] == "redacted"
    assert receivers["dba"][0]["settings"]["severity"] == "critical"
    (slack,) = receivers["frontend"]
    assert slack["kind"] == "slack" and slack["settings"]["url"] == "https://hooks.slack.com/… (redacted)"
    assert slack["settings"]["channel"] == "#frontend" and slack["settings"]["title"] == "{{ group_labels.alertname }}"
    (hook,) = receivers["infra-hook"]
    assert hook["settings"]["url"] == "https://hooks.example.com:8443/… (redacted)"
    assert hook["settings"]["max_alerts"] == 10 and hook["settings"]["send_resolved"] is True
    assert receivers["alice-pager"] == []


def test_routes_test_tells_where_labels_go(configured):
    def routed(*labels: str, at: str = "2026-11-25T12:00:00Z") -> dict:
        answer = configured.http.get("/api/v1/routes/test", params={"label": list(labels), "at": at})
        assert answer.status_code == 200, answer.text
        return answer.json()

    nothing = routed()
    assert nothing["receivers"] == ["team-pager"] and [r["path"] for r in nothing["routes"]] == ["0"]

    infra = routed("severity=critical", "team=infra", "alertname=DiskFull", "cluster=eu1", "host=db-1")
    assert infra["labels"]["host"] == "db-1" and infra["at"].startswith("2026-11-25T12:00:00")
    assert infra["receivers"] == ["db-oncall", "infra-hook"], "continue: true lets the next sibling match too"
    oncall, hook = infra["routes"]
    assert (oncall["path"], oncall["schedule"], oncall["on_call"], oncall["muted"]) == ("0.0", True, "carol-pager",
                                                                                        False)
    assert oncall["group_labels"] == {"alertname": "DiskFull", "cluster": "eu1"}
    assert (hook["path"], hook["schedule"], hook["on_call"]) == ("0.2", False, None)

    saturday = routed("severity=critical", "team=db", at="2026-11-28T12:00:00Z")
    assert saturday["receivers"] == ["db-oncall"]
    assert saturday["routes"][0]["muted"] is True and saturday["routes"][0]["on_call"] == "bob-pager"

    postgres = routed("severity=critical", "team=db", "service=postgres", "cluster=eu1")
    assert postgres["receivers"] == ["dba"]
    assert postgres["routes"][0]["group_labels"] == {"severity": "critical", "team": "db", "service": "postgres",
                                                     "cluster": "eu1"}
    evening = routed("service=web", at="1795460400")  # 2026-11-23 (a Monday) 19:00 UTC: outside business hours
    assert evening["receivers"] == ["frontend"] and evening["routes"][0]["muted"] is True


@pytest.mark.parametrize("params", [
    {"label": "bad-name=x"}, {"label": "noequals"}, {"label": ["team=a", "team=b"]},
    {"label": [f"l{i}=v" for i in range(65)]}, {"label": "team=" + "x" * 1025}, {"at": "yesterday"},
    {"at": "2026-11-25T12:00:00"}, {"lable": "team=db"}, {"label": "team=a\x00"},
])
def test_routes_test_refuses_bad_parameters_with_a_422(configured, params):
    answer = configured.http.get("/api/v1/routes/test", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"][0] == "query"


def test_viewers_read_the_alerting_config_and_nobody_without_a_key(configured):
    with configured.client("viewer") as viewer:
        for path in ("/api/v1/routes", "/api/v1/receivers", "/api/v1/routes/test?label=team=db"):
            assert viewer.get(path).status_code == 200
            assert httpx.get(f"{configured.http.base_url}{path}").status_code == 401


def test_without_a_config_the_built_in_default_is_shown(api):
    tree = api.http.get("/api/v1/routes").json()
    assert "built-in default" in tree["source"]
    root = tree["route"]
    assert (root["receiver"], root["group_by"], root["timings"]["group_wait"], root["routes"]) == (
        "slack", ["..."], "0s", [])
    assert api.http.get("/api/v1/receivers").json()["items"] == [{"name": "slack", "integrations": []}]
    assert api.http.get("/api/v1/routes/test", params={"label": "a=b"}).json()["receivers"] == ["slack"]


def test_an_edited_file_is_shown_without_a_restart_and_a_broken_edit_is_not(stack, tmp_path):
    path = tmp_path / "alerting.yaml"
    path.write_text("route: {receiver: first}\nreceivers: [{name: first}]\n")
    running = start_api(stack, VIGIL_ALERTING_CONFIG=str(path))
    try:
        assert running.http.get("/api/v1/routes").json()["route"]["receiver"] == "first"
        path.write_text("route:\n  receiver: second\n  routes: [{matchers: ['team=\"db\"'], receiver: dba}]\n"
                        "receivers: [{name: second}, {name: dba}]\n")
        wait_until(lambda: running.http.get("/api/v1/routes").json()["route"]["receiver"] == "second",
                   timeout=15, message="the API shows the edited file")
        assert running.http.get("/api/v1/routes/test", params={"label": "team=db"}).json()["receivers"] == ["dba"]
        assert [r["name"] for r in running.http.get("/api/v1/receivers").json()["items"]] == ["second", "dba"]

        path.write_text("route: {recevier: oops}\n")
        time.sleep(5)  # more than the reload check period (config_source.CHECK_EVERY_S)
        still = running.http.get("/api/v1/routes")
        assert still.status_code == 200 and still.json()["route"]["receiver"] == "second", "the last good config stays"
    finally:
        running.http.close()
        drop_env(running.env)
