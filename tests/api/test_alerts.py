"""`GET /api/v1/alerts[/{fingerprint}]` against a real `vigil api` and a seeded Postgres."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

from schemas.series_id import fingerprint as fingerprint_of

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
STATUSES = ["FIRING", "RESOLVED", "PENDING"]
SEVERITIES = ["page", "ticket"]
HOSTILE = ['say "hi"}', "back\\slash", "x' OR '1'='1", "new\nline", "ünïcødé ✓"]
ALERT_SQL = """
INSERT INTO alerts (fingerprint, rule_id, rule_version, alertname, status, severity, labels, annotations,
                    value, sequence, starts_at, ends_at, updated_at)
VALUES (%s, 'cpu-high', 3, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def seed(dsn: str) -> list[dict]:
    """31 alerts: statuses, severities and hosts cycle; two share one updated_at (keyset tie-break)."""
    alerts = []
    with psycopg.connect(dsn) as conn:
        for i in range(31):
            labels = {"alertname": "HighCPU" if i % 4 else "DiskFull", "host": f"web-{i % 5}",
                      "severity": SEVERITIES[i % 2], "odd": HOSTILE[i % len(HOSTILE)]}
            status = STATUSES[i % 3]
            updated = T0 + timedelta(minutes=min(i, 29))  # alerts 29 and 30 tie
            row = {"fingerprint": fingerprint_of(labels | {"i": str(i)}), "alertname": labels["alertname"],
                   "status": status, "severity": labels["severity"], "labels": labels, "updated_at": updated}
            conn.execute(ALERT_SQL, (row["fingerprint"], row["alertname"], status, row["severity"], Jsonb(labels),
                                     Jsonb({"summary": f"alert {i}"}), float(i), 1, T0,
                                     updated if status == "RESOLVED" else None, updated))
            alerts.append(row)
    return sorted(alerts, key=lambda a: (a["updated_at"], a["fingerprint"]), reverse=True)


@pytest.fixture(scope="module")
def seeded(api):
    return seed(api.env.dsn)


def fingerprints(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["fingerprint"] for item in answer.json()["items"]]


def test_lists_newest_change_first_with_every_field(api, seeded):
    body = api.http.get("/api/v1/alerts").json()
    assert [a["fingerprint"] for a in body["items"]] == [a["fingerprint"] for a in seeded]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first["labels"] == seeded[0]["labels"] and first["rule_version"] == 3
    assert first["annotations"]["summary"].startswith("alert ") and first["status"] in STATUSES


def test_filters_by_status_in_any_case_severity_alertname_and_labels(api, seeded):
    def expect(predicate):
        return [a["fingerprint"] for a in seeded if predicate(a)]

    assert fingerprints(api.http.get("/api/v1/alerts", params={"status": "firing"})) == expect(
        lambda a: a["status"] == "FIRING")
    assert fingerprints(api.http.get("/api/v1/alerts", params={"status": ["Firing", "PENDING"]})) == expect(
        lambda a: a["status"] in ("FIRING", "PENDING"))
    assert fingerprints(api.http.get("/api/v1/alerts", params={"severity": "page", "alertname": "HighCPU"})) == expect(
        lambda a: a["severity"] == "page" and a["alertname"] == "HighCPU")
    assert fingerprints(api.http.get("/api/v1/alerts", params={"label": ["host=web-2", "severity=ticket"]})) == expect(
        lambda a: a["labels"]["host"] == "web-2" and a["severity"] == "ticket")
    assert fingerprints(api.http.get("/api/v1/alerts", params={"label": "host=nowhere"})) == []


@pytest.mark.parametrize("value", HOSTILE)
def test_label_values_with_quotes_backslashes_and_sql_match_exactly(api, seeded, value):
    expected = [a["fingerprint"] for a in seeded if a["labels"]["odd"] == value]
    assert expected
    assert fingerprints(api.http.get("/api/v1/alerts", params={"label": f"odd={value}"})) == expected


def test_pages_with_a_cursor_cover_every_alert_once_in_order(api, seeded):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        body = api.http.get("/api/v1/alerts", params=params).json()
        seen += [a["fingerprint"] for a in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [a["fingerprint"] for a in seeded]
    assert pages == 5  # 31 alerts, 7 per page


def test_filters_and_cursor_combine(api, seeded):
    expected = [a["fingerprint"] for a in seeded if a["status"] == "RESOLVED"]
    first = api.http.get("/api/v1/alerts", params={"status": "resolved", "limit": 4}).json()
    rest = api.http.get("/api/v1/alerts", params={"status": "resolved", "cursor": first["next_cursor"]}).json()
    assert [a["fingerprint"] for a in first["items"] + rest["items"]] == expected


def test_detail_has_history_in_order_and_deliveries(api, seeded):
    alert = seeded[0]
    with psycopg.connect(api.env.dsn) as conn:
        for seq, status in ((2, "RESOLVED"), (1, "FIRING")):
            conn.execute("""INSERT INTO alert_events (fingerprint, sequence, status, rule_id, rule_version, alertname,
                            labels, annotations, value, starts_at, ends_at, event_time)
                            VALUES (%s, %s, %s, 'cpu-high', 3, 'HighCPU', %s, '{}', %s, %s, NULL, %s)""",
                         (alert["fingerprint"], seq, status, Jsonb(alert["labels"]), float("nan") if seq == 2 else 97.5,
                          T0, T0 + timedelta(seconds=seq)))
        conn.execute("""INSERT INTO deliveries (dedup_key, receiver, action, sequence, attempt, fingerprint, status,
                        http_status, response, latency_ms, attempted_at)
                        VALUES ('k', 'slack', 'TRIGGER', 1, 1, %s, 'RETRYING', 503, 'busy', 12.5, %s),
                               ('k', 'slack', 'TRIGGER', 1, 2, %s, 'DELIVERED', 200, 'ok', 8.0, %s)""",
                     (alert["fingerprint"], T0, alert["fingerprint"], T0 + timedelta(seconds=1)))
    detail = api.http.get(f"/api/v1/alerts/{alert['fingerprint']}").json()
    assert detail["fingerprint"] == alert["fingerprint"] and detail["labels"] == alert["labels"]
    assert [(h["sequence"], h["status"], h["value"]) for h in detail["history"]] == [
        (1, "FIRING", 97.5), (2, "RESOLVED", None)]  # NaN answers null: JSON has no NaN
    assert [(d["attempt"], d["status"], d["http_status"]) for d in detail["deliveries"]] == [
        (1, "RETRYING", 503), (2, "DELIVERED", 200)]


def test_unknown_alert_is_404_with_a_message(api, seeded):
    answer = api.http.get("/api/v1/alerts/0123456789abcdef")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no alert with fingerprint 0123456789abcdef"


def _cursor(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(("params", "names"), [
    ({"limit": "abc"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1000000000"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"status": "burning"}, "status"),
    ({"cursor": "not a cursor!"}, "cursor"),
    ({"cursor": _cursor(b'["yesterday", "x"]')}, "cursor"),
    ({"cursor": _cursor(b'{"a": 1}')}, "cursor"),
    ({"cursor": _cursor(b'["2026-11-01T12:00:00", "x"]')}, "cursor"),  # no time zone
    ({"cursor": "A" * 5000}, "cursor"),
    ({"label": "no-equals-sign"}, "label"),
    ({"label": "1bad=x"}, "label"),
    ({"label": "host}=x"}, "label"),
    ({"label": "host=" + "x" * 2000}, "label"),
    ({"label": [f"l{i}=v" for i in range(21)]}, "label"),
    ({"label": "host=a\x00b"}, "label"),
    ({"severity": "pa\x00ge"}, "severity"),
    ({"severity": ["page", "s" * 201]}, "severity"),
    ({"alertname": "a" * 201}, "alertname"),
])
def test_bad_parameters_are_422_naming_the_parameter(api, seeded, params, names):
    answer = api.http.get("/api/v1/alerts", params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["detail"].startswith(f"{names}: "), body
    assert body["errors"][0]["loc"][-1] == names


@pytest.mark.parametrize("path", ["ABCDEF0123456789", "0123", "0123456789abcdef0", "..%2F..%2Fetc", "zzzzzzzzzzzzzzzz"])
def test_malformed_fingerprints_are_422_or_404_never_5xx(api, seeded, path):
    answer = api.http.get(f"/api/v1/alerts/{path}")
    assert answer.status_code in (404, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["detail"].startswith("fingerprint: ")


def test_requests_are_counted_by_route_template_and_status(api, seeded):
    api.http.get(f"/api/v1/alerts/{seeded[1]['fingerprint']}")
    api.http.get("/api/v1/alerts", params={"limit": "x"})
    api.http.get("/no/such/path")
    text = api.http.get("/metrics/").text
    assert 'vigil_api_request_seconds_count{method="GET",route="/api/v1/alerts/{fingerprint}",status="200"}' in text
    assert 'vigil_api_request_seconds_count{method="GET",route="/api/v1/alerts",status="422"}' in text
    assert 'vigil_api_request_seconds_count{method="GET",route="unmatched",status="404"}' in text
