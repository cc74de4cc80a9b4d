"""``/api/openapi.json``: the H5 API's OpenAPI 3.1 description, kept true by ``tests/functional``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice.app import Blueprint

bp = Blueprint(__name__)
DOCUMENT = Path(__file__).with_name("openapi.json")


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@bp.route("/api/openapi.json", methods=["GET"])
def openapi() -> dict[str, Any]:
    return document()
