"""The contract's JSON Schemas (``spec/openapi.yaml``, JSON Schema 2020-12) as validators.

Used to validate request bodies exactly as the contract states them, and by the tests to prove that responses
match. Errors become ``details.fields`` without echoing the submitted values (they may be personal data).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "openapi.yaml"
_SPEC_URI = "urn:his-spec:openapi"


@functools.cache
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return loaded


@functools.cache
def _registry() -> Registry:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


@functools.cache
def validator(schema_name: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<schema_name>``."""
    if schema_name not in spec()["components"]["schemas"]:
        raise KeyError(schema_name)
    return Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def inline_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a schema fragment that may ``$ref`` into the spec (use ``#/components/...`` refs)."""
    return Draft202012Validator(
        _absolutize(schema), registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _absolutize(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (_SPEC_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _absolutize(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolutize(v) for v in node]
    return node


def field_errors(schema_name: str, instance: Any, prefix: str = "") -> dict[str, str]:
    """``{dotted field: reason}`` for everything wrong with ``instance``; empty when valid."""
    problems: dict[str, str] = {}
    for error in validator(schema_name).iter_errors(instance):
        _collect(error, problems, prefix)
    return problems


def _collect(error: ValidationError, problems: dict[str, str], prefix: str) -> None:
    path = [str(p) for p in error.absolute_path]
    if error.validator in ("oneOf", "anyOf") and error.context:
        # Nullable objects are oneOf [Object, null]: report the object branch's own problems.
        specific = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        if specific:
            for sub in specific:
                _collect(sub, problems, prefix)
            return
    if error.validator == "required":
        missing = [name for name in error.validator_value if isinstance(error.instance, dict) and name not in error.instance]
        for name in missing:
            problems[_join(prefix, [*path, name])] = "required"
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema.get("properties") or {}) if isinstance(error.schema, dict) else ())
        for name in error.instance:
            if name not in allowed:
                problems[_join(prefix, [*path, name])] = "unknown field"
        return
    problems.setdefault(_join(prefix, path) or "body", _reason(error))


def _join(prefix: str, parts: list[str]) -> str:
    return ".".join([prefix, *parts] if prefix else parts)


def _reason(error: ValidationError) -> str:
    kind = error.validator
    value = error.validator_value
    if kind == "type":
        return f"must be of type {value}"
    if kind in ("enum", "const"):
        allowed = value if isinstance(value, list) else [value]
        return "must be one of " + ", ".join(str(v) for v in allowed)
    if kind == "pattern":
        return "does not have the required format"
    if kind == "format":
        return f"must be a valid {value}"
    if kind in ("maxLength", "minLength"):
        return f"length must be {'at most' if kind == 'maxLength' else 'at least'} {value}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"violates {kind} {value}"
    if kind in ("minItems", "maxItems", "uniqueItems"):
        return f"violates {kind} {value}"
    return f"invalid ({kind})"
