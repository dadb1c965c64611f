"""`/healthz`: the API's health and that of each store it reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models.examples import with_examples


class Health(BaseModel):
    """Health of the API and of each store it reads."""

    model_config = with_examples({"status": "ok", "postgres": "ok", "tsdb": "ok", "kafka": "ok"},
                                {"status": "unhealthy", "postgres": "ok",
                                 "tsdb": "ConnectError: All connection attempts failed", "kafka": "ok"})

    status: str
    postgres: str
    tsdb: str
    kafka: str = Field("ok", description="the broker, as the API's broker watch last saw it (changes need it)")
