"""Influx line protocol: Telegraf-shaped CPU lines, 5,000 lines × 3 fields per body."""

from __future__ import annotations

import time

from bench.http_load import Load

LINES_PER_BODY = 5_000
BODIES = 40
FIELDS = ("usage_user", "usage_system", "usage_idle")
SHAPE = f"{BODIES} bodies × {LINES_PER_BODY} lines × {len(FIELDS)} fields (Telegraf's cpu input shape)"


def load() -> Load:
    """500 hosts × 8 cpus × 3 fields = 12k series."""
    now_ms = int(time.time() * 1000) - 3_600_000
    bodies = []
    for b in range(BODIES):
        lines = []
        for i in range(LINES_PER_BODY):
            n = b * LINES_PER_BODY + i
            lines.append(f"cpu,host=host-{n % 500},cpu=cpu{n % 8} usage_user={n % 97}.5,usage_system=2.25,"
                         f"usage_idle={n % 89}.1 {now_ms + n}")
        bodies.append("\n".join(lines).encode())
    return Load("/api/v2/write?precision=ms", bodies, {}, BODIES * LINES_PER_BODY * len(FIELDS),
                [b"warmup value=1"], 1)
