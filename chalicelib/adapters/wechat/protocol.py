"""WeChat's webhook protocol on wechatpy: signatures, plain / compatible / safe (AES) modes, parsing,
and rendering passive replies.

Protocol reference:
  * access and signature: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
  * message encryption: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html

Every refusal is a ``WebhookError`` with a 4xx status: 403 for anything that fails authentication
(signature, replay window, AppId inside the envelope), 400 for malformed input, 413 for oversized
bodies. Nothing here logs message contents or openids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.replies import ArticlesReply, TextReply

from chalicelib.adapters.wechat.errors import WebhookError
from chalicelib.domain.wechat import InboundMessage, Reply

__all__ = ["ReceivedMessage", "WeChatProtocol", "WebhookError", "to_inbound"]

MAX_BODY_BYTES = 64 * 1024  # WeChat's messages are a few KB; anything near this is not WeChat.
SUCCESS = "success"


@dataclass(frozen=True)
class ReceivedMessage:
    message: InboundMessage
    encrypted: bool  # answer in the same mode WeChat used


def _sha1_signature(*parts: str) -> str:
    # SHA-1 is what WeChat's protocol specifies for these signatures.
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324


def _parse_xml(raw: str | bytes) -> dict[str, Any]:
    """xmltodict with entities disabled (its default): XXE and billion-laughs payloads raise."""
    try:
        parsed = xmltodict.parse(raw, disable_entities=True)
    except (ValueError, ExpatError) as exc:
        raise WebhookError(400, "malformed XML") from exc
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise WebhookError(400, "the XML root must be <xml>")
    return root


class WeChatProtocol:
    def __init__(self, token: str, aes_key: str, appid: str, max_age_seconds: int,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        if not token:
            raise ValueError("WECHAT_TOKEN is not set")
        self._token = token
        self._appid = appid
        self._max_age = max_age_seconds
        self._max_body = max_body_bytes
        self._crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None
        self._prp_key = self._crypto.key if self._crypto else b""

    # ---- authentication --------------------------------------------------------------------------
    def _authenticate(self, query: Mapping[str, str], now: datetime) -> tuple[str, str]:
        signature, timestamp, nonce = (query.get(k) or "" for k in ("signature", "timestamp", "nonce"))
        if not (signature and timestamp and nonce):
            raise WebhookError(403, "missing signature")
        if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > self._max_age:
            raise WebhookError(403, "request outside the accepted time window")
        if not hmac.compare_digest(_sha1_signature(self._token, timestamp, nonce), signature.lower()):
            raise WebhookError(403, "bad signature")
        return timestamp, nonce

    def verify_echo(self, query: Mapping[str, str], now: datetime) -> str:
        """GET verification when the server URL is configured: echo ``echostr`` if signed by us."""
        self._authenticate(query, now)
        echostr = query.get("echostr") or ""
        if not echostr or len(echostr) > 512:
            raise WebhookError(400, "missing echostr")
        return echostr

    # ---- inbound -----------------------------------------------------------------------------------
    def read(self, query: Mapping[str, str], body: bytes | str, now: datetime) -> ReceivedMessage:
        if isinstance(body, str):
            body = body.encode("utf-8")
        if len(body) > self._max_body:
            raise WebhookError(413, "body too large")
        if not body.strip():
            raise WebhookError(400, "empty body")
        timestamp, nonce = self._authenticate(query, now)
        encrypt_type = (query.get("encrypt_type") or "raw").lower()
        if encrypt_type == "aes":
            plain = self._decrypt(query, body, timestamp, nonce)
        elif encrypt_type == "raw":
            try:
                plain = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WebhookError(400, "the body is not UTF-8") from exc
        else:
            raise WebhookError(400, "unsupported encrypt_type")
        return ReceivedMessage(self._to_message(plain), encrypted=encrypt_type == "aes")

    def _decrypt(self, query: Mapping[str, str], body: bytes, timestamp: str, nonce: str) -> str:
        if self._crypto is None:
            raise WebhookError(400, "safe mode is not configured (WECHAT_AES_KEY)")
        envelope = _parse_xml(body)
        encrypted = envelope.get("Encrypt")
        msg_signature = query.get("msg_signature") or ""
        if not isinstance(encrypted, str) or not encrypted:
            raise WebhookError(400, "missing Encrypt")
        if not msg_signature or not hmac.compare_digest(
            _sha1_signature(self._token, timestamp, nonce, encrypted), msg_signature.lower()
        ):
            raise WebhookError(403, "bad msg_signature")
        try:
            plain = PrpCrypto(self._prp_key).decrypt(encrypted, self._appid)
        except InvalidAppIdException as exc:
            raise WebhookError(403, "the envelope is for another AppId") from exc
        except Exception as exc:  # bad base64, padding or length: not something WeChat produced
            raise WebhookError(400, "undecryptable envelope") from exc
        return str(plain)

    def _to_message(self, xml: str) -> InboundMessage:
        try:
            # xmltodict underneath, entities disabled: XXE and billion-laughs raise ValueError.
            parsed = parse_message(xml)
        except (ValueError, ExpatError) as exc:
            raise WebhookError(400, "malformed XML") from exc
        except (KeyError, TypeError, AttributeError) as exc:  # no <xml> root, no MsgType ...
            raise WebhookError(400, "not a WeChat message") from exc
        if parsed is None:
            raise WebhookError(400, "empty body")
        raw: dict[str, Any] = getattr(parsed, "_data", {}) or {}
        return to_inbound(raw)

    # ---- outbound (passive reply) ------------------------------------------------------------------
    def render(self, reply: Reply, message: InboundMessage, encrypted: bool, now: datetime) -> str:
        """The HTTP body answering ``message``: ``success`` when there is nothing to say."""
        if reply.empty:
            return SUCCESS
        created = int(now.timestamp())
        common = {"source": message.account, "target": message.openid, "time": created}
        if reply.articles:
            xml = ArticlesReply(articles=[
                {"title": a.title, "description": a.description, "url": a.url, "image": a.image}
                for a in reply.articles
            ], **common).render()
        else:
            xml = TextReply(content=reply.text, **common).render()
        if not encrypted or self._crypto is None:
            return str(xml)
        return str(self._crypto.encrypt_message(xml, secrets.token_hex(8), str(created)))


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) else ""


def _float(raw: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        try:
            return float(raw[key])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def to_inbound(raw: Mapping[str, Any]) -> InboundMessage:
    """Map wechatpy's parsed fields to our ``InboundMessage`` (one shape for every type)."""
    msg_type = _text(raw, "MsgType").lower()
    event = _text(raw, "Event").lower()
    event_key = _text(raw, "EventKey")
    if event == "subscribe_scan":  # wechatpy renames a follow through a scene code and strips its prefix
        event, event_key = "subscribe", f"qrscene_{event_key}"
    openid = _text(raw, "FromUserName")
    create_time = _text(raw, "CreateTime")
    if not msg_type or not openid or not create_time.isdigit():
        raise WebhookError(400, "not a WeChat message")
    return InboundMessage(
        msg_type=msg_type,
        openid=openid,
        account=_text(raw, "ToUserName"),
        created_at=datetime.fromtimestamp(int(create_time), UTC),
        create_time=int(create_time),
        msg_id=_text(raw, "MsgId") or _text(raw, "MsgID"),
        event=event,
        event_key=event_key,
        content=_text(raw, "Content")[:2000],
        media_id=_text(raw, "MediaId"),
        latitude=_float(raw, "Location_X", "Latitude"),
        longitude=_float(raw, "Location_Y", "Longitude"),
        label=_text(raw, "Label"),
        status=_text(raw, "Status"),
        ticket=_text(raw, "Ticket"),
    )
