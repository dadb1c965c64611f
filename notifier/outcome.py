"""What one delivery attempt produced, in the same shape for every receiver kind, and how HTTP maps to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum

import httpx

from kernel.redact import redact_in, redact_url

MAX_RESPONSE_CHARS = 1_024


class Verdict(str, Enum):
    """Delivered, worth retrying, or failed for good."""

    DELIVERED = "DELIVERED"
    RETRY = "RETRY"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: verdict, HTTP status if any, the receiver's answer (truncated), Retry-After."""

    verdict: Verdict
    http_status: int | None
    response: str
    retry_after_s: float | None = None


def classify(status: int, retryable: frozenset[int]) -> Verdict:
    """DELIVERED for 2xx, RETRY for the provider's retryable codes and any 5xx, FAILED otherwise."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.RETRY if status in retryable or status >= 500 else Verdict.FAILED


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


async def post_json(http: httpx.AsyncClient, url: str, body: bytes, timeout_s: float,
                    retryable: frozenset[int]) -> Outcome:
    """POST a JSON body once; never raises for the receiver's answer or a network error.

    `url` is a credential (a Slack webhook, a token in a webhook's query): nothing returned here
    carries it — the answer is searched for its secret parts, which a proxy may echo (kernel/redact.py).
    """
    try:
        answer = await http.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout_s)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:  # the config's mistake: no retry mends it
        return Outcome(Verdict.FAILED, None, f"invalid receiver URL {redact_url(url)}: {type(exc).__name__}")
    except httpx.TimeoutException:
        return Outcome(Verdict.RETRY, None, f"timed out after {timeout_s:g}s")
    except httpx.TransportError as exc:
        return Outcome(Verdict.RETRY, None, f"connection failed: {type(exc).__name__}")
    return Outcome(classify(answer.status_code, retryable), answer.status_code,
                   redact_in(answer.text, url)[:MAX_RESPONSE_CHARS], retry_after(answer.headers.get("retry-after")))
