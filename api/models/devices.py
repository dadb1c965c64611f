"""`/api/v1/devices`: a device's labels as an admin sets them, a device as listed, a page of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from api.models.examples import with_examples
from kernel.names import LABEL_NAME_SYNTAX, is_label_name, is_reserved_label_name


MAX_DEVICE_LABELS = 64
MAX_DEVICE_LABEL_NAME_CHARS = 128
MAX_DEVICE_LABEL_VALUE_CHARS = 1024


def _device_label_name(name: str) -> str:
    if not is_label_name(name):
        raise ValueError(f"{name[:80]!r} is not a label name ({LABEL_NAME_SYNTAX})")
    if is_reserved_label_name(name):
        # Prometheus reserves `__*` for internal labels (__name__); relabeling drops them.
        raise ValueError(f"{name[:80]!r}: names starting with __ are reserved")
    return name


def _device_label_value(value: str) -> str:
    if "\x00" in value:  # Postgres jsonb can't hold \u0000
        raise ValueError("contains a NUL byte")
    return value


DEVICE_EXAMPLE = {"device_id": "pump-7", "labels": {"site": "plant-2", "vendor": "acme"},
                  "updated_at": "2026-12-01T10:20:00Z"}


class DeviceIn(BaseModel):
    """A device's labels as an admin sets them: PUT replaces every label of the device."""

    model_config = with_examples({"labels": {"site": "plant-2", "vendor": "acme", "team": "ops"}}, extra="forbid",
                                strict=True)

    labels: dict[Annotated[str, Field(max_length=MAX_DEVICE_LABEL_NAME_CHARS), AfterValidator(_device_label_name)],
                 Annotated[str, Field(max_length=MAX_DEVICE_LABEL_VALUE_CHARS), AfterValidator(_device_label_value)]
                 ] = Field(max_length=MAX_DEVICE_LABELS,
                           description=f"at most {MAX_DEVICE_LABELS}; names {LABEL_NAME_SYNTAX} not starting "
                                       f"with __, values at most {MAX_DEVICE_LABEL_VALUE_CHARS} characters; added to "
                                       "the samples whose `device` or `host` label is this device (the sample's own "
                                       "labels win)")


class DeviceOut(BaseModel):
    """One registered device and the labels ingest adds to its samples."""

    model_config = with_examples(DEVICE_EXAMPLE)

    device_id: str = Field(examples=["pump-7"])
    labels: dict[str, str] = Field(examples=[{"site": "plant-2", "vendor": "acme"}])
    updated_at: datetime


class DevicePage(BaseModel):
    """One page of devices in the requested order; pass `next_cursor` as `cursor` for the next page."""

    model_config = with_examples({"items": [DEVICE_EXAMPLE], "next_cursor": "WyJkZXZpY2VfaWQiLCJwdW1wLTciXQ"})

    items: list[DeviceOut]
    next_cursor: str | None = None
