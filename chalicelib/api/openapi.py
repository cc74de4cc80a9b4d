"""``/api/openapi.json``: the H5 API's OpenAPI 3.1 description, kept true by ``tests/functional``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice.app import Blueprint

bp = Blueprint(__name__)
DOCUMENT = Path(__file__).with_name("openapi.json")
# One fragment per feature (``paths`` and ``components.schemas``), merged into the main document.
PARTS = Path(__file__).with_name("openapi_parts")


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    for part in sorted(PARTS.glob("*.json")):
        fragment = json.loads(part.read_text(encoding="utf-8"))
        for path, ops in fragment.get("paths", {}).items():
            if path in loaded["paths"]:
                raise ValueError(f"{part.name}: {path} is documented twice")
            loaded["paths"][path] = ops
        schemas = loaded.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in fragment.get("components", {}).get("schemas", {}).items():
            if name in schemas:
                raise ValueError(f"{part.name}: schema {name} is defined twice")
            schemas[name] = schema
    return loaded


@bp.route("/api/openapi.json", methods=["GET"])
def openapi() -> dict[str, Any]:
    return document()
