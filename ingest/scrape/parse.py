"""A scraped body → samples: pure. Parsing is prometheus_client's (text format and OpenMetrics).

Labels follow Prometheus: the target's labels (`job`, `instance`, static/file labels) are added
to each sample; where a scraped label has the same name, `honor_labels: false` keeps the
target's and renames the scraped one `exported_<name>`, `honor_labels: true` keeps the scraped
one. A body that doesn't parse fails the whole scrape (`up` = 0), as in Prometheus. NaN values
are skipped and counted; a timestamp in the exposition is used when `honor_timestamps`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from schemas.records import Sample

OPENMETRICS = "application/openmetrics-text"
ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1")


class ScrapeError(ValueError):
    """The body is not a metrics exposition this parser reads."""


@dataclass(slots=True)
class ParseResult:
    """The samples of one scrape and the values skipped on purpose."""

    samples: list[Sample] = field(default_factory=list)
    skipped_nan: int = 0


def parse(body: bytes, content_type: str, target: dict[str, str], now_ms: int, honor_labels: bool = False,
          honor_timestamps: bool = True) -> ParseResult:
    """Samples of a scraped body with the target's labels merged in."""
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise ScrapeError(f"body is not UTF-8 at byte {exc.start}") from None
    openmetrics = content_type.partition(";")[0].strip().lower() == OPENMETRICS
    families = openmetrics_families if openmetrics else text_families
    result = ParseResult()
    try:
        for family in families(text):
            for sample in family.samples:
                value = float(sample.value)
                if math.isnan(value):
                    result.skipped_nan += 1
                    continue
                labels = _merge(sample.labels, target, honor_labels)
                stamp = now_ms
                if honor_timestamps and sample.timestamp is not None:
                    stamp = int(float(sample.timestamp) * 1000)
                result.samples.append({"series_id": 0, "name": sample.name, "labels": labels, "value": value,
                                       "timestamp_ms": stamp})
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        kind = "OpenMetrics" if openmetrics else "Prometheus text format"
        raise ScrapeError(f"not valid {kind}: {str(exc)[:300]}") from None
    return result


def _merge(scraped: dict[str, str], target: dict[str, str], honor_labels: bool) -> dict[str, str]:
    if honor_labels:
        return {**target, **{k: v for k, v in scraped.items() if v}}
    labels = {}
    for key, value in scraped.items():
        if value:
            labels[f"exported_{key}" if key in target else key] = value
    labels.update(target)
    return labels
