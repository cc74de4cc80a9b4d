"""``HttpHisClient``: signed calls to the hospital's middleware (interface spec §4, §5).

* every attempt is signed afresh (new timestamp and nonce; same body and Idempotency-Key);
* 1 s connect / 4 s read timeouts, no transport-level resends (they would reuse the nonce);
* retryable answers (``retryable: true``, 429/503 with ``Retry-After``, connection errors) are retried
  with exponential backoff and jitter, at most ``max_attempts`` times, and only where that is safe:
  a write whose outcome is unknown raises ``OutcomeUnknownError`` instead of being sent again blindly
  (the caller redelivers the same message, i.e. the same key, or queries by business reference);
* ``If-None-Match`` for the ETag'd reference lists; ``304`` comes back as ``not_modified``;
* paginated lists are followed to the end (``next_cursor``).
"""

from __future__ import annotations

import json
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from his_bridge.operations import OPERATIONS, Operation
from his_bridge.signing import signed_headers

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 100
MAX_RETRY_AFTER = 5.0


class HisClientError(Exception):
    """Base of the bridge's client errors."""


class UnknownOperationError(HisClientError):
    pass


class HisUnavailableError(HisClientError):
    """Retryable failure that persisted through our attempts (the message will be redelivered)."""


class OutcomeUnknownError(HisClientError):
    """A write may or may not have taken effect (§5.2); resolve with the same key or by query."""


@dataclass(frozen=True)
class HisResponse:
    status: int
    body: Any
    etag: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> dict[str, Any] | None:
        if self.ok or self.status == 304:
            return None
        body = self.body if isinstance(self.body, dict) else {}
        return {
            "code": str(body.get("code") or f"HTTP_{self.status}"),
            "message": str(body.get("message") or ""),
            "retryable": bool(body.get("retryable", self.status in RETRYABLE_STATUS)),
            "trace_id": str(body.get("trace_id") or self.headers.get("X-His-Trace-Id", "")),
            "details": body.get("details") if isinstance(body.get("details"), dict) else {},
        }


def encode_query(query: Mapping[str, Any]) -> str:
    """RFC 3986 encoding (``+`` of an offset goes out as ``%2B``, §2.2); booleans as true/false."""
    pairs = []
    for name, value in query.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        pairs.append(f"{urllib.parse.quote(name, safe='-._~')}={urllib.parse.quote(text, safe='-._~')}")
    return "&".join(pairs)


class HttpHisClient:
    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_secret: str,
        *,
        connect_timeout: float = 1.0,
        read_timeout: float = 4.0,
        ca_bundle: str | None = None,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._base_path = urllib.parse.urlsplit(self._base).path
        self._app_id = app_id
        self._secret = app_secret
        self._timeout = (connect_timeout, read_timeout)
        self._verify: bool | str = ca_bundle or True
        self._max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._session = session or requests.Session()
        self._session.mount("https://", HTTPAdapter(max_retries=0, pool_maxsize=10))
        self._session.mount("http://", HTTPAdapter(max_retries=0, pool_maxsize=10))

    # -- one HTTP exchange ------------------------------------------------------------------------
    def _send(
        self, op: Operation, path: str, query: str, body: bytes, extra_headers: Mapping[str, str]
    ) -> HisResponse:
        headers = {
            "Accept": "application/json",
            **signed_headers(self._app_id, self._secret, op.method, path, query, body, int(self._clock())),
            **extra_headers,
        }
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        url = urllib.parse.urlunsplit(urllib.parse.urlsplit(self._base)._replace(path=path, query=query))
        resp = self._session.request(
            op.method, url, data=body or None, headers=headers, timeout=self._timeout, verify=self._verify
        )
        try:
            parsed = resp.json() if resp.content else None
        except ValueError:
            parsed = None
        return HisResponse(resp.status_code, parsed, resp.headers.get("ETag"), dict(resp.headers))

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        if retry_after and retry_after.isdigit():
            delay = min(float(retry_after), MAX_RETRY_AFTER)
        else:
            delay = min(0.5 * 2 ** (attempt - 1), 2.0)
        self._sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not security

    def _call_once_with_retries(
        self, op: Operation, path: str, query: str, body: bytes, extra_headers: Mapping[str, str]
    ) -> HisResponse:
        last: HisResponse | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                resp = self._send(op, path, query, body, extra_headers)
            except (requests.ConnectionError, requests.Timeout) as exc:
                sent = not isinstance(exc, requests.ConnectTimeout)
                if op.is_write and sent:
                    raise OutcomeUnknownError(f"{op.method} {path}: no answer") from exc
                if attempt == self._max_attempts:
                    raise HisUnavailableError(f"{op.method} {path}: {type(exc).__name__}") from exc
                self._backoff(attempt, None)
                continue
            error = resp.error
            if error is None or not error["retryable"]:
                return resp
            if op.is_write and (resp.status == 500 or error["code"] == "OUTCOME_UNKNOWN"):
                raise OutcomeUnknownError(f"{op.method} {path}: {error['code']}")
            last = resp
            if attempt < self._max_attempts:
                self._backoff(attempt, resp.headers.get("Retry-After"))
        assert last is not None
        raise HisUnavailableError(f"{op.method} {path}: {last.error['code'] if last.error else last.status}")

    # -- public -----------------------------------------------------------------------------------
    def call(
        self,
        operation: str,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        if_none_match: str | None = None,
        idempotency_key: str | None = None,
        end_user: str | None = None,
    ) -> HisResponse:
        op = OPERATIONS.get(operation)
        if op is None:
            raise UnknownOperationError(operation)
        try:
            relative = op.path.format(**{k: urllib.parse.quote(str(v), safe="") for k, v in (path_params or {}).items()})
        except KeyError as exc:
            raise UnknownOperationError(f"{operation}: missing path parameter {exc}") from exc
        path = self._base_path + relative
        raw_body = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else b""
        headers: dict[str, str] = {}
        if if_none_match:
            headers["If-None-Match"] = if_none_match
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if end_user:
            headers["X-His-End-User"] = end_user
        params = dict(query or {})
        if not op.paginated:
            return self._call_once_with_retries(op, path, encode_query(params), raw_body, headers)
        return self._collect_pages(op, path, params, raw_body, headers)

    def _collect_pages(
        self, op: Operation, path: str, params: dict[str, Any], body: bytes, headers: Mapping[str, str]
    ) -> HisResponse:
        params.setdefault("page_size", 200)
        items: list[Any] = []
        for _ in range(MAX_PAGES):
            resp = self._call_once_with_retries(op, path, encode_query(params), body, headers)
            if not resp.ok or not isinstance(resp.body, dict):
                return resp
            items.extend(resp.body.get("items") or [])
            cursor = resp.body.get("next_cursor")
            if not cursor:
                return HisResponse(resp.status, {"items": items, "next_cursor": None}, resp.etag, resp.headers)
            params["cursor"] = cursor
        raise HisUnavailableError(f"{path}: more than {MAX_PAGES} pages")
