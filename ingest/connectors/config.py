"""The connectors file (VIGIL_CONNECTORS_CONFIG): a list of connectors, each with its devices.

    connectors:
      - type: mqtt            # which connector; the rest of the entry is that connector's config
        name: zigbee          # unique; the `connector` label of its availability series
        ...

Validated at start; an error names the file and the key at fault (`connectors.1.devices.0.port:
Input should be a valid integer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator


class ConnectorsConfigError(ValueError):
    """The connectors file is invalid; the message names the file and key."""


def load(path: Path, kinds: dict[str, type[BaseModel]]) -> list[BaseModel]:
    """Every connector's config from `path`, each validated by the model its `type` names."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConnectorsConfigError(f"{path}: {exc}") from None
    entry = Annotated[Union[tuple(kinds.values())], Field(discriminator="type")]  # noqa: UP007

    def unique_names(cls, connectors):
        names = [c.name for c in connectors]
        if len(names) != len(set(names)):
            raise ValueError(f"connector names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
        return connectors

    model = create_model("ConnectorsFile", __config__=ConfigDict(extra="forbid"),
                         __validators__={"_unique": field_validator("connectors")(unique_names)},
                         connectors=(list[entry], ...))
    try:
        return model.model_validate(document).connectors
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:10])
        raise ConnectorsConfigError(f"{path}: {problems}") from None
