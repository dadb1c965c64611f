"""`vigil routes check / test / import`: what a user sees (no servers needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra import routes_cli
from infra.cli import app
from kernel.alerting.config import load_alerting_config
from kernel.alerting.routing import match_routes
from kernel.yaml_config import Yaml12Loader, parse
from tests.harness import REPO

TESTDATA = Path(__file__).parent / "testdata"
ALERTMANAGER = TESTDATA / "alertmanager.yml"
EXAMPLE = Path(__file__).parent / "streams" / "incidents" / "testdata" / "alerting.yaml"
DEMO_ENV = {"VIGIL_SLACK_WEBHOOK_URL": "http://127.0.0.1:8094/slack", "VIGIL_DEMO_PD_ROUTING_KEY": "demo-key",
            "VIGIL_DEMO_PD_URL": "http://127.0.0.1:8094/pagerduty"}
EXAMPLE_ENV = {"VIGIL_PD_KEY": "pd-key", "VIGIL_SLACK_URL": "http://127.0.0.1:9/slack"}


def vigil(*args: str, env: dict[str, str] | None = None):
    """`vigil routes ARGS` in-process; stdout and stderr apart."""
    # The consoles were made when infra.cli was first imported, perhaps by another test: COLUMNS below
    # reaches them only if that was here. Set the width they would have had.
    routes_cli.console.width = routes_cli.report.width = 250
    return CliRunner().invoke(app, ["routes", *args], env={"COLUMNS": "250", "NO_COLOR": "1", **(env or {})})


def squeeze(text: str) -> str:
    return " ".join(text.split())


def test_check_prints_the_tree_and_counts():
    result = vigil("check", "infra/demo/alerting.yaml", env=DEMO_ENV)
    assert result.exit_code == 0, result.output
    out = squeeze(result.stdout)
    assert "0 (every alert) → slack group by alertname, host wait 5s · interval 30s · repeat 4h policy default" in out
    assert '0.0 {severity=~"page|critical"} → primary (schedule) group by alertname, host' in out and "continue" in out
    assert "0.1 (every alert) → slack" in out
    assert "3 routes, 2 receivers, 1 inhibit rule, 0 time intervals, 1 escalation policy, 1 schedule" in out
    assert "demo-key" not in result.output  # secrets are never printed


def test_check_shows_schedules_and_muting():
    result = vigil("check", str(EXAMPLE), env=EXAMPLE_ENV)
    assert result.exit_code == 0, result.output
    out = squeeze(result.stdout)
    assert "→ db-oncall (schedule)" in out and "muted during weekend" in out
    assert "0.1 {service=~\"api|web\"} → frontend group by alertname, cluster wait 0s" in out
    assert "active only during business-hours" in out and "repeat 1h30m" in out and "policy databases" in out


def test_check_refuses_a_bad_file_naming_line_and_path(tmp_path):
    path = tmp_path / "alerting.yaml"
    path.write_text("route:\n  receiver: a\n  routes:\n    - recevier: b\nreceivers: [{name: a}]\n")
    result = vigil("check", str(path))
    assert result.exit_code == 1
    assert f"{path}:4: route.routes[0].recevier: unknown field" in result.stdout
    unset = vigil("check", "infra/demo/alerting.yaml", env={k: None for k in DEMO_ENV} | {"VIGIL_DEMO_PD_URL": "x"})
    assert unset.exit_code == 1
    assert "receivers[0].slack_configs[0].api_url: environment variable VIGIL_SLACK_WEBHOOK_URL is not set" in \
        squeeze(unset.stdout)


def test_test_prints_the_matching_routes_and_receivers():
    wednesday, saturday = "2026-11-25T10:00:00Z", "2026-11-28T10:00:00Z"
    result = vigil("test", str(EXAMPLE), "severity=critical", "team=db", "service=postgres", "alertname=DiskFull",
                   "--at", wednesday, env=EXAMPLE_ENV)
    assert result.exit_code == 0, result.output
    lines = [squeeze(line) for line in result.stdout.splitlines()]
    assert lines == [
        '0.0.0 → dba group {alertname="DiskFull", service="postgres", severity="critical", team="db"}',
        "receivers: dba",
    ]
    paged = vigil("test", str(EXAMPLE), "severity=critical", "team=infra", "--at", saturday, env=EXAMPLE_ENV)
    assert [squeeze(line) for line in paged.stdout.splitlines()] == [
        "0.0 → db-oncall (schedule: bob-pager on call) group {} muted at this time",
        "0.2 → infra-slack group {}",
        "receivers: db-oncall, infra-slack",
    ]
    nothing = vigil("test", str(EXAMPLE), env=EXAMPLE_ENV)
    assert squeeze(nothing.stdout).endswith("receivers: team-pager")


def test_test_refuses_a_bad_label_or_time():
    assert vigil("test", str(EXAMPLE), "severity", env=EXAMPLE_ENV).exit_code == 2
    bad_time = vigil("test", str(EXAMPLE), "a=b", "--at", "tomorrow", env=EXAMPLE_ENV)
    assert bad_time.exit_code == 2 and "is not a time like" in bad_time.stdout


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    output = tmp_path_factory.mktemp("import") / "alerting.yaml"
    result = vigil("import", str(ALERTMANAGER), "--output", str(output))
    return result, output


def test_import_writes_a_file_that_check_accepts(imported):
    result, output = imported
    assert result.exit_code == 0, result.output
    checked = vigil("check", str(output))
    assert checked.exit_code == 0, checked.output
    assert "8 routes, 6 receivers, 2 inhibit rules, 2 time intervals" in squeeze(checked.stdout)
    assert "receiver team-x-mails has no integration" in squeeze(checked.stdout)
    assert "imported 8 routes, 6 receivers, 2 inhibit rules, 2 time intervals" in squeeze(result.stderr)


def test_import_keeps_alertmanagers_routing(imported):
    _, output = imported
    config = load_alerting_config(output, {})

    def receivers(**labels):
        return [r.receiver for r in match_routes(config.route, labels)]

    assert receivers(alertname="Watchdog") == ["null"]
    assert receivers(service="foo1", severity="critical") == ["team-x-pager"]  # continue: no sibling matches
    assert receivers(service="foo2", severity="warning") == ["team-x-mails"]
    assert receivers(service="database", owner="team-x") == ["team-x-pager"]
    assert receivers(service="database", team="frontend") == ["team-db-pager", "frontend-hook"]  # continue: true
    assert receivers(service="other") == ["team-ops-slack"]
    db = config.route.routes[2]
    assert db.group_by == ("alertname", "cluster", "database") and db.repeat_interval_ms == 3 * 3600_000
    assert config.route.routes[1].routes[1].mute_time_intervals == ("offhours",)
    assert [str(m) for m in config.inhibit_rules[0].target_matchers] == ['severity=~"warning|info"']
    offhours = config.time_intervals["offhours"].time_intervals[1]
    assert [(t.start_time, t.end_time) for t in offhours.times] == [(1080, 1440), (0, 480)]
    assert offhours.location == "Europe/Berlin"


def test_import_converts_receivers_with_the_globals_and_alertmanagers_defaults(imported):
    _, output = imported
    receivers = {r.name: r for r in load_alerting_config(output, {}).receivers}
    slack = receivers["team-ops-slack"].slack_configs[0]
    assert slack.url.get_secret_value() == "https://hooks.slack.com/services/T000/B000/XXXX"  # global.slack_api_url
    assert slack.channel == "#ops" and slack.send_resolved and slack.title is None and slack.text is None
    pager = receivers["team-x-pager"].pagerduty_configs[0]
    assert pager.routing_key.get_secret_value() == "R0UT1NGK3Y-team-x" and pager.client == "Alertmanager"
    assert pager.url == "https://events.eu.pagerduty.com/v2/enqueue"  # global.pagerduty_url
    assert pager.description is None  # a Go template: left out
    hook = receivers["frontend-hook"].webhook_configs[0]
    assert (hook.max_alerts, hook.timeout_s, hook.send_resolved) == (20, 10.0, False)
    for empty in ("null", "team-x-mails", "team-db-pager"):
        r = receivers[empty]
        assert not (r.pagerduty_configs or r.slack_configs or r.webhook_configs)


def test_import_reports_every_dropped_item_with_its_path_and_why(imported):
    result, _ = imported
    report = squeeze(result.stderr)
    for expected in (
        "dropped templates: Go template files are not converted: Vigil templates are Jinja2",
        "dropped global.smtp_smarthost: email is not supported",
        "dropped global.resolve_timeout:",
        "dropped receivers[1].slack_configs[0].title: Go template not converted: Vigil templates are Jinja2",
        "dropped receivers[1].slack_configs[0].text: Go template not converted",
        "dropped receivers[1].slack_configs[0].icon_emoji: not supported by Vigil's slack integration",
        "dropped receivers[2].email_configs: email receivers are not supported",
        "dropped receivers[3].pagerduty_configs[0].description: Go template not converted",
        "dropped receivers[3].pagerduty_configs[0].http_config: proxy, TLS and auth settings are not supported",
        "dropped receivers[4].pagerduty_configs[0].service_key: PagerDuty Events API v1 (service_key) is not supported",
        "dropped receivers[4].pagerduty_configs[1].routing_key_file: secrets read from files are not supported",
        "dropped receivers[4].opsgenie_configs: opsgenie receivers are not supported",
        "dropped time_intervals[0].time_intervals[0].location: 'Local' (the server's zone) is not supported",
        "warning receivers[2]: receiver 'team-x-mails' has no integration left",
        "3 secret(s) (routing keys, webhook URLs) are written literally",
    ):
        assert expected in report


def test_import_to_stdout_is_yaml_alone(tmp_path):
    result = vigil("import", str(ALERTMANAGER))
    assert result.exit_code == 0
    document = parse(result.stdout, "test", loader=Yaml12Loader).data
    assert document["route"]["receiver"] == "team-ops-slack" and "dropped" not in result.stdout


def test_import_slack_without_send_resolved_keeps_alertmanagers_default_of_false(tmp_path):
    source = tmp_path / "am.yml"
    source.write_text("route: {receiver: s}\nreceivers:\n  - name: s\n    slack_configs: [{api_url: 'http://h/x'}]\n"
                      "  - name: t\n    slack_configs: [{channel: '#t'}]\n")
    result = vigil("import", str(source), "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 0, result.output
    receivers = load_alerting_config(tmp_path / "out.yaml", {}).receivers
    assert receivers[0].slack_configs[0].send_resolved is False
    assert receivers[1].slack_configs == ()
    assert "receivers[1].slack_configs[0]: integration not imported: it has no api_url (nor global.slack_api_url)" \
        in squeeze(result.stderr)


def test_import_refuses_what_is_not_an_alertmanager_config(tmp_path):
    source = tmp_path / "am.yml"
    source.write_text("receivers: [{name: a}]\n")  # no route
    result = vigil("import", str(source), "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 1 and "route: required" in squeeze(result.stderr)
    assert not (tmp_path / "out.yaml").exists()
    assert vigil("import", str(tmp_path / "missing.yml")).exit_code == 1


def test_the_vigil_command_has_routes():
    result = subprocess.run([sys.executable, "-m", "infra.cli", "routes", "check", "infra/demo/alerting.yaml"],
                            cwd=REPO, text=True, capture_output=True, timeout=60,
                            env={**os.environ, **DEMO_ENV, "COLUMNS": "250", "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout
