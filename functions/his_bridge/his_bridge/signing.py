"""Request and event signing of the hospital middleware (interface spec §4.2, §4.4).

Pure functions over bytes and strings, shared by the bridge (signing), the event receiver and the HIS
simulator (verification). Checked against the spec's test vectors in ``tests/unit``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

ALGORITHM = "HIS1-HMAC-SHA256"
HEADER_APP_ID = "X-His-App-Id"
HEADER_TIMESTAMP = "X-His-Timestamp"
HEADER_NONCE = "X-His-Nonce"
HEADER_SIGNATURE = "X-His-Signature"
TIMESTAMP_WINDOW_SECONDS = 300
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SIGNATURE_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def _encode(value: str) -> str:
    return urllib.parse.quote(value, safe="-._~")


def canonical_query(raw_query: str) -> str:
    """§4.2 step 3: decode each pair (``+`` stays a plus), re-encode per RFC 3986, sort, join."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(urllib.parse.unquote(name)), _encode(urllib.parse.unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def string_to_sign(method: str, path: str, raw_query: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    return "\n".join(
        [
            ALGORITHM,
            method.upper(),
            path,
            canonical_query(raw_query),
            str(timestamp),
            nonce,
            hashlib.sha256(body).hexdigest(),
        ]
    )


def sign(secret: str, method: str, path: str, raw_query: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, raw_query, timestamp, nonce, body).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return str(uuid.uuid4())


def signed_headers(
    app_id: str, secret: str, method: str, path: str, raw_query: str, body: bytes, now_epoch: int, nonce: str | None = None
) -> dict[str, str]:
    """The four signature headers for one attempt (every attempt is signed afresh, §4.3)."""
    nonce = nonce or new_nonce()
    return {
        HEADER_APP_ID: app_id,
        HEADER_TIMESTAMP: str(now_epoch),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(secret, method, path, raw_query, now_epoch, nonce, body),
    }


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str = ""  # SIGNATURE_INVALID | TIMESTAMP_SKEW | NONCE_REPLAYED (set by the caller's nonce store)
    reason: str = ""


def verify(
    headers: Mapping[str, str],
    secrets: list[str],
    method: str,
    path: str,
    raw_query: str,
    body: bytes,
    now_epoch: int,
    window: int = TIMESTAMP_WINDOW_SECONDS,
) -> Verdict:
    """Check timestamp window and signature against any of ``secrets`` (current, previous), in the
    spec's order. Nonce uniqueness is the caller's to record *after* a good verdict.
    ``headers`` must be case-insensitive or use the canonical spelling."""
    ts = headers.get(HEADER_TIMESTAMP, "")
    nonce = headers.get(HEADER_NONCE, "")
    given = headers.get(HEADER_SIGNATURE, "")
    if not ts.isdigit() or not NONCE_PATTERN.match(nonce) or not _SIGNATURE_PATTERN.match(given):
        return Verdict(False, "SIGNATURE_INVALID", "missing or malformed signature headers")
    if abs(now_epoch - int(ts)) > window:
        return Verdict(False, "TIMESTAMP_SKEW", "timestamp outside the allowed window")
    for secret in secrets:
        if secret and hmac.compare_digest(sign(secret, method, path, raw_query, ts, nonce, body), given):
            return Verdict(True)
    return Verdict(False, "SIGNATURE_INVALID", "signature does not match")
