"""``/cgi-bin``: access token, menu, JS-SDK ticket, users, tags, parameter QR codes, templates.

Every route except the token ones needs a valid ``access_token`` (checked in ``server._before``)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, request

from .errors import WeChatError
from .menu import menu_get_format, selfmenu_format, validate_menu
from .web import fake, json_body, ok, reply

bp = Blueprint("wechat_api", __name__)
TOKEN_PATHS = {"/cgi-bin/token", "/cgi-bin/stable_token"}
MAX_TAGS = 100
MAX_TAGS_PER_USER = 20


# ---------------------------------------------------------------- token, ticket
@bp.get("/cgi-bin/token")
def token() -> Response:
    args = request.args
    if args.get("grant_type") != "client_credential":
        raise WeChatError(40002)
    fake().check_app(args.get("appid"), args.get("secret"))
    value, expires_in = fake().issue_token()
    return reply({"access_token": value, "expires_in": expires_in})


@bp.post("/cgi-bin/stable_token")
def stable_token() -> Response:
    body = json_body()
    if body.get("grant_type") != "client_credential":
        raise WeChatError(40002)
    fake().check_app(body.get("appid"), body.get("secret"))
    value, expires_in = fake().stable_token(bool(body.get("force_refresh")))
    return reply({"access_token": value, "expires_in": expires_in})


@bp.get("/cgi-bin/ticket/getticket")
def getticket() -> Response:
    if request.args.get("type", "jsapi") not in ("jsapi", "wx_card"):
        raise WeChatError(40097)
    ticket, expires_in = fake().ticket()
    return ok(ticket=ticket, expires_in=expires_in)


# ---------------------------------------------------------------- menu
@bp.post("/cgi-bin/menu/create")
def menu_create() -> Response:
    buttons = validate_menu(json_body())
    state = fake()
    with state.lock:
        state.menu = {"button": buttons}
        state.menu_id += 1
    return ok()


@bp.get("/cgi-bin/menu/get")
def menu_get() -> Response:
    state = fake()
    with state.lock:
        if state.menu is None:
            raise WeChatError(46003)
        return reply(menu_get_format(state.menu["button"], state.menu_id))


@bp.get("/cgi-bin/get_current_selfmenu_info")
def selfmenu_info() -> Response:
    state = fake()
    with state.lock:
        return reply(selfmenu_format(state.menu["button"] if state.menu else None))


@bp.get("/cgi-bin/menu/delete")
def menu_delete() -> Response:
    state = fake()
    with state.lock:
        state.menu = None
    return ok()


# ---------------------------------------------------------------- users
def _user_info(openid: str | None) -> dict[str, Any]:
    user = fake().user(openid)
    if not user.subscribed:
        return {"subscribe": 0, "openid": user.openid}
    return {
        "subscribe": 1, "openid": user.openid, "language": "zh_CN", "subscribe_time": user.subscribe_time,
        "remark": user.remark, "groupid": 0, "tagid_list": list(user.tags), "subscribe_scene": user.subscribe_scene,
        "qr_scene": 0, "qr_scene_str": user.qr_scene_str,
    }


@bp.get("/cgi-bin/user/info")
def user_info() -> Response:
    return reply(_user_info(request.args.get("openid")))


@bp.post("/cgi-bin/user/info/batchget")
def user_info_batch() -> Response:
    items = json_body().get("user_list")
    if not isinstance(items, list) or not 0 < len(items) <= 100:
        raise WeChatError(40032)
    return reply({"user_info_list": [_user_info(i.get("openid") if isinstance(i, dict) else None) for i in items]})


def _page(openids: list[str], next_openid: str) -> dict[str, Any]:
    start = openids.index(next_openid) + 1 if next_openid in openids else 0
    page = openids[start:start + 10000]
    return {"total": len(openids), "count": len(page), "data": {"openid": page},
            "next_openid": page[-1] if page else ""}


@bp.get("/cgi-bin/user/get")
def user_get() -> Response:
    """Followers in the order they followed, 10000 per page."""
    state = fake()
    with state.lock:
        followers = sorted((u for u in state.users.values() if u.subscribed), key=lambda u: u.subscribe_time)
    return reply(_page([u.openid for u in followers], request.args.get("next_openid", "")))


# ---------------------------------------------------------------- tags
def _tag_id(value: Any, *, writable: bool = False) -> int:
    state = fake()
    if not isinstance(value, int) or isinstance(value, bool) or value not in state.tags:
        raise WeChatError(45159)
    if writable and value in (0, 1, 2):
        raise WeChatError(45058)
    return value


def _tag_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise WeChatError(45157)
    if len(value.encode("utf-8")) > 30:
        raise WeChatError(45158)
    if value in fake().tags.values():
        raise WeChatError(45157)
    return value


@bp.post("/cgi-bin/tags/create")
def tags_create() -> Response:
    tag = json_body().get("tag") or {}
    state = fake()
    with state.lock:
        name = _tag_name(tag.get("name") if isinstance(tag, dict) else None)
        if len(state.tags) - 3 >= MAX_TAGS:
            raise WeChatError(45056)
        tag_id = state.next_tag_id
        state.next_tag_id += 1
        state.tags[tag_id] = name
    return reply({"tag": {"id": tag_id, "name": name}})


@bp.get("/cgi-bin/tags/get")
def tags_get() -> Response:
    state = fake()
    with state.lock:
        counts = {tag_id: sum(tag_id in u.tags for u in state.users.values()) for tag_id in state.tags}
        tags = [{"id": i, "name": n, "count": counts[i]} for i, n in state.tags.items()]
    return reply({"tags": tags})


@bp.post("/cgi-bin/tags/update")
def tags_update() -> Response:
    tag = json_body().get("tag") or {}
    state = fake()
    with state.lock:
        tag_id = _tag_id(tag.get("id"), writable=True)
        if tag.get("name") != state.tags[tag_id]:
            state.tags[tag_id] = _tag_name(tag.get("name"))
    return ok()


@bp.post("/cgi-bin/tags/delete")
def tags_delete() -> Response:
    tag = json_body().get("tag") or {}
    state = fake()
    with state.lock:
        tag_id = _tag_id(tag.get("id"), writable=True)
        del state.tags[tag_id]
        for user in state.users.values():
            if tag_id in user.tags:
                user.tags.remove(tag_id)
    return ok()


def _members(body: dict[str, Any]) -> tuple[int, list[Any]]:
    tag_id = _tag_id(body.get("tagid"))
    openids = body.get("openid_list")
    if not isinstance(openids, list) or not 0 < len(openids) <= 50:
        raise WeChatError(40032)
    users = [fake().user(o) for o in openids]
    return tag_id, users


@bp.post("/cgi-bin/tags/members/batchtagging")
def tags_tag() -> Response:
    body = json_body()
    state = fake()
    with state.lock:
        tag_id, users = _members(body)
        if any(len(u.tags) >= MAX_TAGS_PER_USER and tag_id not in u.tags for u in users):
            raise WeChatError(45059)
        for user in users:
            if tag_id not in user.tags:
                user.tags.append(tag_id)
    return ok()


@bp.post("/cgi-bin/tags/members/batchuntagging")
def tags_untag() -> Response:
    body = json_body()
    state = fake()
    with state.lock:
        tag_id, users = _members(body)
        for user in users:
            if tag_id in user.tags:
                user.tags.remove(tag_id)
    return ok()


@bp.post("/cgi-bin/tags/getidlist")
def tags_of_user() -> Response:
    return reply({"tagid_list": list(fake().user(json_body().get("openid")).tags)})


@bp.post("/cgi-bin/user/tag/get")
def users_of_tag() -> Response:
    body = json_body()
    state = fake()
    with state.lock:
        tag_id = _tag_id(body.get("tagid"))
        openids = [u.openid for u in state.users.values() if tag_id in u.tags and u.subscribed]
    page = _page(openids, str(body.get("next_openid") or ""))
    page.pop("total")
    return reply(page)


# ---------------------------------------------------------------- parameter QR codes, templates
QR_ACTIONS = {"QR_SCENE": "scene_id", "QR_STR_SCENE": "scene_str", "QR_LIMIT_SCENE": "scene_id",
              "QR_LIMIT_STR_SCENE": "scene_str"}


@bp.post("/cgi-bin/qrcode/create")
def qrcode_create() -> Response:
    body = json_body()
    action = body.get("action_name")
    scene = ((body.get("action_info") or {}).get("scene") or {}) if isinstance(body.get("action_info"), dict) else {}
    field = QR_ACTIONS.get(str(action))
    value = scene.get(field) if field and isinstance(scene, dict) else None
    if value is None or (field == "scene_str" and not 0 < len(str(value)) <= 64):
        raise WeChatError(40097)
    scene_str = str(value)
    ticket = base64.urlsafe_b64encode(f"fake-qr:{action}:{scene_str}".encode()).decode().rstrip("=")
    expire = None if str(action).startswith("QR_LIMIT") else int(body.get("expire_seconds") or 60)
    state = fake()
    with state.lock:
        state.qrcodes[ticket] = {"scene": scene_str, "action_name": action, "created_at": state.now(),
                                 "expire_seconds": expire}
    out: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:22]}"}
    if expire is not None:
        out["expire_seconds"] = expire
    return reply(out)


@bp.get("/cgi-bin/template/get_all_private_template")
def templates() -> Response:
    state = fake()
    with state.lock:
        items = [{"template_id": k, **v} for k, v in state.templates.items()]
    return reply({"template_list": items})
