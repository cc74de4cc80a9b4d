"""``/_sim``: the WeChat simulator page and its JSON API. Each action builds the XML WeChat would post for that
user, updates what WeChat would record (follow state, the 48 h window), posts it to the app's webhook
(``webhook.deliver``) and puts both sides in the user's timeline."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, redirect, request, send_from_directory
from werkzeug.wrappers import Response as BaseResponse

from .admin import AdminError
from .state import FakeState, User
from .web import fake, reply
from .webhook import deliver
from .wxml import message_xml

STATIC = Path(__file__).parent / "static"
bp = Blueprint("wechat_sim", __name__, url_prefix="/_sim")

SCENES = [
    {"scene": "dept:D0301", "label": "心血管内科 科室二维码"},
    {"scene": "dept:D0601", "label": "小儿内科 科室二维码"},
    {"scene": "checkin:C01-3F-305", "label": "本部 门诊楼3F 305诊室 签到码"},
    {"scene": "checkin:C02-2F-201", "label": "东院区 综合楼2F 201诊室 签到码"},
]
LOCATIONS = [
    {"label": "本部院区（示例市中山区人民路88号）", "lat": 30.124512, "lng": 120.122831},
    {"label": "东院区（示例市东湖区滨江大道1666号）", "lat": 30.141806, "lng": 120.187644},
    {"label": "人民路地铁站", "lat": 30.1238, "lng": 120.1196},
    {"label": "市中心（离医院较远）", "lat": 30.2741, "lng": 120.1551},
]
NEEDS_FOLLOW = {"unsubscribe", "text", "image", "voice", "location", "location_event", "click", "view"}
TOUCHES = {"text", "image", "voice", "location", "click", "scan"}


@bp.get("")
def root() -> BaseResponse:
    return redirect("/_sim/", 302)


@bp.get("/")
def page() -> Response:
    return send_from_directory(STATIC, "sim.html")


@bp.get("/static/<path:name>")
def static_file(name: str) -> Response:
    return send_from_directory(STATIC, name)


# ---------------------------------------------------------------- state for the page
def _menu_buttons(state: FakeState) -> list[dict[str, Any]]:
    return list(state.menu["button"]) if state.menu else []


@bp.get("/api/state")
def page_state() -> Response:
    state = fake()
    with state.lock:
        scenes = SCENES + [{"scene": q["scene"], "label": f"{q['scene']}（接口创建的二维码）"}
                           for q in state.qrcodes.values() if q["scene"] not in {s["scene"] for s in SCENES}]
        return reply({
            "account": {"id": state.config.account_id, "name": state.config.account_name},
            "webhook_url": state.config.webhook_url,
            "mode": state.config.encrypt_mode,
            "users": [u.to_json() for u in state.users.values()],
            "menu": _menu_buttons(state),
            "menu_id": state.menu_id,
            "scenes": scenes,
            "locations": LOCATIONS,
            "now": state.now(),
        })


@bp.post("/api/users")
def create_user() -> Response:
    body = request.get_json(silent=True, force=True) or {}
    nickname = str(body.get("nickname", "")).strip() if isinstance(body, dict) else ""
    if not nickname or len(nickname) > 20:
        raise AdminError("请填写 1-20 个字的昵称")
    state = fake()
    user = state.add_user(nickname, last_interaction_at=state.now())
    return reply(user.to_json(), 201)


@bp.get("/api/timeline")
def timeline() -> Response:
    state = fake()
    openid = request.args.get("openid", "")
    if openid not in state.users:
        raise AdminError("没有这个测试用户", 404)
    return reply({"user": state.users[openid].to_json(),
                  "entries": state.timeline(openid, request.args.get("after", 0, int)),
                  "menu_id": state.menu_id})


# ---------------------------------------------------------------- actions
def _ticket(state: FakeState, scene: str) -> str:
    for ticket, qr in state.qrcodes.items():
        if qr["scene"] == scene:
            return ticket
    return base64.urlsafe_b64encode(f"fake-qr:QR_LIMIT_STR_SCENE:{scene}".encode()).decode().rstrip("=")


def _float(body: dict[str, Any], key: str) -> float:
    try:
        return round(float(body[key]), 6)
    except (KeyError, TypeError, ValueError) as exc:
        raise AdminError(f"{key} 需要是数字") from exc


def _text(body: dict[str, Any], key: str, label: str, limit: int = 2000) -> str:
    value = str(body.get(key) or "").strip()
    if not value or len(value) > limit:
        raise AdminError(f"请填写{label}（最多 {limit} 字）")
    return value


def _menu_name(state: FakeState, field: str, value: str) -> str:
    for top in _menu_buttons(state):
        for button in [top, *top.get("sub_button", [])]:
            if button.get(field) == value:
                return str(button.get("name", value))
    return value


def _message(state: FakeState, user: User, action: str, body: dict[str, Any]) -> tuple[str, dict[str, Any],
                                                                                          dict[str, Any]]:
    """(MsgType, fields, the user's side of the timeline) for one action."""
    msgid: dict[str, Any] = {"MsgId": state.next_msgid()}
    fields: dict[str, Any]
    if action == "subscribe" or (action == "scan" and not user.subscribed):
        scene = str(body.get("scene") or "").strip()
        if user.subscribed:
            raise AdminError("该用户已关注公众号", 409)
        fields = {"Event": "subscribe", "EventKey": f"qrscene_{scene}" if scene else ""}
        if scene:
            fields["Ticket"] = _ticket(state, scene)
        return "event", fields, {"kind": "event", "content": f"扫码关注公众号（场景 {scene}）" if scene else "关注公众号"}
    if action == "unsubscribe":
        return "event", {"Event": "unsubscribe", "EventKey": ""}, {"kind": "event", "content": "取消关注公众号"}
    if action == "scan":
        scene = _text(body, "scene", "二维码场景值", 64)
        fields = {"Event": "SCAN", "EventKey": scene, "Ticket": _ticket(state, scene)}
        return "event", fields, {
            "kind": "event", "content": f"扫描二维码（场景 {scene}）"}
    if action == "text":
        content = _text(body, "content", "消息内容")
        fields = {"Content": content, **msgid}
        return "text", fields, {"kind": "text", "content": content}
    if action in ("image", "voice"):
        media_id = "sim-media-" + secrets.token_urlsafe(24)
        if action == "image":
            fields = {"PicUrl": f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id}/0", "MediaId": media_id, **msgid}
            return "image", fields, {"kind": "media", "msgtype": "image", "media_id": media_id}
        recognition = str(body.get("recognition") or "")
        fields = {"MediaId": media_id, "Format": "amr", "Recognition": recognition, **msgid}
        return "voice", fields, {"kind": "media", "msgtype": "voice", "media_id": media_id, "title": recognition}
    if action == "location":
        lat, lng, label = _float(body, "lat"), _float(body, "lng"), str(body.get("label") or "")
        fields = {"Location_X": lat, "Location_Y": lng, "Scale": 15, "Label": label, **msgid}
        return "location", fields, {"kind": "location", "lat": lat, "lng": lng, "label": label}
    if action == "location_event":
        lat, lng = _float(body, "lat"), _float(body, "lng")
        fields = {"Event": "LOCATION", "Latitude": lat, "Longitude": lng, "Precision": 30.0}
        return "event", fields, {"kind": "event", "content": f"上报地理位置 {lat}, {lng}"}
    if action == "click":
        key = _text(body, "key", "菜单 key", 128)
        return "event", {"Event": "CLICK", "EventKey": key}, {
            "kind": "event", "content": f"点击菜单「{_menu_name(state, 'key', key)}」"}
    if action == "view":
        url = _text(body, "url", "菜单链接", 1024)
        return "event", {"Event": "VIEW", "EventKey": url, "MenuId": state.menu_id}, {
            "kind": "event", "content": f"点击菜单「{_menu_name(state, 'url', url)}」打开网页"}
    raise AdminError(f"未知操作 {action}")


@bp.post("/api/send")
def send() -> Response:
    """Body: ``{"openid", "action", ...}``; actions: subscribe [scene], unsubscribe, text content, image,
    voice [recognition], location lat lng [label], location_event lat lng, click key, view url, scan scene."""
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise AdminError("需要 JSON 对象")
    state = fake()
    action = str(body.get("action", ""))
    with state.lock:
        if body.get("openid") not in state.users:
            raise AdminError("没有这个测试用户", 404)
        user = state.users[str(body["openid"])]
        if action in NEEDS_FOLLOW and not user.subscribed:
            raise AdminError("请先关注公众号", 409)
        msg_type, fields, mine = _message(state, user, action, body)
        xml = message_xml(state.config.account_id, user.openid, int(state.now()), msg_type, fields)
        if fields.get("Event") == "subscribe":
            state.subscribe(user.openid, str(body.get("scene") or "").strip() or None)
        elif action == "unsubscribe":
            state.unsubscribe(user.openid)
        elif action in TOUCHES:
            state.touch(user.openid)
        entries = [state.add_entry(user.openid, {"direction": "in", "source": "user", "xml": xml, **mine})]
    result = deliver(state, xml, user.openid, fields.get("Event") or msg_type)
    if result.error:
        entries.append(state.add_entry(user.openid, {
            "direction": "system", "source": "webhook", "kind": "error", "content": result.error,
            "status": result.status, "body": result.body[:2000]}))
    elif result.reply is not None and action != "unsubscribe":
        entries.append(state.add_entry(user.openid, {"direction": "out", "source": "passive", **result.reply}))
    return reply({"entries": entries, "delivery": {k: v for k, v in result.to_json().items() if k != "request"}})
