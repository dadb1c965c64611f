"""InfluxDB line protocol over HTTP (v1 /write, v2 /api/v2/write)."""
