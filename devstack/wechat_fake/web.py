"""Helpers shared by the blueprints: the state of the running fake, WeChat-style JSON in and out."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, jsonify, request

from .errors import WeChatError
from .state import FakeState

EXTENSION = "wechat_fake"


def fake() -> FakeState:
    state: FakeState = current_app.extensions[EXTENSION]
    return state


def reply(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def ok(**fields: Any) -> Response:
    return reply({"errcode": 0, "errmsg": "ok", **fields})


def json_body() -> dict[str, Any]:
    """The POSTed JSON object (WeChat ignores Content-Type): 44002 when empty, 47001 when not a JSON object."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise WeChatError(44002)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WeChatError(47001) from exc
    if not isinstance(body, dict):
        raise WeChatError(47001)
    return body


def error_response(error: WeChatError) -> Response:
    return reply(error.body())
