"""Keys, roles, rate limits and the audit log against a real `vigil api`, Postgres and Redis."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from tests.harness import REPO, wait_until

pytestmark = pytest.mark.integration

SILENCE = {"matchers": ['host="web-1"'], "duration": "1h", "created_by": "alice", "comment": "maintenance"}
RULE = {"id": "auth-cpu", "alert": "HighCPU", "metric": "cpu_usage_user", "op": ">", "threshold": 90}
ROUTES = ["/api/v1/alerts", "/api/v1/incidents", "/api/v1/silences", "/api/v1/rules", "/api/v1/keys",
          "/api/v1/audit", "/api/v1/query_range?query=up"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cli(api, *args: str) -> subprocess.CompletedProcess:
    """`vigil keys …` against the env's database, as an operator would run it."""
    return subprocess.run([sys.executable, "-m", "infra.cli", "keys", *args], env={**api.env.env, "COLUMNS": "200"},
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_every_route_but_healthz_needs_a_key(api):
    anonymous = httpx.Client(base_url=api.http.base_url, timeout=10)
    assert anonymous.get("/healthz").status_code == 200
    for route in ROUTES:
        answer = anonymous.get(route)
        assert answer.status_code == 401, (route, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "vigil keys create" in answer.json()["detail"]
    for headers in (bearer("vk_0000_not-a-key"), {"Authorization": "Basic !!!"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer " + "x" * 10_000}, {"Authorization": "Digest abc"}):
        answer = anonymous.get("/api/v1/alerts", headers=headers)
        assert answer.status_code == 401, (headers, answer.text)


def test_grafana_basic_auth_with_the_key_as_password_works(api):
    key = api.http.headers["Authorization"].removeprefix("Bearer ")
    basic = base64.b64encode(f"grafana:{key}".encode()).decode()
    answer = httpx.get(f"{api.http.base_url}/api/v1/alerts", headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200, answer.text


def test_roles_viewer_reads_operator_silences_admin_manages_rules_and_keys(api):
    viewer, operator = api.client("viewer"), api.client("operator")
    assert viewer.get("/api/v1/silences").status_code == 200
    refused = viewer.post("/api/v1/silences", json=SILENCE)
    assert refused.status_code == 403 and "needs operator" in refused.json()["detail"], refused.text
    created = operator.post("/api/v1/silences", json=SILENCE)
    assert created.status_code == 201, created.text
    assert operator.delete(f"/api/v1/silences/{created.json()['id']}").status_code == 200
    rule = operator.post("/api/v1/rules", json=RULE)
    assert rule.status_code == 403 and "needs admin" in rule.json()["detail"]
    assert operator.get("/api/v1/keys").status_code == 403
    assert operator.get("/api/v1/audit").status_code == 403
    assert api.http.post("/api/v1/rules", json=RULE).status_code == 201


def test_a_created_key_is_shown_once_stored_hashed_and_revocable(api):
    created = api.http.post("/api/v1/keys", json={"name": "grafana-test", "role": "viewer"})
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    assert key.startswith(f"vk_{key_id}_")
    listed = api.http.get("/api/v1/keys").json()["items"]
    assert key_id in {k["id"] for k in listed} and key not in str(listed)
    assert api.http.post("/api/v1/keys", json={"name": "grafana-test", "role": "viewer"}).status_code == 409
    with psycopg.connect(api.env.dsn) as conn:
        stored = conn.execute("SELECT row_to_json(k)::text FROM api_keys k WHERE id = %s", (key_id,)).fetchone()[0]
    assert key.split("_")[-1] not in stored  # only the digest is kept
    grafana = httpx.Client(base_url=api.http.base_url, headers=bearer(key))
    assert grafana.get("/api/v1/alerts").status_code == 200
    assert api.http.delete(f"/api/v1/keys/{key_id}").json()["revoked_at"]
    wait_until(lambda: grafana.get("/api/v1/alerts").status_code == 401, timeout=15,
               message="a revoked key refused")


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "role": "root"}, "role"),
    ({"name": "", "role": "viewer"}, "name"),
    ({"name": "x\n", "role": "viewer"}, "name"),
    ({"name": "x", "role": "viewer", "rate_per_s": -1}, "rate_per_s"),
    ({"name": "x", "role": "ingest", "labels": {"bad-name": "v"}}, "labels"),
    ({"name": "x", "role": "viewer", "owner": "me"}, "owner"),
    ({"name": "x", "role": "viewer", "labels": {"dc": "eu"}}, "labels"),  # labels are for ingest tokens only
])
def test_bad_key_requests_are_422_naming_the_field(api, body, field):
    answer = api.http.post("/api/v1/keys", json=body)
    assert answer.status_code == 422, answer.text
    assert field in str(answer.json()["errors"][0]["loc"]), answer.text


def test_a_key_over_its_rate_gets_429_with_retry_after(api):
    limited = api.client("viewer", rate_per_s=0.2, burst=3)
    answers = [limited.get("/api/v1/alerts").status_code for _ in range(5)]
    assert answers[:3] == [200, 200, 200] and answers[3:] == [429, 429], answers
    refused = limited.get("/api/v1/alerts")
    assert 1 <= int(refused.headers["Retry-After"]) <= 5 and "rate limit" in refused.json()["detail"]
    assert api.http.get("/api/v1/alerts").status_code == 200  # other keys are not affected


def test_every_write_is_in_the_audit_log_with_who_and_before_after(api):
    operator = api.client("operator", name="oncall-carol")
    silence = operator.post("/api/v1/silences", json=SILENCE).json()
    operator.delete(f"/api/v1/silences/{silence['id']}")
    entries = api.http.get("/api/v1/audit", params={"resource_id": silence["id"]}).json()["items"]
    assert [(e["action"], e["key_name"], e["role"]) for e in entries] == [
        ("silence.expire", "oncall-carol", "operator"), ("silence.create", "oncall-carol", "operator")]
    expire, create = entries
    assert create["before"] is None and create["after"]["matchers"][0]["value"] == "web-1"
    assert expire["before"]["state"] == "active" and expire["after"]["state"] == "expired"
    assert expire["remote"] == "127.0.0.1"
    first = api.http.get("/api/v1/audit", params={"limit": 1})
    assert first.status_code == 200 and first.json()["next_cursor"]
    following = api.http.get("/api/v1/audit", params={"limit": 1, "cursor": first.json()["next_cursor"]}).json()
    assert following["items"][0]["id"] < first.json()["items"][0]["id"]
    assert api.http.get("/api/v1/audit", params={"cursor": "1; DROP TABLE audit_log"}).status_code == 422


def test_the_cli_creates_lists_and_revokes_keys_without_showing_secrets(api):
    made = cli(api, "create", "--role", "operator", "--name", "cli-made", "--quiet")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    client = httpx.Client(base_url=api.http.base_url, headers=bearer(key))
    assert client.get("/api/v1/incidents").status_code == 200
    listed = cli(api, "list")
    assert "cli-made" in listed.stdout and key not in listed.stdout and key.split("_")[-1] not in listed.stdout
    key_id = key.split("_")[1]
    assert cli(api, "revoke", key_id).returncode == 0
    assert cli(api, "revoke", key_id).returncode == 1
    bad = cli(api, "create", "--role", "root", "--name", "x")
    assert bad.returncode == 2 and "viewer, operator, admin, ingest" in bad.stderr
    time.sleep(0.1)
    wait_until(lambda: client.get("/api/v1/incidents").status_code == 401, timeout=15, message="revoked key refused")


def test_keys_never_reach_the_api_log(api):
    key = api.http.headers["Authorization"].removeprefix("Bearer ")
    api.http.get("/api/v1/alerts", params={"limit": "not-a-number"})
    httpx.get(f"{api.http.base_url}/api/v1/alerts", headers=bearer(key[:-1]))
    log = "".join(p.log_path.read_text(errors="replace") for p in api.env.processes)
    assert key.split("_")[-1] not in log and key[:-1].split("_")[-1] not in log
