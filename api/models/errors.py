"""The one error shape of every answer but the Prometheus routes' (api/errors.py answers it)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models.examples import with_examples


class ErrorItem(BaseModel):
    """One problem with a request: where (`["query", "limit"]`, `["body", "matchers", "0"]`) and what."""

    model_config = with_examples({"loc": ["query", "limit"], "msg": "Input should be less than or equal to 1000"})

    loc: list[str]
    msg: str


class ApiError(BaseModel):
    """Every error answer: one line naming the parameter and the reason, and each problem apart (api/errors.py)."""

    model_config = with_examples(
        {"detail": "limit: Input should be less than or equal to 1000",
         "errors": [{"loc": ["query", "limit"], "msg": "Input should be less than or equal to 1000"}]},
        {"detail": "stauts: unknown parameter; this route takes status, severity, alertname, label, limit, cursor",
         "errors": [{"loc": ["query", "stauts"], "msg": "unknown parameter; this route takes status, severity, "
                                                        "alertname, label, limit, cursor"}]},
        {"detail": "key 'grafana' has role viewer; this needs operator (or admin)"})

    detail: str
    errors: list[ErrorItem] = Field(default_factory=list, description="each problem with its place; absent from "
                                                                    "answers about the key (401, 403, 429)")
