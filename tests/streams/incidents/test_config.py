"""The alerting config file: what loads, and errors that name the file, line and YAML path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from kernel.alerting.config import (AlertingConfig, AlertingConfigError, EscalationPolicy, load_alerting_config,
                                      parse_alerting_config)

TESTDATA = Path(__file__).parent / "testdata"
ENV = {"VIGIL_PD_KEY": "pd-key", "VIGIL_SLACK_URL": "http://127.0.0.1:9/slack"}
DEMO_ENV = {"VIGIL_SLACK_WEBHOOK_URL": "http://127.0.0.1:8094/slack", "VIGIL_DEMO_PD_ROUTING_KEY": "demo-key",
            "VIGIL_DEMO_PD_URL": "http://127.0.0.1:8094/pagerduty"}


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerting.yaml"
    path.write_text(text)
    return path


def test_the_full_example_loads_every_section():
    config = load_alerting_config(TESTDATA / "alerting.yaml", ENV)
    assert [r.path for r in config.routes()] == ["0", "0.0", "0.0.0", "0.1", "0.2"]
    assert [r.name for r in config.receivers][:4] == ["team-pager", "dba", "frontend", "infra-slack"]
    assert config.receivers[0].pagerduty_configs[0].routing_key.get_secret_value() == "pd-key"  # ${VIGIL_PD_KEY}
    assert config.receivers[2].slack_configs[0].url.get_secret_value() == "http://127.0.0.1:9/slack"
    assert [str(m) for m in config.inhibit_rules[1].target_matchers] == ['alertname=~".+"']  # legacy target_match_re
    assert config.inhibit_rules[0].equal == ("alertname", "cluster")
    assert set(config.time_intervals) == {"weekend", "business-hours"}
    assert set(config.schedules) == {"db-oncall"}
    assert config.policy("databases") == EscalationPolicy(
        name="databases", escalate_after_ms=120_000, critical_after_ms=30_000,
        escalated_receivers=("db-oncall",), critical_receivers=("team-lead",))
    assert config.policy("default").escalated_receivers == ("team-lead",)  # the file's own default
    assert config.resolve_target("db-oncall", ms("2026-11-25T10:00:00Z")) == "carol-pager"  # an override


def test_the_demo_config_is_valid():
    config = load_alerting_config(Path("infra/demo/alerting.yaml"), DEMO_ENV)
    root, critical = config.route, config.route.routes[0]
    assert (root.receiver, root.group_by, root.group_wait_ms, root.group_interval_ms, root.repeat_interval_ms) == (
        "slack", ("alertname", "host"), 5000, 30_000, 4 * 3600_000)
    assert (critical.receiver, critical.continue_, [str(m) for m in critical.matchers]) == (
        "primary", True, ['severity=~"page|critical"'])
    assert config.policy("default").escalate_after_ms == 120_000 and config.policy("default").critical_after_ms == 60_000
    assert config.resolve_target("primary", ms("2026-11-25T10:00:00Z")) == "pagerduty"
    assert config.receivers[1].pagerduty_configs[0].url == "http://127.0.0.1:8094/pagerduty"


def test_muting_by_mute_and_active_time_intervals():
    config = load_alerting_config(TESTDATA / "alerting.yaml", ENV)
    root, db, _, frontend, _ = config.routes()
    saturday, wednesday_10, wednesday_20 = ms("2026-11-28T10:00:00Z"), ms("2026-11-25T09:00:00Z"), ms(
        "2026-11-25T19:00:00Z")
    assert config.muted(db, saturday) and not config.muted(db, wednesday_10)  # mute_time_intervals: [weekend]
    assert not config.muted(frontend, wednesday_10)  # 10:00 in Berlin is business hours
    assert config.muted(frontend, wednesday_20) and config.muted(frontend, saturday)  # outside them
    assert not config.muted(root, saturday)


def test_no_file_means_one_route_with_the_defaults():
    config = AlertingConfig.default("slack")
    assert [(r.path, r.receiver, r.group_wait_ms, r.group_interval_ms, r.repeat_interval_ms) for r in config.routes()] \
        == [("0", "slack", 30_000, 300_000, 14_400_000)]
    assert config.receivers == () and config.inhibit_rules == () and config.schedules == {}
    assert config.policy("default") == EscalationPolicy(name="default")
    assert (config.policy("default").escalate_after_ms, config.policy("default").critical_after_ms) == (900_000, 300_000)
    assert config.policy("removed-since") == config.policy("default")
    assert config.resolve_target("slack", 0) == "slack" and not config.muted(config.route, 0)


def test_environment_variables_and_the_literal_escape(tmp_path):
    path = TESTDATA / "alerting.yaml"
    with pytest.raises(AlertingConfigError) as err:
        load_alerting_config(path, {"VIGIL_PD_KEY": "k"})
    assert f"{path}:32: receivers[2].slack_configs[0].api_url: environment variable VIGIL_SLACK_URL is not set" \
        in str(err.value)
    literal = "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://h/$${TOKEN}/${HOST}'}]}]\n"
    config = load_alerting_config(write(tmp_path, literal), {"HOST": "x"})
    assert config.receivers[0].webhook_configs[0].url.get_secret_value() == "http://h/${TOKEN}/x"


GOOD = """\
route:
  receiver: team
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: team
  - name: pager
