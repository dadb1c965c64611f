"""The generic webhook's body is Alertmanager's payload version 4, field for field (no servers)."""

from __future__ import annotations

from infra.demo.receiver import webhook_errors
from notifier.webhook.client import ZERO_TIME, payload
from schemas.examples import alert, incident

# The keys Alertmanager sends: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
V4_KEYS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
           "commonAnnotations", "externalURL", "alerts"}
V4_ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}


def test_firing_incident_matches_alertmanager_v4():
    body = payload(incident(receiver="team", alerts=[alert(1), alert(2, "resolved")]), 0, "http://vigil:8080/")
    assert webhook_errors(body) == [] and set(body) == V4_KEYS
    assert (body["version"], body["status"], body["receiver"]) == ("4", "firing", "team")
    assert body["groupKey"] == '{}:{alertname="HighCPU"}' and body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"alertname": "HighCPU"} and body["externalURL"] == "http://vigil:8080"
    first, second = body["alerts"]
    assert set(first) == V4_ALERT_KEYS
    assert (first["status"], first["startsAt"], first["endsAt"]) == ("firing", "2023-11-14T22:13:20.001Z", ZERO_TIME)
    assert first["generatorURL"] == "http://vigil:8080/api/v1/alerts/fp0001" and first["fingerprint"] == "fp0001"
    assert (second["status"], second["endsAt"]) == ("resolved", "2023-11-14T22:14:20.000Z")


def test_resolved_and_max_alerts():
    note = incident(action="RESOLVE", alerts=[alert(i, "resolved") for i in range(25)])
    note["truncated_alerts"] = 5
    body = payload(note, max_alerts=10)
    assert webhook_errors(body) == []
    assert body["status"] == "resolved" and len(body["alerts"]) == 10 and body["truncatedAlerts"] == 20
    assert body["alerts"][0]["generatorURL"] == "" and body["externalURL"] == ""


def test_a_per_alert_notification_is_one_alert():
    note = {"dedup_key": "fp9", "receiver": "hook", "action": "TRIGGER", "sequence": 1, "fingerprint": "fp9",
            "severity": "page", "title": "[FIRING] HighCPU", "text": "t", "labels": {"alertname": "HighCPU"},
            "annotations": {"summary": "s"}, "event_time_ms": 1_700_000_000_000, "created_at_ms": 1}
    body = payload(note)
    assert webhook_errors(body) == [] and body["groupKey"] == "fp9"
    assert [(a["fingerprint"], a["labels"], a["endsAt"]) for a in body["alerts"]] == [
        ("fp9", {"alertname": "HighCPU"}, ZERO_TIME)]


def test_the_receiver_refuses_other_shapes():
    assert "version: expected \"4\"" in webhook_errors({**payload(incident()), "version": "3"})
    assert webhook_errors({**payload(incident()), "alerts": [{"status": "firing"}]})
