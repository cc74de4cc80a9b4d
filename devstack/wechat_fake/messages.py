"""``/cgi-bin/message``: customer-service (custom), template and mass messages. Each delivered message goes to
the recipient's timeline in the simulator; template and mass sends push their job-finished event to the app's
webhook afterwards (best effort, in a thread), as WeChat does."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from .errors import WeChatError
from .state import FakeState, User
from .web import fake, json_body, ok, reply
from .webhook import push_in_background
from .wxml import message_xml

bp = Blueprint("wechat_messages", __name__)

CUSTOM_TYPES = {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard",
                "miniprogrampage"}
MASS_TYPES = {"text", "mpnews", "image", "voice", "mpvideo", "wxcard"}
MEDIA_TYPES = {"image", "voice", "video", "mpnews", "mpvideo"}
TEXT_LIMIT_BYTES = 2048


def _content(body: dict[str, Any], allowed: set[str]) -> tuple[str, dict[str, Any]]:
    """(msgtype, its payload) after WeChat's checks: 40008 unknown type, 44004 empty text, 45002 text too long,
    44003 no articles, 45008 more than one article, 40007 missing media_id."""
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in allowed:
        raise WeChatError(40008)
    payload = body.get(msgtype)
    if not isinstance(payload, dict):
        raise WeChatError(44004 if msgtype == "text" else 47001)
    if msgtype == "text":
        content = payload.get("content")
        if not isinstance(content, str) or not content:
            raise WeChatError(44004)
        if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
            raise WeChatError(45002)
    if msgtype == "news":
        articles = payload.get("articles")
        if not isinstance(articles, list) or not articles or not all(isinstance(a, dict) for a in articles):
            raise WeChatError(44003)
        if len(articles) > 1:
            raise WeChatError(45008)
    if msgtype in MEDIA_TYPES and not payload.get("media_id"):
        raise WeChatError(40007)
    return msgtype, payload


def _entry(msgtype: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A message as the simulator's timeline shows it."""
    if msgtype == "text":
        return {"kind": "text", "content": payload["content"]}
    if msgtype == "news":
        return {"kind": "news", "articles": [
            {k: str(a.get(k) or "") for k in ("title", "description", "url", "picurl")} for a in payload["articles"]]}
    if msgtype == "msgmenu":
        options = [str(i.get("content", "")) for i in payload.get("list", []) if isinstance(i, dict)]
        lines = [str(payload.get("head_content", "")), *(f"· {o}" for o in options), str(payload.get("tail_content", ""))]
        return {"kind": "text", "content": "\n".join(x for x in lines if x)}
    if msgtype == "miniprogrampage":
        return {"kind": "note", "content": f"小程序卡片：{payload.get('title', '')}（{payload.get('pagepath', '')}）"}
    if msgtype in MEDIA_TYPES:
        return {"kind": "media", "msgtype": msgtype, "media_id": str(payload.get("media_id", "")),
                "title": str(payload.get("title", ""))}
    return {"kind": "note", "content": f"[{msgtype}] 消息"}


def _event_xml(state: FakeState, sender: str, event: str, fields: dict[str, Any]) -> str:
    return message_xml(state.config.account_id, sender, int(state.now()), "event", {"Event": event, **fields})


# ---------------------------------------------------------------- custom (客服消息)
@bp.post("/cgi-bin/message/custom/send")
def custom_send() -> Response:
    body = json_body()
    state = fake()
    user = state.user(body.get("touser"))
    msgtype, payload = _content(body, CUSTOM_TYPES)
    with state.lock:
        if not state.can_receive_custom(user):
            raise WeChatError(45015)
        state.add_entry(user.openid, {"direction": "out", "source": "custom", **_entry(msgtype, payload)})
    return ok()


# ---------------------------------------------------------------- template (模板消息)
def _template_data(data: Any) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(v, dict) and isinstance(v.get("value"), str)
                                             for v in data.values()):
        raise WeChatError(47001)
    return {str(k): v["value"] for k, v in data.items()}


@bp.post("/cgi-bin/message/template/send")
def template_send() -> Response:
    body = json_body()
    state = fake()
    user = state.user(body.get("touser"))
    template_id = body.get("template_id")
    with state.lock:
        if not isinstance(template_id, str) or not template_id or (
                state.templates and template_id not in state.templates):
            raise WeChatError(40037)
        title = state.templates.get(template_id, {}).get("title", "")
    data = _template_data(body.get("data"))
    if not user.subscribed:
        raise WeChatError(43004)
    msgid = state.next_msgid()
    url = body.get("url") if isinstance(body.get("url"), str) else ""
    state.add_entry(user.openid, {"direction": "out", "source": "template", "kind": "template",
                                  "template_id": template_id, "title": title, "url": url, "data": data,
                                  "msgid": msgid})
    if state.config.push_template_events:
        xml = _event_xml(state, user.openid, "TEMPLATESENDJOBFINISH", {"MsgID": msgid, "Status": "success"})
        push_in_background(state, xml, user.openid, "TEMPLATESENDJOBFINISH")
    return ok(msgid=msgid)


# ---------------------------------------------------------------- mass (群发)
def _mass(state: FakeState, recipients: list[User], msgtype: str, payload: dict[str, Any]) -> Response:
    msg_id = state.next_msgid()
    entry = {"direction": "out", "source": "mass", "msg_id": msg_id, **_entry(msgtype, payload)}
    sent = [u for u in recipients if u.subscribed]
    for user in sent:
        state.add_entry(user.openid, entry)
    if state.config.push_template_events:
        counts = {"TotalCount": len(recipients), "FilterCount": len(sent), "SentCount": len(sent), "ErrorCount": 0}
        xml = _event_xml(state, "mphelper", "MASSSENDJOBFINISH", {"MsgID": msg_id, "Status": "send success", **counts})
        push_in_background(state, xml, "mphelper", "MASSSENDJOBFINISH")
    out: dict[str, Any] = {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id}
    if msgtype == "mpnews":
        out["msg_data_id"] = state.next_msgid()
    return reply(out)


@bp.post("/cgi-bin/message/mass/sendall")
def mass_sendall() -> Response:
    body = json_body()
    state = fake()
    selection = body.get("filter")
    if not isinstance(selection, dict):
        raise WeChatError(47001)
    msgtype, payload = _content(body, MASS_TYPES)
    with state.lock:
        if selection.get("is_to_all") is True:
            recipients = list(state.users.values())
        else:
            tag_id = selection.get("tag_id")
            if not isinstance(tag_id, int) or isinstance(tag_id, bool) or tag_id not in state.tags:
                raise WeChatError(40050)
            recipients = [u for u in state.users.values() if tag_id in u.tags]
        return _mass(state, recipients, msgtype, payload)


@bp.post("/cgi-bin/message/mass/send")
def mass_send() -> Response:
    body = json_body()
    state = fake()
    openids = body.get("touser")
    if not isinstance(openids, list) or len(openids) < 2 or len(openids) > 10000:
        raise WeChatError(40130)
    msgtype, payload = _content(body, MASS_TYPES)
    with state.lock:
        recipients = [state.user(o) for o in dict.fromkeys(openids)]
        return _mass(state, recipients, msgtype, payload)