"""


@pytest.mark.parametrize("change, expected", [
    (("      receiver: pager", "      recevier: pager"), ":5: route.routes[0].recevier: unknown field"),
    (("      receiver: pager", "      receiver: pagr"),
     ":5: route.routes[0].receiver: 'pagr' is neither a receiver nor a schedule (defined: pager, team)"),
    (("  receiver: team\n", "  receiver: team\n  group_wait: 30 seconds\n"),
     ":3: route.group_wait: '30 seconds' is not a duration like 30s, 5m, 1h30m or 0s"),
    (("'severity=\"critical\"'", "'severity=~\"(critical\"'"),
     ":4: route.routes[0].matchers[0]: 'severity=~\"(critical\"': invalid regex (RE2 syntax, as in Prometheus)"),
    (("'severity=\"critical\"'", "'severity=critical\"'"),
     ":4: route.routes[0].matchers[0]: 'severity=critical\"' is not a label matcher like name=\"value\""),
    (("  - name: pager", "  - name: team"), ":8: receivers[1].name: another receiver is already named 'team'"),
    (("  receiver: team\n", "  receiver: team\n  matchers: ['a=\"b\"']\n"),
     ":3: route.matchers: the root route must not have matchers"),
    (("  receiver: team\n", "  receiver: team\n  continue: true\n"), ":3: route.continue: the root route cannot"),
    (("  receiver: team\n", ""), ":1: route.receiver: required: the root route's receiver gets every alert"),
    (("      receiver: pager", "      receiver: pager\n      mute_time_intervals: [weekend]"),
     ":6: route.routes[0].mute_time_intervals[0]: no time interval is named 'weekend' (none is defined)"),
    (("      receiver: pager", "      receiver: pager\n      escalation_policy: urgent"),
     ":6: route.routes[0].escalation_policy: no escalation policy is named 'urgent' (defined: default)"),
    (("  - name: pager", "  - name: pager\n    slack_configs: [{channel: '#x'}]"),
     ":9: receivers[1].slack_configs[0].api_url: required"),
    (("  - name: pager", "  - name: pager\n    email_configs: [{to: x@example.org}]"),
     ":9: receivers[1].email_configs: unknown field"),
    (("receivers:", "escalation_policies: [{name: fast, escalate_after: 500ms}]\nreceivers:"),
     ":6: escalation_policies[0].escalate_after: must be at least 1s"),
    (("receivers:", "escalation_policies: [{name: fast, escalated_receivers: [boss]}]\nreceivers:"),
     ":6: escalation_policies[0].escalated_receivers[0]: 'boss' is neither a receiver nor a schedule"),
    (("receivers:", "inhibit_rules: [{source_matchers: ['a=\"b\"'], equal: [not-a-label]}]\nreceivers:"),
     ":6: inhibit_rules[0].equal[0]: 'not-a-label' is not a valid label name"),
    (("receivers:", "global: {resolve_timeout: 5m}\nreceivers:"),
     ":6: global: unknown field (an Alertmanager file? convert it with `vigil routes import`)"),
])
def test_errors_name_the_file_line_and_path(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(AlertingConfigError) as err:
        load_alerting_config(path, {})
    assert f"{path}{expected}" in str(err.value)


def test_receiver_templates_are_checked_when_the_config_is_read(tmp_path):
    path = write(tmp_path, GOOD.replace("  - name: pager", "  - name: pager\n"
                                        "    slack_configs: [{api_url: 'http://h/x', title: '{{ labels.host | nope }}'}]"))
    with pytest.raises(AlertingConfigError) as err:
        load_alerting_config(path, {})
    assert str(err.value).startswith(f"{path}: receivers: ") and "'pager'" in str(err.value)
    assert "title" in str(err.value)


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, GOOD.replace("      receiver: pager", "      recevier: pager\n      group_wait: soon"))
    with pytest.raises(AlertingConfigError) as err:
        load_alerting_config(path, {})
    assert err.value.problems == [f"{path}:6: route.routes[0].group_wait: 'soon' is not a duration like 30s, 5m, "
                                  "1h30m or 0s", f"{path}:5: route.routes[0].recevier: unknown field"]


def test_alertmanager_yaml_habits_read_as_alertmanager_reads_them(tmp_path):
    # YAML 1.1 would read 10:00 as 600 and 1:5 as 65 (base 60): Go, and so Alertmanager, reads strings.
    path = write(tmp_path, GOOD.replace("      receiver: pager", "      receiver: pager\n"
                                        "      mute_time_intervals: [maintenance]") + """\
