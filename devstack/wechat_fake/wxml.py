"""WeChat's XML on the wire: messages and events as WeChat posts them to the official account's server, the
signed query string, the 安全模式 (AES) envelope, and opening and checking the passive reply.

Encryption and signatures are wechatpy's (``PrpCrypto``, ``WeChatCrypto``, ``WeChatSigner``); XML is parsed
with xmltodict with entities disabled.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from .config import FakeConfig

REPLY_TYPES = {"text", "image", "voice", "video", "music", "news", "transfer_customer_service"}


class ReplyError(Exception):
    """The passive reply is one WeChat would not show; the message (Chinese) says why."""


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: dict[str, Any]) -> str:
    """``<xml>`` with numbers bare and text in CDATA, in the given order (WeChat's layout)."""
    parts = []
    for name, value in fields.items():
        text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else cdata(str(value))
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def message_xml(account_id: str, openid: str, create_time: int, msg_type: str, fields: dict[str, Any]) -> str:
    return build_xml({"ToUserName": account_id, "FromUserName": openid, "CreateTime": create_time,
                      "MsgType": msg_type, **fields})


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


@dataclass(frozen=True)
class Envelope:
    params: dict[str, str]
    body: str


def envelope(config: FakeConfig, xml: str, openid: str, mode: str, timestamp: int,
             nonce: str | None = None) -> Envelope:
    """The query string and body WeChat sends: ``signature``/``timestamp``/``nonce``/``openid`` always; in AES
    mode also ``encrypt_type=aes`` and ``msg_signature`` over the ``Encrypt`` text."""
    nonce = nonce or str(secrets.randbelow(10**10))
    ts = str(timestamp)
    params = {"signature": sign(config.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": openid}
    if mode != "aes":
        return Envelope(params, xml)
    key = WeChatCrypto(config.token, config.aes_key, config.appid).key
    encrypted = PrpCrypto(key).encrypt(xml, config.appid)
    encrypted = encrypted.decode() if isinstance(encrypted, bytes) else str(encrypted)
    params.update(encrypt_type="aes", msg_signature=sign(config.token, ts, nonce, encrypted))
    body = build_xml({"ToUserName": config.account_id, "Encrypt": encrypted})
    return Envelope(params, body)


def parse_xml(text: str) -> dict[str, Any]:
    try:
        doc = xmltodict.parse(text, disable_entities=True)
    except (ExpatError, ValueError) as exc:
        raise ReplyError(f"回复不是合法的 XML（{exc}）") from exc
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise ReplyError("回复的根元素必须是 <xml>")
    return root


def open_reply(config: FakeConfig, body: str, mode: str) -> dict[str, Any] | None:
    """The reply's fields, decrypted and signature-checked in AES mode; None for "" or "success"."""
    text = body.strip()
    if text in ("", "success"):
        return None
    doc = parse_xml(text)
    if mode != "aes":
        return doc
    if "Encrypt" not in doc:
        raise ReplyError("安全模式下回复必须加密（<Encrypt>、<MsgSignature>、<TimeStamp>、<Nonce>）")
    crypto = WeChatCrypto(config.token, config.aes_key, config.appid)
    try:
        plain = crypto.decrypt_message(doc, doc.get("MsgSignature"), doc.get("TimeStamp"), doc.get("Nonce"))
    except InvalidSignatureException as exc:
        raise ReplyError("回复的 MsgSignature 校验失败") from exc
    except Exception as exc:
        raise ReplyError(f"回复无法解密（{type(exc).__name__}）") from exc
    return parse_xml(plain)


def _text(doc: Any, key: str) -> str:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else ""


def reply_entry(doc: dict[str, Any], openid: str, account_id: str) -> dict[str, Any]:
    """A passive reply as a timeline entry (``kind`` + content), after WeChat's checks on the addressing."""
    if _text(doc, "ToUserName") != openid:
        raise ReplyError(f"回复的 ToUserName 应为用户 openid {openid}，实际为 {_text(doc, 'ToUserName') or '空'}")
    if _text(doc, "FromUserName") != account_id:
        raise ReplyError(f"回复的 FromUserName 应为公众号原始 ID {account_id}，实际为 {_text(doc, 'FromUserName') or '空'}")
    kind = _text(doc, "MsgType")
    if kind not in REPLY_TYPES:
        raise ReplyError(f"不支持的回复类型 MsgType={kind or '空'}")
    if kind == "text":
        if not _text(doc, "Content"):
            raise ReplyError("文本回复的 Content 为空")
        return {"kind": "text", "content": _text(doc, "Content")}
    if kind == "news":
        items = (doc.get("Articles") or {}).get("item") if isinstance(doc.get("Articles"), dict) else None
        items = [items] if isinstance(items, dict) else items or []
        if not items or str(len(items)) != _text(doc, "ArticleCount") or len(items) > 8:
            raise ReplyError("图文回复的 ArticleCount 与 <item> 数量不符（或超过 8 条）")
        articles = [{"title": _text(i, "Title"), "description": _text(i, "Description"),
                     "picurl": _text(i, "PicUrl"), "url": _text(i, "Url")} for i in items]
        return {"kind": "news", "articles": articles}
    if kind == "transfer_customer_service":
        return {"kind": "note", "content": "消息已转接多客服"}
    media = doc.get(kind.capitalize())
    return {"kind": kind, "media_id": _text(media, "MediaId"), "title": _text(media, "Title"),
            "description": _text(media, "Description"), "url": _text(media, "MusicUrl")}
