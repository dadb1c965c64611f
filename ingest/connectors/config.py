"""The connectors file (VIGIL_CONNECTORS_CONFIG): a list of connectors, each with its devices.

    connectors:
      - type: mqtt            # which connector; the rest of the entry is that connector's config
        name: zigbee          # unique; the `connector` label of its availability series
        ...

Validated at start; an error names the file, the line and the key path at fault
(`connectors.yaml:12: connectors[1].devices[0].port: expected a whole number`, kernel/yaml_config.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from kernel.yaml_config import ConfigFileError, read, validation_problems


class ConnectorsConfigError(ConfigFileError):
    """The connectors file is invalid; each line names the file, line and key path at fault."""


def load(path: Path, kinds: dict[str, type[BaseModel]]) -> list[BaseModel]:
    """Every connector's config from `path`, each validated by the model its `type` names."""
    document = read(path, ConnectorsConfigError, what="the connectors config")
    data = document.data or {}
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
        return model.model_validate(data).connectors
    except ValidationError as exc:
        document.fail(validation_problems(exc, data), ConnectorsConfigError)
