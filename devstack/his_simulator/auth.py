"""Request signature verification (interface spec §4.2, §4.3).

Order, as the middleware does it: known app → timestamp window (±300 s) → signature (constant-time) → nonce unused
within 600 s. A nonce is recorded only after everything else succeeded. The arithmetic is shared with the bridge
through ``his_bridge.signing``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

try:
    from his_bridge import signing
except ImportError:  # run outside pytest: make functions/his_bridge importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions" / "his_bridge"))
    from his_bridge import signing

from .clock import SimClock, fmt
from .errors import HisError

__all__ = ["SIGNATURE_HEADERS", "NonceStore", "SignedRequest", "Verifier", "raw_path_and_query", "signing"]

SIGNATURE_HEADERS = (
    signing.HEADER_APP_ID,
    signing.HEADER_TIMESTAMP,
    signing.HEADER_NONCE,
    signing.HEADER_SIGNATURE,
)


class NonceStore:
    """Nonces seen per app, each kept for ``ttl`` seconds of simulated time."""

    def __init__(self, ttl_seconds: int) -> None:
        self._ttl = ttl_seconds
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def seen(self, app_id: str, nonce: str, now_epoch: int) -> bool:
        with self._lock:
            expires = self._seen.get((app_id, nonce))
            return expires is not None and expires > now_epoch

    def record(self, app_id: str, nonce: str, now_epoch: int) -> bool:
        """Record a nonce; False when it was already used within the TTL (checked atomically)."""
        with self._lock:
            self._purge(now_epoch)
            expires = self._seen.get((app_id, nonce))
            if expires is not None and expires > now_epoch:
                return False
            self._seen[(app_id, nonce)] = now_epoch + self._ttl
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def _purge(self, now_epoch: int) -> None:
        if len(self._seen) < 10_000:
            return
        for key in [k for k, exp in self._seen.items() if exp <= now_epoch]:
            del self._seen[key]


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str  # exactly as sent, still percent-encoded, without the query
    raw_query: str
    body: bytes
    headers: Mapping[str, str]  # the signature headers in canonical spelling


class Verifier:
    def __init__(
        self,
        app_id: str,
        secrets: list[str],
        clock: SimClock,
        nonces: NonceStore,
        window_seconds: int = signing.TIMESTAMP_WINDOW_SECONDS,
    ) -> None:
        self.app_id = app_id
        self.secrets = secrets
        self.clock = clock
        self.nonces = nonces
        self.window = window_seconds

    def verify(self, request: SignedRequest) -> str:
        """Return the app id of a correctly signed request, or raise the §4 error."""
        app_id = request.headers.get(signing.HEADER_APP_ID, "")
        if app_id != self.app_id:
            raise HisError("SIGNATURE_INVALID", "unknown app or missing X-His-App-Id")
        now_epoch = self.clock.epoch()
        verdict = signing.verify(
            request.headers,
            self.secrets,
            request.method,
            request.path,
            request.raw_query,
            request.body,
            now_epoch,
            self.window,
        )
        if not verdict.ok:
            if verdict.code == "TIMESTAMP_SKEW":
                raise HisError(
                    "TIMESTAMP_SKEW",
                    details={
                        "server_time": fmt(self.clock.now()),
                        "server_epoch": now_epoch,
                        "request_epoch": int(request.headers[signing.HEADER_TIMESTAMP]),
                    },
                )
            raise HisError("SIGNATURE_INVALID", verdict.reason)
        if not self.nonces.record(app_id, request.headers[signing.HEADER_NONCE], now_epoch):
            raise HisError("NONCE_REPLAYED", "nonce already used")
        return app_id


def raw_path_and_query(environ: Mapping[str, object]) -> tuple[str, str]:
    """The request path exactly as sent (not decoded) and the raw query string, from a WSGI environ."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw_uri, str) and raw_uri:
        target = raw_uri
        if "://" in target.split("?", 1)[0]:  # absolute-form request target
            after_scheme = target.split("://", 1)[1]
            target = "/" + after_scheme.split("/", 1)[1] if "/" in after_scheme else "/"
        path, _, query = target.partition("?")
        # RAW_URI is the latin-1 view of the bytes on the wire, like every WSGI string
        return path.encode("latin-1").decode("utf-8", "replace"), query.encode("latin-1").decode("utf-8", "replace")
    from urllib.parse import quote  # fallback for servers that do not expose the raw target

    script = str(environ.get("SCRIPT_NAME", ""))
    path_info = str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8", "replace")
    return quote(script + path_info, safe="/-._~!$&'()*+,;=:@%"), str(environ.get("QUERY_STRING", ""))
