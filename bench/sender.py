"""Posting remote-write bodies as Prometheus' queue manager does: several keep-alive connections,
429/503 retried after Retry-After (https://prometheus.io/docs/concepts/remote_write_spec/#retries-backoff).

Two ways to offer load: as fast as accepted (`send_all`: each client posts its next body when the
previous one was answered) and at a fixed rate (`send_at_rate`: an open loop on a schedule, a
bounded number of requests in flight, so a slow receiver shows as a lower accepted rate).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.fleet import HEADERS, SERIES_PER_REQUEST

RETRYABLE = (429, 503)  # what a remote-write receiver answers when it wants the request again
MAX_ATTEMPTS = 60  # per body: a receiver still refusing after that is broken, not busy
CONNECTION_RETRY_S = 1.0


@dataclass
class SendStats:
    """What the receiver answered, and when the first request left and the last 2xx came."""

    accepted_bodies: int = 0
    accepted_samples: int = 0
    retries: int = 0
    answers: Counter = field(default_factory=Counter)  # status code (or "error") → count, every attempt
    failures: list[str] = field(default_factory=list)  # permanent refusals: these bodies are lost
    answer_seconds: list[float] = field(default_factory=list)  # send → 2xx of each accepted attempt
    first_send: float | None = None
    last_accept: float | None = None

    def refused_share(self) -> float:
        """The share of answers that were 429 or 503."""
        total = sum(self.answers.values())
        return sum(self.answers[code] for code in RETRYABLE) / total if total else 0.0

    def answer_ms(self, q: float) -> float | None:
        """The q-quantile of how long accepted requests waited for their 2xx, in ms."""
        ordered = sorted(self.answer_seconds)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else None


def session(clients: int) -> aiohttp.ClientSession:
    """A client session keeping `clients` connections alive to one receiver."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients, force_close=False),
                                 timeout=aiohttp.ClientTimeout(total=120), headers=HEADERS)


def _retry_after(answer: aiohttp.ClientResponse) -> float:
    try:
        return max(0.0, float(answer.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


async def post(http: aiohttp.ClientSession, url: str, body: bytes, stats: SendStats,
               samples: int = SERIES_PER_REQUEST) -> float | None:
    """Post one body until it is taken; when the attempt answered 2xx left (perf_counter), None if refused for good.

    The send time, not the answer's: a busy receiver answers late, after the data already moved on.
    """
    if stats.first_send is None:
        stats.first_send = time.perf_counter()
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            stats.retries += 1
        sent_at = time.perf_counter()
        try:
            async with http.post(url, data=body) as answer:
                text = await answer.read()
                stats.answers[answer.status] += 1
                if 200 <= answer.status < 300:
                    now = time.perf_counter()
                    stats.accepted_bodies += 1
                    stats.accepted_samples += samples
                    stats.last_accept = now
                    stats.answer_seconds.append(now - sent_at)
                    return sent_at
                if answer.status not in RETRYABLE:
                    stats.failures.append(f"{answer.status} {text[:200].decode(errors='replace')}")
                    return None
                await asyncio.sleep(_retry_after(answer))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            stats.answers["error"] += 1
            if attempt == MAX_ATTEMPTS - 1:
                stats.failures.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(CONNECTION_RETRY_S)
    stats.failures.append(f"still refused after {MAX_ATTEMPTS} attempts")
    return None


async def send_all(url: str, bodies: Sequence[bytes], clients: int, stats: SendStats) -> None:
    """Post every body with `clients` concurrent keep-alive clients, each as soon as its last was answered."""
    following = iter(bodies)

    async def client(http: aiohttp.ClientSession) -> None:
        for body in following:  # one shared iterator: the clients take bodies in order
            await post(http, url, body, stats)

    async with session(clients) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))


async def send_at_rate(url: str, bodies: Sequence[bytes], samples_per_s: float, seconds: float, stats: SendStats,
                       in_flight: int = 32) -> None:
    """Offer `samples_per_s` for `seconds`, cycling through `bodies`; at most `in_flight` requests at once."""
    interval = SERIES_PER_REQUEST / samples_per_s
    slots = asyncio.Semaphore(in_flight)
    tasks: set[asyncio.Task] = set()

    async def one(http: aiohttp.ClientSession, body: bytes) -> None:
        try:
            await post(http, url, body, stats)
        finally:
            slots.release()

    async with session(in_flight) as http:
        began = time.perf_counter()
        index = 0
        while True:
            due = began + index * interval
            if due - began >= seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()  # a receiver slower than the schedule holds the schedule back here
            task = asyncio.create_task(one(http, bodies[index % len(bodies)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        await asyncio.gather(*tasks)