mute_time_intervals:
  - name: maintenance
    time_intervals:
      - times: [{start_time: 10:00, end_time: 12:30}]
        days_of_month: [1:5]
        months: [12]
""")
    config = load_alerting_config(path, {})
    entry = config.time_intervals["maintenance"].time_intervals[0]
    assert entry.times[0].start_time == 600 and entry.times[0].end_time == 750
    assert entry.days_of_month == ((1, 5),) and entry.months == ((12, 12),)
    assert config.muted(config.route.routes[0], ms("2026-12-03T11:00:00Z"))
    assert not config.muted(config.route.routes[0], ms("2026-12-06T11:00:00Z"))


def test_reading_problems_name_the_file(tmp_path):
    with pytest.raises(AlertingConfigError, match="cannot read the alerting config"):
        load_alerting_config(tmp_path / "missing.yaml", {})
    path = write(tmp_path, "route:\n  receiver: pager\n - routes: []\n")
    with pytest.raises(AlertingConfigError) as err:
        load_alerting_config(path, {})
    assert str(err.value) == (f"{path}:3: not valid YAML: while parsing a block mapping (line 1), "
                              "expected <block end>, but found '<block sequence start>' (column 2)")
    with pytest.raises(AlertingConfigError, match=r"expected a mapping with a 'route:'"):
        load_alerting_config(write(tmp_path, "- route\n"), {})


def test_a_document_from_elsewhere_reports_paths_without_lines():
    with pytest.raises(AlertingConfigError) as err:
        parse_alerting_config({"route": {"receiver": "x", "routes": [{"receiver": "y"}]}, "receivers": [{"name": "x"}]},
                              "PUT /alerting-config")
    assert str(err.value) == ("PUT /alerting-config: route.routes[0].receiver: 'y' is neither a receiver nor a schedule "
                              "(defined: x)")
