"""Prometheus' query API (api/routes/metrics.py): its answers in Prometheus' own envelope and names.

https://prometheus.io/docs/prometheus/latest/querying/api/
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


PromValue = Annotated[tuple[float, str], Field(description="[unix seconds, value as text: \"1.5\", \"NaN\", \"+Inf\"]",
                                               examples=[[1764579600, "0.25"]])]


class PromInstantSeries(BaseModel):
    """One series of an instant vector: its labels and its value at the query time."""

    metric: dict[str, str] = Field(examples=[{"__name__": "up", "job": "node"}])
    value: PromValue


class PromRangeSeries(BaseModel):
    """One series of a range matrix: its labels and its values, one per step."""

    metric: dict[str, str] = Field(examples=[{"job": "node"}])
    values: list[PromValue]


class PromQueryData(BaseModel):
    """`data` of a query answer: `result` is a list of series (vector, matrix) or one value (scalar, string)."""

    resultType: Literal["matrix", "vector", "scalar", "string"]
    result: list[PromRangeSeries | PromInstantSeries] | PromValue


class PromQueryAnswer(BaseModel):
    """What `/api/v1/query` and `/api/v1/query_range` answer (Prometheus' envelope; extra fields may follow)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "node"}, "value": [1764579600, "0.25"]}]}},
        {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"job": "node"}, "values": [[1764579600, "0.25"], [1764579615, "0.5"]]}]}}]})

    status: Literal["success"]
    data: PromQueryData
    warnings: list[str] | None = None


class PromSeriesAnswer(BaseModel):
    """What `/api/v1/series` answers: the label sets of the series matching any `match[]`."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": [{"__name__": "up", "job": "node", "instance": "web-1:9100"}]}]})

    status: Literal["success"]
    data: list[dict[str, str]]


class PromLabelsAnswer(BaseModel):
    """What `/api/v1/labels` (label names) and `/api/v1/label/{name}/values` (its values) answer, sorted."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": ["__name__", "instance", "job"]}]})

    status: Literal["success"]
    data: list[str]


class PromMetricMetadata(BaseModel):
    """Type, help and unit of one metric."""

    type: str = Field(examples=["counter"])
    help: str = Field(examples=["Total HTTP requests."])
    unit: str = ""


class PromMetadataAnswer(BaseModel):
    """What `/api/v1/metadata` answers: metric name → its metadata (empty when the store keeps none)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": {"http_requests_total": [
            {"type": "counter", "help": "Total HTTP requests.", "unit": ""}]}}]})

    status: Literal["success"]
    data: dict[str, list[PromMetricMetadata]]


class PromExemplarsAnswer(BaseModel):
    """What `/api/v1/query_exemplars` answers: always no exemplars (Vigil stores none)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "success", "data": []}]})

    status: Literal["success"]
    data: list[dict[str, Any]]


class PromBuildInfo(BaseModel):
    """Build information in Prometheus' shape; `version` is the Prometheus API version Vigil answers like."""

    version: str = Field(examples=["2.45.0"])
    revision: str
    branch: str
    buildUser: str
    buildDate: str
    goVersion: str


class PromBuildInfoAnswer(BaseModel):
    """What `/api/v1/status/buildinfo` answers (Grafana reads it to tell Prometheus from Mimir, Thanos, …)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "success", "data": {
        "version": "2.45.0", "revision": "vigil", "branch": "vigil", "buildUser": "vigil", "buildDate": "",
        "goVersion": ""}}]})

    status: Literal["success"]
    data: PromBuildInfo


class PromErrorAnswer(BaseModel):
    """A Prometheus API error: 400 bad_data, 422 execution, 503 timeout or unavailable (with Retry-After)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "error", "errorType": "bad_data",
         "error": "invalid parameter \"step\": exceeded maximum resolution of 11,000 points per timeseries. "
                  "Try decreasing the query resolution (?step=XX)"}]})

    status: Literal["error"]
    errorType: Literal["bad_data", "execution", "timeout", "unavailable"]
    error: str = Field(description="what was wrong, naming the parameter; the time-series store's own message "
                                   "for a query it refused")
