"""``/_fake``: the unsigned admin API for tests and the simulator page (not part of WeChat).

Bad input answers HTTP 400 ``{"error": "..."}``; unknown users 404."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from .errors import WeChatError
from .state import User
from .web import fake, reply

bp = Blueprint("wechat_admin", __name__, url_prefix="/_fake")


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def admin_error(error: AdminError) -> Response:
    return reply({"error": str(error)}, error.status)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise AdminError("a JSON object is required")
    return body


def _number(body: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = body.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise AdminError(f"{key} must be a number")
    return value


@bp.get("/health")
def health() -> Response:
    state = fake()
    with state.lock:
        return reply({"ok": True, "now": state.now(), "users": len(state.users), "calls": len(state.calls),
                      "config": state.config.public()})


@bp.post("/reset")
def reset() -> Response:
    fake().reset()
    return reply({"ok": True})


# ---------------------------------------------------------------- calls and pushes
@bp.get("/calls")
def calls() -> Response:
    return reply({"calls": fake().find_calls(request.args.get("path"), request.args.get("openid"))})


@bp.delete("/calls")
def clear_calls() -> Response:
    state = fake()
    with state.lock:
        state.calls.clear()
    return reply({"ok": True})


@bp.get("/pushes")
def pushes() -> Response:
    state = fake()
    kind = request.args.get("kind")
    with state.lock:
        items = [p for p in state.pushes if kind is None or p["kind"] == kind]
    return reply({"pushes": items})


@bp.delete("/pushes")
def clear_pushes() -> Response:
    state = fake()
    with state.lock:
        state.pushes.clear()
    return reply({"ok": True})


# ---------------------------------------------------------------- faults, tokens, clock, config
@bp.post("/faults")
def add_fault() -> Response:
    body = _body()
    path, errcode, count = body.get("path"), body.get("errcode"), body.get("count", 1)
    if not isinstance(path, str) or not path.startswith("/"):
        raise AdminError("path must be an API path such as /cgi-bin/message/custom/send")
    if not isinstance(errcode, int) or isinstance(errcode, bool) or errcode == 0:
        raise AdminError("errcode must be a non-zero integer")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise AdminError("count must be a positive integer")
    errmsg = body.get("errmsg")
    fake().add_fault(path, errcode, count, errmsg if isinstance(errmsg, str) else None)
    return reply({"faults": fake().pending_faults()}, 201)


@bp.get("/faults")
def list_faults() -> Response:
    return reply({"faults": fake().pending_faults()})


@bp.delete("/faults")
def clear_faults() -> Response:
    state = fake()
    with state.lock:
        state.faults.clear()
    return reply({"ok": True})


@bp.post("/tokens/expire")
def expire_token() -> Response:
    expired = fake().expire_token()
    return reply({"expired": expired is not None})


@bp.get("/clock")
def clock() -> Response:
    return reply({"now": fake().now()})


@bp.post("/clock")
def advance_clock() -> Response:
    seconds = _number(_body(), "advance_seconds")
    if seconds is None:
        raise AdminError("advance_seconds is required")
    fake().advance(seconds)
    return reply({"now": fake().now()})


@bp.get("/config")
def get_config() -> Response:
    return reply(fake().config.public())


@bp.post("/config")
def set_config() -> Response:
    state = fake()
    with state.lock:
        try:
            state.config.update(_body())
        except WeChatError as exc:
            raise AdminError(exc.errmsg) from exc
        return reply(state.config.public())


# ---------------------------------------------------------------- users, templates, timeline
def _tags(value: Any) -> list[int]:
    state = fake()
    if not isinstance(value, list) or not all(isinstance(t, int) and t in state.tags for t in value):
        raise AdminError("tags must be a list of existing tag ids")
    return list(dict.fromkeys(value))


def _apply(user: User, body: dict[str, Any]) -> None:
    state = fake()
    if "nickname" in body:
        if not isinstance(body["nickname"], str) or not body["nickname"].strip():
            raise AdminError("nickname must be a non-empty string")
        user.nickname = body["nickname"].strip()
    if "subscribed" in body:
        if not isinstance(body["subscribed"], bool):
            raise AdminError("subscribed must be true or false")
        if body["subscribed"] and not user.subscribed:
            user.subscribe_time = int(state.now())
        user.subscribed = body["subscribed"]
    if "last_interaction_at" in body:
        user.last_interaction_at = _number(body, "last_interaction_at")
    ago = _number(body, "last_interaction_seconds_ago")
    if ago is not None:
        user.last_interaction_at = state.now() - ago
    if "tags" in body:
        user.tags = _tags(body["tags"])
    if "remark" in body:
        user.remark = str(body["remark"])


@bp.get("/users")
def users() -> Response:
    state = fake()
    with state.lock:
        return reply({"users": [u.to_json() for u in state.users.values()]})


@bp.post("/users")
def upsert_user() -> Response:
    """Create (``openid`` optional, generated like ``o-sim-…``) or update a test user."""
    body = _body()
    state = fake()
    openid = body.get("openid")
    if openid is not None and (not isinstance(openid, str) or not 0 < len(openid) <= 64):
        raise AdminError("openid must be a string of 1-64 characters")
    with state.lock:
        created = openid not in state.users
        user = state.add_user("测试用户", openid) if created else state.users[str(openid)]
        try:
            _apply(user, body)
        except AdminError:
            if created:
                del state.users[user.openid]
            raise
        return reply(user.to_json(), 201 if created else 200)


@bp.get("/users/<openid>")
def get_user(openid: str) -> Response:
    state = fake()
    with state.lock:
        if openid not in state.users:
            raise AdminError("no such user", 404)
        return reply(state.users[openid].to_json())


@bp.get("/timeline")
def timeline() -> Response:
    return reply({"entries": fake().timeline(request.args.get("openid", ""), request.args.get("after", 0, int))})


@bp.post("/templates")
def add_template() -> Response:
    """Register a template the account owns; once any is registered, ``template/send`` checks ids (40037)."""
    body = _body()
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise AdminError("template_id is required")
    state = fake()
    with state.lock:
        state.templates[template_id] = {"title": str(body.get("title", "")), "content": str(body.get("content", "")),
                                        "example": str(body.get("example", ""))}
    return reply({"template_id": template_id}, 201)


@bp.get("/menu")
def menu() -> Response:
    state = fake()
    with state.lock:
        return reply({"menu": state.menu, "menu_id": state.menu_id})
