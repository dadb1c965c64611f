"""The OpenAPI document of a running `vigil api`, and schemathesis run against it over real HTTP.

Schemathesis runs as its own command (`schemathesis run`, as a user or CI would) with an admin key:
every operation, its examples, the coverage phase's boundary values and generated inputs, valid and
invalid. No answer may be a server error, and each must have a status code, content type and body
the document declares for that operation. Writes go to this module's own database and topics.
`MAX_EXAMPLES` bounds the run: 20–35 s on 2 cores (about 2,500 requests over 50 operations).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

import api.models
from tests.harness import create_key

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 50
RUN_TIMEOUT_S = 300
SERVER_LOG_CHARS = 20000
# A generous rate for this key: schemathesis sends faster than a person, and 429s would hide the routes.
RATE_PER_S = 100_000
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")
PHASES = ("examples", "coverage", "fuzzing")
# A stream answers until the client goes away: a generated request can't finish reading it.
STREAMING = ("/api/v1/stream",)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SECURED = [{"bearer": []}, {"basic": []}]


@pytest.fixture(scope="module")
def document(api) -> dict:
    answer = api.http.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


def operations(document: dict):
    """(`METHOD /path`, path, operation) for every operation of the document."""
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", path, operation


def test_the_document_offers_bearer_and_basic_auth_on_every_operation_but_healthz(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert schemes["basic"]["scheme"] == "basic"
    unsecured = [name for name, path, op in operations(document) if op.get("security") != SECURED]
    assert unsecured == ["GET /healthz"]


def test_every_operation_has_a_summary_a_description_and_its_errors_in_the_error_shape(document):
    for name, path, operation in operations(document):
        assert operation.get("summary") and operation.get("description"), name
        responses = operation["responses"]
        expected = {"422"} if path == "/healthz" else {"401", "403", "422", "429", "503"}
        assert expected <= set(responses), f"{name} declares {sorted(responses)}"
        for status, response in responses.items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"], f"{name} {status}"
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's shape, never answered here
    assert document["paths"]["/api/v1/alerts"]["get"]["responses"]["422"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/ApiError"}


def test_every_body_and_answer_has_an_example(document):
    schemas = document["components"]["schemas"]
    without = []
    for name, _path, operation in operations(document):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        documented = content and (content.get("examples") or _has_examples(content["schema"], schemas))
        if content and not documented:
            without.append(f"{name} request body")
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema and not _has_examples(schema, schemas):
                without.append(f"{name} {status}")
    assert without == [], without


def _has_examples(schema: dict, schemas: dict) -> bool:
    """True when an object schema (or the one it refers to) shows examples; plain values need none."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("type") not in (None, "object") or "properties" not in schema:
        return True  # a plain value or a free-form object: nothing worth an example of its own
    return bool(schema.get("examples"))


def test_every_example_in_the_models_is_valid_for_its_model():
    # Examples are documentation a reader copies: one that drifted from its model would mislead.
    modules = [importlib.import_module(f"api.models.{info.name}") for info in pkgutil.iter_modules(api.models.__path__)]
    models = [cls for module in modules for _, cls in inspect.getmembers(module, inspect.isclass)
              if issubclass(cls, BaseModel) and cls.__module__ == module.__name__]
    checked = 0
    for model in models:
        for example in (model.model_config.get("json_schema_extra") or {}).get("examples", []):
            model.model_validate(example)
            checked += 1
    assert checked >= len(models) // 2


def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_declare(api, tmp_path):
    key = create_key(api.env.dsn, "admin", "schemathesis", rate_per_s=RATE_PER_S, burst=RATE_PER_S)
    command = [str(SCHEMATHESIS), "--no-color", "run", f"{api.http.base_url}/openapi.json",
               "--header", f"Authorization: Bearer {key}", "--checks", ",".join(CHECKS), "--phases", ",".join(PHASES),
               "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic", "--workers", "1",
               "--request-timeout", "30", "--output-sanitize", "true",
               *(arg for path in STREAMING for arg in ("--exclude-path", path))]
    # In a temporary directory: schemathesis keeps a crash cache in the working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path)
    server_log = api.env.log(api.env.processes[-1])[-SERVER_LOG_CHARS:]  # a 500's traceback is there
    assert run.returncode == 0, (f"schemathesis found problems:\n{run.stdout[-20000:]}\n{run.stderr[-2000:]}\n"
                                 f"--- the API's log ---\n{server_log}")
    assert "No issues found" in run.stdout or "passed" in run.stdout.lower(), run.stdout[-5000:]
