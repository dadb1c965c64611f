"""Scrape parsing and config, pure: both exposition formats, label merging, synthetic failures named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest.config_types import ScrapeJob
from ingest.scrape.discovery import Discovery
from ingest.scrape.parse import ScrapeError, parse

TARGET = {"job": "node", "instance": "web-1:9100"}
NOW = 1_790_000_000_000
TEXT = b"""# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",job="app"} 1027 1789999999000
http_requests_total{code="500",job="app"} 3
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le="0.5"} 2
rpc_seconds_bucket{le="+Inf"} 3
rpc_seconds_sum 1.5
rpc_seconds_count 3
# TYPE gc summary
gc{quantile="0.5"} NaN
gc_count 0
"""


def by_name(result) -> dict:
    return {(s["name"], tuple(sorted(s["labels"].items()))): (s["value"], s["timestamp_ms"]) for s in result.samples}


def test_text_format_with_target_labels_winning_and_exported_prefix():
    got = by_name(parse(TEXT, "text/plain; version=0.0.4", TARGET, NOW))
    key = ("http_requests_total", (("code", "200"), ("exported_job", "app"), ("instance", "web-1:9100"),
                                   ("job", "node")))
    assert got[key] == (1027, 1789999999000)  # the exposition's own timestamp is honoured
    assert got[("rpc_seconds_bucket", (("instance", "web-1:9100"), ("job", "node"), ("le", "+Inf")))] == (3, NOW)


def test_honor_labels_keeps_the_scraped_ones_and_timestamps_can_be_ignored():
    result = parse(TEXT, "text/plain", TARGET, NOW, honor_labels=True, honor_timestamps=False)
    got = by_name(result)
    assert got[("http_requests_total", (("code", "200"), ("instance", "web-1:9100"), ("job", "app")))] == (1027, NOW)
    assert result.skipped_nan == 1  # the NaN quantile


def test_openmetrics_by_content_type():
    body = b"# TYPE jobs counter\njobs_total{q=\"a\"} 5 1789999999.5\njobs_created{q=\"a\"} 1789990000 1789999999.5\n# EOF\n"
    got = by_name(parse(body, "application/openmetrics-text; version=1.0.0; charset=utf-8", TARGET, NOW))
    assert got[("jobs_total", (("instance", "web-1:9100"), ("job", "node"), ("q", "a")))] == (5, 1789999999500)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"metric{ 1\n", "text/plain", "not valid Prometheus text format"),
    (b"x 1\n", "application/openmetrics-text", "not valid OpenMetrics"),  # no # EOF
    (b"\xff\xfe 1\n", "text/plain", "not UTF-8 at byte 0"),
    (b"m{a=\"1\"} not_a_number\n", "text/plain", "not valid"),
])
def test_bad_bodies_fail_the_scrape_with_the_reason(body, content_type, message):
    with pytest.raises(ScrapeError) as caught:
        parse(body, content_type, TARGET, NOW)
    assert message in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512), st.sampled_from(["text/plain", "application/openmetrics-text"]))
def test_any_body_parses_or_fails_as_a_scrape_error(body, content_type):
    try:
        parse(body, content_type, TARGET, NOW)
    except ScrapeError:
        pass


def test_job_config_durations_and_checks():
    job = ScrapeJob(job_name="node", scrape_interval="1m30s", scrape_timeout="500ms",
                    static_configs=[{"targets": ["a:1"]}])
    assert (job.scrape_interval, job.scrape_timeout) == (90, 0.5)
    for bad, field in (({"scrape_interval": "soon"}, "scrape_interval"), ({"scrape_timeout": "2m"}, "scrape_timeout"),
                       ({"static_configs": [{"targets": ["no-port"]}]}, "host:port"),
                       ({"metrics_path": "metrics"}, "metrics_path")):
        with pytest.raises(ValidationError) as caught:
            ScrapeJob(job_name="j", **bad)
        assert field in str(caught.value)


def test_file_sd_reads_json_and_yaml_and_keeps_targets_when_a_file_breaks(tmp_path):
    (tmp_path / "a.json").write_text('[{"targets": ["10.0.0.1:9100"], "labels": {"rack": "r1"}}]')
    (tmp_path / "b.yaml").write_text("- targets: ['10.0.0.2:9100']\n")
    job = ScrapeJob(job_name="j", file_sd_configs=[{"files": [str(tmp_path / "*.json"), str(tmp_path / "*.yaml")]}])
    discovery = Discovery(job)
    assert discovery.targets() == {("10.0.0.1:9100", (("rack", "r1"),)), ("10.0.0.2:9100", ())}
    (tmp_path / "a.json").write_text("[{broken")
    import os
    os.utime(tmp_path / "a.json", (1, 1))  # a different mtime: re-read, fails, keeps the old targets
    assert ("10.0.0.1:9100", (("rack", "r1"),)) in discovery.targets()
    (tmp_path / "b.yaml").unlink()
    assert {t[0] for t in discovery.targets()} == {"10.0.0.1:9100"}
