"""WeChat's side of the webhook, for tests: messages as WeChat sends them (XML, signed, optionally
AES-encrypted with wechatpy), and reading our replies back."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import urlencode

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto

TOKEN = "yiweitesttoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx00000000test0001"
ACCOUNT = "gh_yiwei_test"


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def cdata(value: Any) -> str:
    return f"<![CDATA[{value}]]>" if isinstance(value, str) else str(value)


@dataclass
class WeChatWire:
    token: str = TOKEN
    aes_key: str = AES_KEY
    appid: str = APPID
    account: str = ACCOUNT
    _ids: Any = field(default_factory=lambda: count(6_000_000_000_000_000_001))

    # ---- messages -----------------------------------------------------------------------------
    def xml(self, openid: str, msg_type: str, created: int | None = None, **fields: Any) -> str:
        body = {"ToUserName": self.account, "FromUserName": openid, "CreateTime": created or int(time.time()),
                "MsgType": msg_type, **fields}
        return "<xml>" + "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in body.items()) + "</xml>"

    def text(self, openid: str, content: str, **kw: Any) -> str:
        return self.xml(openid, "text", Content=content, MsgId=kw.pop("msg_id", next(self._ids)), **kw)

    def event(self, openid: str, event: str, key: str | None = None, **kw: Any) -> str:
        extra = {"EventKey": key} if key is not None else {}
        return self.xml(openid, "event", Event=event, **extra, **kw)

    def location(self, openid: str, lat: float, lng: float, **kw: Any) -> str:
        return self.xml(openid, "location", Location_X=lat, Location_Y=lng, Scale=15, Label="当前位置",
                        MsgId=next(self._ids), **kw)

    def media(self, openid: str, msg_type: str) -> str:
        return self.xml(openid, msg_type, MediaId="media-1", MsgId=next(self._ids))

    # ---- the HTTP request WeChat makes ----------------------------------------------------------
    def request(self, xml: str, encrypted: bool = True, now: int | None = None,
                appid: str | None = None) -> tuple[str, str]:
        """``(path with query, body)`` for ``POST /wechat``."""
        timestamp, nonce = str(now or int(time.time())), secrets.token_hex(5)
        query = {"signature": signature(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                 "openid": "x"}
        if not encrypted:
            return "/wechat?" + urlencode(query), xml
        crypto = WeChatCrypto(self.token, self.aes_key, self.appid)
        encrypt = PrpCrypto(crypto.key).encrypt(xml, appid or self.appid).decode()
        query.update(encrypt_type="aes", msg_signature=signature(self.token, timestamp, nonce, encrypt))
        body = f"<xml><ToUserName>{cdata(self.account)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        return "/wechat?" + urlencode(query), body

    def read_reply(self, body: str, encrypted: bool = True) -> dict[str, Any]:
        """Our passive reply as WeChat would read it (``{}`` for ``success``)."""
        if body in ("success", ""):
            return {}
        if encrypted:
            envelope = xmltodict.parse(body)["xml"]
            crypto = WeChatCrypto(self.token, self.aes_key, self.appid)
            body = crypto.decrypt_message(body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        return dict(xmltodict.parse(body)["xml"])
