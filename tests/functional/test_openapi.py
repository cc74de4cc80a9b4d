"""The served OpenAPI document is valid and true: every route is documented, and real responses
of every documented operation validate against its schemas."""

import json
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib.api.openapi import document


def test_document_is_valid_openapi_31(client):
    resp = client.http.get("/api/openapi.json")
    assert resp.status_code == 200
    doc = json.loads(resp.body)
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_route_is_documented_and_nothing_else():
    documented = {(path, method.upper()) for path, ops in document()["paths"].items() for method in ops}
    served = {(path, method) for path, entry in app.routes.items() for method in entry}
    assert documented == served


def _schema_for(path, status):
    doc = document()
    op = doc["paths"][path]["get"]
    response = op["responses"][str(status)]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


CASES = [
    ("/api/hospital", "/api/hospital", 200),
    ("/api/campuses", "/api/campuses", 200),
    ("/api/departments", "/api/departments", 200),
    ("/api/departments", "/api/departments?campus_id=bad!", 400),
    ("/api/departments/{department_id}", "/api/departments/D0301", 200),
    ("/api/departments/{department_id}", "/api/departments/NOPE", 404),
    ("/api/doctors/{doctor_id}", "/api/doctors/DR10023", 200),
    ("/api/doctors/{doctor_id}", "/api/doctors/NOPE", 404),
    ("/api/fee-schedule", "/api/fee-schedule", 200),
]


@pytest.mark.parametrize(("template", "url", "status"), CASES)
def test_responses_match_the_document(client, template, url, status):
    resp = client.http.get(url)
    assert resp.status_code == status
    schema = _schema_for(template, status)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(json.loads(resp.body))


def _exercised_by_feature_tests() -> set[str]:
    """Every ``tests/functional/test_*_api.py`` module lists the documented paths it exercises in ``EXERCISED``."""
    import importlib

    covered: set[str] = set()
    for module_file in sorted(Path(__file__).parent.glob("test_*_api.py")):
        module = importlib.import_module(f"tests.functional.{module_file.stem}")
        covered |= set(getattr(module, "EXERCISED", ()))
    return covered


def test_documented_operations_are_all_exercised():
    # /wechat answers XML to WeChat; tests/functional/test_wechat_webhook.py exercises every outcome.
    covered = {t for t, _, _ in CASES} | {"/api/openapi.json", "/wechat"} | _exercised_by_feature_tests()
    assert covered == set(document()["paths"])
