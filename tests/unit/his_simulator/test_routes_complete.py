"""Every operation of the spec (``openapi.yaml`` paths; the ``on*`` webhooks are pushed, not served) has a route
with the spec's method and path, marked with its operationId; and nothing else is served under ``/v1``."""

from __future__ import annotations

import re

from devstack.his_simulator.server import create_app

from .contract import spec

_METHODS = {"get", "post", "put", "patch", "delete"}


def _spec_operations() -> dict[str, tuple[str, str]]:
    found = {}
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in _METHODS:
                found[operation["operationId"]] = (method.upper(), "/v1" + path)
    return found


def _served_operations() -> dict[str, set[tuple[str, str]]]:
    app = create_app()
    served: dict[str, set[tuple[str, str]]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        operation_id = getattr(app.view_functions[rule.endpoint], "operation_id", None)
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "{}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            served.setdefault(str(operation_id), set()).add((method, path))
    return served


def test_every_spec_operation_has_its_route() -> None:
    expected = _spec_operations()
    assert len(expected) == 38 and not any(op.startswith("on") for op in expected)
    served = _served_operations()
    for operation_id, (method, path) in expected.items():
        assert (method, re.sub(r"\{[^}]+\}", "{}", path)) in served.get(operation_id, set()), operation_id


def test_nothing_else_is_served_under_v1() -> None:
    served = _served_operations()
    assert "None" not in served, served.get("None")
    assert set(served) == set(_spec_operations())

