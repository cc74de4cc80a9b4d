"""Values we hand to a browser and must get back unchanged: HMAC-SHA256 signed, with an expiry.

This is signing, not encryption: anyone can read the payload, so it must hold nothing secret. Every
value is signed for a ``purpose`` ("session", "oauth-state", ...) so one kind can never be passed off
as another. Time is passed in; nothing here reads a clock.

Two formats:

* ``sign`` / ``verify``: ``<base64url(JSON claims)>.<base64url(HMAC-SHA256)>``, for cookies;
* ``sign_compact`` / ``verify_compact``: letters and digits only and at most 106 characters, for
  WeChat's OAuth ``state`` parameter (documented as ``[a-zA-Z0-9]``, at most 128 bytes). Its MAC is
  HMAC-SHA256 truncated to 128 bits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_TOKEN_CHARS = 4096
COMPACT_MAC_CHARS = 32  # hex digits: 128 bits
_EXP_DIGITS = 10  # epoch seconds, zero-padded (good until 2286)
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")
_COMPACT_VALUE = re.compile(r"^[A-Za-z0-9]{1,64}$")
_COMPACT_TOKEN = re.compile(r"^[A-Za-z0-9]{43,106}$")  # value (1-64) + expiry (10) + MAC (32)


class Reason(StrEnum):
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad-signature"
    MALFORMED = "malformed"


class SignedValueError(ValueError):
    """A signed value was refused; ``reason`` says why (expired, bad-signature, malformed)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _epoch(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("signed values need timezone-aware datetimes")
    return int(at.timestamp())


def _mac(key: bytes, purpose: str, message: bytes) -> bytes:
    if not key:
        raise ValueError("the signing key is empty")
    if not purpose or "\x00" in purpose:
        raise ValueError("a signing purpose is required")
    return hmac.new(key, purpose.encode("utf-8") + b"\x00" + message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64.match(text):
        raise SignedValueError(Reason.MALFORMED)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignedValueError(Reason.MALFORMED) from exc


def sign(claims: Mapping[str, str | int], *, key: bytes, purpose: str, expires_at: datetime) -> str:
    """``claims`` plus an ``exp`` (epoch seconds), as a signed, URL- and cookie-safe string."""
    if "exp" in claims:
        raise ValueError("'exp' is set from expires_at")
    payload = json.dumps({**claims, "exp": _epoch(expires_at)}, separators=(",", ":"), sort_keys=True)
    body = _b64(payload.encode("utf-8"))
    return f"{body}.{_b64(_mac(key, purpose, body.encode('ascii')))}"


def verify(token: str, *, key: bytes, purpose: str, now: datetime) -> dict[str, Any]:
    """The claims of a value made by ``sign`` (including ``exp``), or ``SignedValueError``."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 1:
        raise SignedValueError(Reason.MALFORMED)
    body, mac = token.split(".")
    given = _unb64(mac)
    _unb64(body)  # shape check before the MAC, so a malformed value is reported as such
    if not hmac.compare_digest(given, _mac(key, purpose, body.encode("ascii"))):
        raise SignedValueError(Reason.BAD_SIGNATURE)
    try:
        claims = json.loads(_unb64(body))
    except ValueError as exc:
        raise SignedValueError(Reason.MALFORMED) from exc
    if not isinstance(claims, dict):
        raise SignedValueError(Reason.MALFORMED)
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise SignedValueError(Reason.MALFORMED)
    if _epoch(now) >= exp:
        raise SignedValueError(Reason.EXPIRED)
    return {str(k): v for k, v in claims.items()}


def sign_compact(value: str, *, key: bytes, purpose: str, expires_at: datetime) -> str:
    """``value`` (1-64 letters or digits) with its expiry and a truncated MAC, letters and digits only."""
    if not _COMPACT_VALUE.match(value):
        raise ValueError("a compact value is 1-64 ASCII letters or digits")
    exp = _epoch(expires_at)
    if not 0 <= exp < 10**_EXP_DIGITS:
        raise ValueError("expiry out of range")
    text = f"{value}{exp:0{_EXP_DIGITS}d}"
    return text + _mac(key, purpose, text.encode("ascii")).hex()[:COMPACT_MAC_CHARS]


def verify_compact(token: str, *, key: bytes, purpose: str, now: datetime) -> str:
    """The value of a token made by ``sign_compact``, or ``SignedValueError``."""
    if not token or not _COMPACT_TOKEN.match(token):
        raise SignedValueError(Reason.MALFORMED)
    text, mac = token[:-COMPACT_MAC_CHARS], token[-COMPACT_MAC_CHARS:]
    expected = _mac(key, purpose, text.encode("ascii")).hex()[:COMPACT_MAC_CHARS]
    if not hmac.compare_digest(mac, expected):
        raise SignedValueError(Reason.BAD_SIGNATURE)
    value, exp = text[:-_EXP_DIGITS], text[-_EXP_DIGITS:]
    if not exp.isdigit():
        raise SignedValueError(Reason.MALFORMED)
    if _epoch(now) >= int(exp):
        raise SignedValueError(Reason.EXPIRED)
    return value
