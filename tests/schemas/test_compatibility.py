"""Schema evolution: the current reader reads every published version; a change needs a new version."""

from __future__ import annotations

import io
import json

import fastavro
import pytest
from fastavro.utils import generate_many

from schemas import codec


@pytest.mark.parametrize("name", codec.SCHEMA_NAMES)
def test_current_schema_is_the_latest_published_version(name):
    history = codec.schema_history(name)
    assert history, f"schemas/history/{name}/ has no v1.avsc"
    assert codec.schema_fingerprint(codec.load_schema(name)) == codec.schema_fingerprint(history[-1]), (
        f"schemas/avro/{name}.avsc changed: copy it to schemas/history/{name}/v{len(history) + 1}.avsc "
        "so the compatibility test covers the change")


@pytest.mark.parametrize("name", codec.SCHEMA_NAMES)
def test_every_earlier_version_is_readable_by_the_current_reader(name):
    reader = codec.Codec(name)  # schema resolution; the metrics codecs' fast paths have their own tests
    for version, old in enumerate(codec.schema_history(name), start=1):
        parsed = fastavro.parse_schema(old)
        for record in generate_many(parsed, 20):
            out = io.BytesIO()
            out.write(codec.MAGIC + codec.schema_fingerprint(old))
            fastavro.schemaless_writer(out, parsed, record)
            decoded = reader.decode(out.getvalue())
            for field in old["fields"]:
                assert field["name"] in decoded, f"{name} v{version}: field {field['name']} lost"


def test_history_files_are_valid_schemas():
    for name in codec.SCHEMA_NAMES:
        for old in codec.schema_history(name):
            fastavro.parse_schema(json.loads(json.dumps(old)))
