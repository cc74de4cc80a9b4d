"""``/_fake/sms``: the SMS outbox of the local stack (not WeChat's). The app's ``HttpOutboxSmsSender`` posts
the texts it would send through SNS in AWS (one-time codes for binding a card); the simulator page shows them
in its 短信 panel, and tests read them here. Everything is fictitious and stays in memory.

* ``POST /_fake/sms`` ``{"phone": "13800000001", "text": "..."}`` → 201 ``{"id", "phone", "text", "at"}``
* ``GET /_fake/sms?phone=&after=`` → ``{"messages": [...]}`` oldest first (``after``: only ids above it)
* ``DELETE /_fake/sms`` → forget them
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from .admin import AdminError
from .web import fake, reply

bp = Blueprint("wechat_fake_sms", __name__, url_prefix="/_fake")
PHONE = re.compile(r"1\d{10}")
MAX_TEXT = 500


@bp.post("/sms")
def receive() -> Response:
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise AdminError("a JSON object is required")
    phone, text = body.get("phone"), body.get("text")
    if not isinstance(phone, str) or not PHONE.fullmatch(phone):
        raise AdminError("phone must be an 11-digit mainland mobile number")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise AdminError(f"text must be 1-{MAX_TEXT} characters")
    state = fake()
    with state.lock:
        message = {"id": state.next_id(), "phone": phone, "text": text, "at": state.now()}
        state.sms.append(message)
    return reply(message, 201)


@bp.get("/sms")
def messages() -> Response:
    phone = request.args.get("phone")
    try:
        after = int(request.args.get("after", "0"))
    except ValueError as exc:
        raise AdminError("after must be a message id") from exc
    state = fake()
    with state.lock:
        items = [m for m in state.sms if m["id"] > after and (not phone or m["phone"] == phone)]
    return reply({"messages": items})


@bp.delete("/sms")
def clear() -> Response:
    state = fake()
    with state.lock:
        state.sms.clear()
    return reply({"ok": True})
