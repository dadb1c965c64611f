"""The one YAML reader: lines of keys and items, pydantic errors as key paths of the file, FILE:LINE: messages."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kernel.yaml_config import (ConfigFileError, Document, Problem, Yaml12Loader, key_path, parse, read,
                                validation_problems)


class Mqtt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["mqtt"]
    port: int = 1883


class Modbus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["modbus"]
    host: str


class File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    labels: dict[Annotated[str, Field(pattern=r"^[a-z]+$")], str] = {}
    connectors: list[Annotated[Mqtt | Modbus, Field(discriminator="type")]] = []


def problems(text: str) -> list[str]:
    document = parse(text, "f.yaml")
    with pytest.raises(ValidationError) as caught:
        File.model_validate(document.data)
    with pytest.raises(ConfigFileError) as err:
        document.fail(validation_problems(caught.value, document.data))
    return err.value.problems


def test_every_key_and_item_has_its_line():
    document = parse("a:\n  b: 1\n  c:\n    - x\n    - y: 2\n", "f.yaml")
    assert document.data == {"a": {"b": 1, "c": ["x", {"y": 2}]}}
    assert [document.line(loc) for loc in [(), ("a",), ("a", "b"), ("a", "c", 0), ("a", "c", 1, "y")]] == [1, 1, 2, 4, 5]
    assert document.line(("a", "missing")) == 1 and document.line(("a", "c", 1, "z")) == 5


def test_pydantic_errors_name_the_line_and_the_key_path_of_the_file():
    assert problems("""name: n
labels:
  Bad: x
connectors:
  - type: mqtt
    port: many
  - type: modbus
    extra: 1
  - type: lora
""") == [
        "f.yaml:3: labels.Bad: String should match pattern '^[a-z]+$'",  # `[key]`: the key itself is at fault
        "f.yaml:6: connectors[0].port: expected a whole number",  # not connectors[0].mqtt.port: no such key
        "f.yaml:7: connectors[1].host: required",  # a missing key: the line of its mapping
        "f.yaml:8: connectors[1].extra: unknown field",
        "f.yaml:9: connectors[2].type: Input tag 'lora' found using 'type' does not match any of the expected "
        "tags: 'mqtt', 'modbus'"]


def test_the_whole_document_at_fault_is_top():
    assert problems("- a\n") == ["f.yaml:1: (top): expected a mapping"]
    assert problems("connectors: {}\n") == ["f.yaml:1: name: required", "f.yaml:1: connectors: expected a list"]


def test_data_without_a_file_has_key_paths_without_lines():
    document = Document("PUT /config", {"name": "n", "connectors": [{"type": "mqtt", "port": "x"}]})
    with pytest.raises(ValidationError) as caught:
        File.model_validate(document.data)
    assert str(document.problem(*validation_problems(caught.value, document.data)[0])) == (
        "PUT /config: connectors[0].port: expected a whole number")


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1, 2\nb: 3\n", "f.yaml:2: not valid YAML: while parsing a flow sequence (line 1), expected ',' or ']', "
                         "but got ':' (column 2)"),
    ("a: 1\n  b: 2\n", "f.yaml:2: not valid YAML: mapping values are not allowed here (column 4)"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2: not valid YAML: expected a single document in the stream (line 1), "
                          "but found another document (column 1)"),
    ("a: !!python/object:os.system x\n", "f.yaml:1: not valid YAML: could not determine a constructor for the tag "
                                         "'tag:yaml.org,2002:python/object:os.system' (column 4)"),
    ("a: 1\nb: \x00\n", "f.yaml:2: not valid YAML: character #x0000: special characters are not allowed"),
])
def test_yaml_syntax_errors_name_the_line(text, message):
    with pytest.raises(ConfigFileError) as err:
        parse(text, "f.yaml")
    assert str(err.value) == message


def test_files_that_cannot_be_read_are_named(tmp_path):
    with pytest.raises(ConfigFileError) as err:
        read(tmp_path / "missing.yaml", what="the test config")
    assert str(err.value) == f"{tmp_path / 'missing.yaml'}: cannot read the test config: No such file or directory"
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigFileError, match=r"latin1.yaml: not UTF-8 text \(byte 9\)"):
        read(latin1)


def test_an_empty_file_is_none():
    assert parse("", "f.yaml").data is None and parse("# only a comment\n", "f.yaml").data is None


def test_yaml_12_scalars_stay_strings_as_go_reads_them():
    text = "t: 10:00\nd: 1:5\nb: on\nn: ~\nx: 0x10\ni: 12\nf: 1.5\nyes: true\n"
    assert parse(text, "f.yaml", loader=Yaml12Loader).data == {
        "t": "10:00", "d": "1:5", "b": "on", "n": None, "x": "0x10", "i": 12, "f": 1.5, "yes": True}
    assert parse(text, "f.yaml").data["t"] == 600  # PyYAML's YAML 1.1: base 60


def test_past_twenty_problems_the_rest_are_counted():
    error = ConfigFileError.listing([Problem("f.yaml", i, "a", "bad") for i in range(1, 24)])
    assert len(error.problems) == 21 and error.problems[-1] == "f.yaml: … and 3 more"
    assert str(error).splitlines()[0] == "f.yaml:1: a: bad"


def test_key_paths():
    assert key_path(("route", "routes", 1, "receiver")) == "route.routes[1].receiver"
    assert key_path((0, "name")) == "[0].name" and key_path(()) == "(top)"
    assert str(Problem("f.yaml", 0, "", "cannot read")) == "f.yaml: cannot read"
