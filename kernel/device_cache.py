"""The Redis cache of device labels that ingest reads through: one key per device.

Ingest (ingest/enrich.py) caches a device's registry labels under this key; the API
(api/routes/devices.py) deletes it after a change, so the next lookup reads Postgres.
"""

from __future__ import annotations

CACHE_KEY_PREFIX = "{prefix}:device:"  # + the device id; {prefix} is the deployment's topic prefix
