"""Receiver templates: checked at config load (compile + sample render), sandboxed, defaults at send time."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from kernel.alerting.receivers import ReceiverConfig
from kernel.alerting.templates import TemplateError, check_receivers, context
from notifier.templates import TemplateSet
from schemas.examples import alert, incident

KEY = "R" * 32


def receivers(**slack) -> list[ReceiverConfig]:
    return [ReceiverConfig(name="ops", slack_configs=({"api_url": "http://127.0.0.1:1/s", **slack},),
                           pagerduty_configs=({"routing_key": KEY},))]


def test_good_templates_pass():
    check_receivers(receivers(
        title="[{{ status | upper }}] {{ group_labels.alertname }} ({{ firing | length }} firing)",
        text="{% for a in alerts %}{{ a.labels.host }} {{ a.annotations.summary }} {{ a.starts_at }}\n{% endfor %}"
             "{{ common_labels.team | default('no team') }} {{ incident.key }} {{ incident.reason }}"))


def test_any_label_name_is_fine_at_check_time():
    # The sample can't know the user's labels; a missing one at send time falls back to the default text.
    check_receivers(receivers(title="{{ common_labels.cluster }} {{ alerts[0].labels.pod }}"))


def test_broken_syntax_names_receiver_integration_field_and_line():
    with pytest.raises(TemplateError) as err:
        check_receivers(receivers(text="ok\n{% for a in alerts %}{{ a.labels.host }}"))
    message = str(err.value)
    assert "receiver 'ops'" in message and "ops/slack/0" in message and "field 'text'" in message
    assert "line 2" in message and "endfor" in message


def test_undefined_variable_fails():
    with pytest.raises(TemplateError, match=r"ops/slack/0 field 'title'.*'nosuchthing' is undefined"):
        check_receivers(receivers(title="{{ nosuchthing }}"))
    with pytest.raises(TemplateError, match=r"has no attribute 'nope'"):
        check_receivers(receivers(title="{{ incident.nope }}"))


def test_sandbox_escape_is_refused():
    for source in ("{{ ''.__class__.__mro__ }}", "{{ alerts.__class__.__base__.__subclasses__() }}",
                   "{{ title.__class__ }}"):
        with pytest.raises(TemplateError, match="SecurityError.*unsafe"):
            check_receivers(receivers(title=source))
    with pytest.raises(TemplateError, match="SecurityError"):  # the immutable sandbox: no changing the data
        check_receivers(receivers(text="{{ alerts.append(1) }}"))


def test_every_problem_is_reported_at_once():
    with pytest.raises(TemplateError) as err:
        check_receivers([*receivers(title="{{ x }}"),
                         ReceiverConfig(name="pd", pagerduty_configs=({"routing_key": KEY, "description": "{{"},))])
    assert "ops/slack/0 field 'title'" in str(err.value) and "pd/pagerduty/0 field 'description'" in str(err.value)


def test_a_plain_severity_is_checked_in_the_config():
    with pytest.raises(ValueError, match="expected one of critical, error, warning, info"):
        ReceiverConfig(name="pd", pagerduty_configs=({"routing_key": KEY, "severity": "urgent"},))


def test_context_shape():
    ctx = context(incident(alerts=[alert(1), alert(2, "resolved")]))
    assert ctx["status"] == "firing" and ctx["receiver"] == "team"
    assert ctx["incident"] == {"key": "inc-1", "status": "OPEN", "reason": "first_notification",
                               "group_key": '{}:{alertname="HighCPU"}'}
    assert [a["fingerprint"] for a in ctx["firing"]] == ["fp0001"] and len(ctx["resolved"]) == 1
    assert ctx["resolved"][0]["ends_at"] == "2023-11-14T22:14:20.000Z" and ctx["firing"][0]["ends_at"] == ""
    assert (ctx["title"], ctx["severity"]) == ("[FIRING:1] HighCPU", "page")


def test_a_failing_render_falls_back_and_is_counted():
    def failures() -> float:
        return REGISTRY.get_sample_value("vigil_notifier_template_failures_total",
                                         {"kind": "slack", "field": "title"}) or 0.0
    before = failures()
    templates = TemplateSet("slack", "ops/slack/0", {"title": "{{ common_labels.team }}", "text": "{{ text }}!"})
    out = templates.render(incident(), {"title": "default title", "text": "default text"})
    assert out == {"title": "default title", "text": "CPU high on the web tier!"}
    assert failures() == before + 1


def test_the_alerting_config_loader_refuses_a_broken_template(tmp_path):
    """What `vigil routes check` reports for a template that can't render."""
    from kernel.alerting.config import AlertingConfigError, load_alerting_config

    path = tmp_path / "alerting.yaml"
    path.write_text(f"route: {{receiver: ops}}\nreceivers:\n  - name: ops\n    pagerduty_configs:\n"
                    f"      - {{routing_key: {KEY}, description: '{{{{ incident.nope }}}}'}}\n")
    with pytest.raises(AlertingConfigError, match=r"alerting.yaml: receivers: receiver 'ops' integration "
                                                  r"ops/pagerduty/0 field 'description'.*no attribute 'nope'"):
        load_alerting_config(path)
