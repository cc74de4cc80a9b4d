"""Checks responses against the contract itself: the operation's declared response schema in ``spec/openapi.yaml``
(JSON Schema 2020-12, ``$ref`` resolved into ``#/components``). Independent of the simulator's own code."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parents[3] / "devstack" / "his_simulator" / "spec"
_URI = "urn:contract"


@functools.cache
def spec() -> dict[str, Any]:
    with (SPEC_DIR / "openapi.yaml").open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


@functools.cache
def _registry() -> Registry:
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(spec(), default_specification=DRAFT202012)
    )
    return registry


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"].startswith("#/components/responses/"):
        node = spec()["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _absolute(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (_URI + v if k == "$ref" and v.startswith("#") else _absolute(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute(v) for v in node]
    return node


def response_validator(path: str, method: str, status: int) -> Draft202012Validator:
    operation = spec()["paths"][path][method.lower()]
    response = _resolve(operation["responses"][str(status)])
    schema = response["content"]["application/json"]["schema"]
    return Draft202012Validator(_absolute(schema), registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{_URI}#/components/schemas/{name}"}, registry=_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_conforms(path: str, method: str, status: int, body: Any) -> None:
    """Raise with every violation when ``body`` is not what the contract declares for this operation and status."""
    errors = sorted(response_validator(path, method, status).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def assert_schema(name: str, body: Any) -> None:
    errors = list(schema_validator(name).iter_errors(body))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPEC_DIR / "examples" / name).read_text(encoding="utf-8"))
    return loaded
