"""``HttpHisClient``: signed calls to the hospital's middleware (interface spec §4, §5).

* every attempt is signed afresh (new timestamp and nonce; same body and Idempotency-Key, §4.3);
* 1 s connect / 4 s read timeouts, capped by the caller's deadline; no transport-level resends;
* client-side rate limits (§5.4) through ``RateLimiter``; ``getQueueStatus`` answers are reused for 15 s;
* only retryable answers are retried: ``retryable: true``, 429/503 with ``Retry-After``, connection errors
  before sending (and, for reads, after). ``Retry-After`` is honoured up to ``MAX_RETRY_AFTER``; a longer
  one (the nightly ``HIS_MAINTENANCE`` window) gives up at once so that SQS redelivers later instead of
  the Lambda sleeping. Otherwise exponential backoff 0.5, 1, 2 s with jitter, within the deadline;
* a write whose outcome is unknown (§5.2: no answer after sending, 500, ``504 OUTCOME_UNKNOWN``) raises
  ``OutcomeUnknownError``; ``his_bridge.resolve`` then finds the effect by query. Writes that are
  idempotent on their own (``RESEND_SAFE``: lookup, card creation, unlink) are simply retried;
* ``If-None-Match`` for the ETag'd reference lists; ``304`` comes back as ``not_modified``;
* paginated lists are followed to the end; the events cursor never ends, so an empty page does.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from his_bridge.logs import log_event
from his_bridge.operations import OPERATIONS, PAGES_EVENTS, Operation
from his_bridge.ratelimit import QueueStatusCache, RateLimitedError, RateLimiter
from his_bridge.signing import signed_headers

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 100
MAX_RETRY_AFTER = 5.0
BACKOFF_SECONDS = (0.5, 1.0, 2.0)
DEFAULT_MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
DEFAULT_MAX_TOKEN_WAIT = 2.0
# Writes that are idempotent on their own (§7.4: identity; unlink): an unknown outcome is resolved by
# sending the same request again, under the same key.
RESEND_SAFE = frozenset({"lookupPatient", "createPatient", "unlinkPatient"})
# Retryable by the contract, but repeating it within seconds cannot help: a definite answer for now.
ANSWER_AT_ONCE = frozenset({"RECONCILIATION_NOT_READY"})

log = logging.getLogger("his_bridge.client")


class HisClientError(Exception):
    """Base of the bridge's client errors."""


class UnknownOperationError(HisClientError):
    pass


class HisUnavailableError(HisClientError):
    """A retryable failure that persisted through our attempts or budget (the message is redelivered)."""

    def __init__(self, message: str, *, code: str = "HIS_UNAVAILABLE", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class OutcomeUnknownError(HisClientError):
    """A write may or may not have taken effect (§5.2); resolve by query or the same request.
    ``first_sent_at`` is on the client's ``monotonic`` clock."""

    def __init__(self, message: str, *, first_sent_at: float, code: str = "OUTCOME_UNKNOWN") -> None:
        super().__init__(message)
        self.first_sent_at = first_sent_at
        self.code = code


@dataclass(frozen=True)
class HisResponse:
    status: int
    body: Any
    etag: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def replayed(self) -> bool:
        return str(self.headers.get("Idempotent-Replayed", "")).lower() == "true"

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


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = (_header(headers, "Retry-After") or "").strip()
    return float(value) if value.isdigit() else None


def _failed_before_sending(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the middleware (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ReadTimeout):
        return False
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError | ConnectTimeoutError | NameResolutionError)


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
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_token_wait: float = DEFAULT_MAX_TOKEN_WAIT,
        limiter: RateLimiter | None = None,
        queue_cache: QueueStatusCache | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._base_path = urllib.parse.urlsplit(self._base).path
        self._app_id = app_id
        self._secret = app_secret
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._verify: bool | str = ca_bundle or True
        self._max_attempts = max(1, max_attempts)
        self._max_token_wait = max_token_wait
        self._limiter = limiter or RateLimiter(1, clock=monotonic, sleep=sleep)
        self._queue_cache = queue_cache or QueueStatusCache(monotonic)
        self._clock = clock
        self.monotonic = monotonic
        self._sleep = sleep
        self._session = session or requests.Session()
        self._session.mount("https://", HTTPAdapter(max_retries=0, pool_maxsize=10))
        self._session.mount("http://", HTTPAdapter(max_retries=0, pool_maxsize=10))

    # -- one HTTP exchange ------------------------------------------------------------------------
    def _send(
        self, op: Operation, path: str, query: str, body: bytes, extra_headers: Mapping[str, str], timeout: float
    ) -> HisResponse:
        accept = f"{op.media_type}, application/json" if op.is_binary else "application/json"
        headers = {
            "Accept": accept,
            **signed_headers(self._app_id, self._secret, op.method, path, query, body, int(self._clock())),
            **extra_headers,
        }
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        url = urllib.parse.urlunsplit(urllib.parse.urlsplit(self._base)._replace(path=path, query=query))
        resp = self._session.request(
            op.method,
            url,
            data=body or None,
            headers=headers,
            timeout=(min(self._connect_timeout, timeout), timeout),
            verify=self._verify,
        )
        content_type = (resp.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        parsed: Any = None
        if resp.content and (content_type.endswith("json") or not resp.ok):
            try:
                parsed = resp.json()
            except ValueError:
                parsed = None
        elif resp.content and resp.ok:
            parsed = resp.content
        return HisResponse(resp.status_code, parsed, resp.headers.get("ETag"), dict(resp.headers), content_type)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.random() * 0.25  # noqa: S311 - jitter, not security
        base = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security

    def _remaining(self, deadline: float | None) -> float:
        return float("inf") if deadline is None else deadline - self.monotonic()

    def _call_with_retries(
        self,
        name: str,
        op: Operation,
        path: str,
        query: str,
        body: bytes,
        extra_headers: Mapping[str, str],
        deadline: float | None,
    ) -> HisResponse:
        first_sent_at: float | None = None
        resend_safe = name in RESEND_SAFE or not op.is_write
        attempt = 0
        while True:
            attempt += 1
            remaining = self._remaining(deadline)
            if remaining <= 0.05:
                raise HisUnavailableError(f"{name}: out of time", code="BRIDGE_DEADLINE")
            try:
                self._limiter.acquire(name, min(self._max_token_wait, remaining))
            except RateLimitedError as exc:
                raise HisUnavailableError(str(exc), code="CLIENT_RATE_LIMITED", retry_after=exc.wait) from exc
            started = self.monotonic()
            timeout = min(self._read_timeout, max(0.1, self._remaining(deadline)))
            retry_after: float | None = None
            try:
                if first_sent_at is None:
                    first_sent_at = self.monotonic()
                resp = self._send(op, path, query, body, extra_headers, timeout)
            except requests.RequestException as exc:
                before = _failed_before_sending(exc)
                log_event(log, logging.WARNING, "his_call", operation=name, attempt=attempt, status=0,
                          code=type(exc).__name__, duration_ms=int((self.monotonic() - started) * 1000))
                if not before and not resend_safe:
                    assert first_sent_at is not None
                    raise OutcomeUnknownError(f"{name}: no answer", first_sent_at=first_sent_at,
                                              code=type(exc).__name__) from None
                last_code = type(exc).__name__
            else:
                error = resp.error
                log_event(log, logging.INFO, "his_call", operation=name, attempt=attempt, status=resp.status,
                          code=error["code"] if error else None, trace_id=_header(resp.headers, "X-His-Trace-Id"),
                          replayed=resp.replayed or None, duration_ms=int((self.monotonic() - started) * 1000))
                if error is None or not error["retryable"] or error["code"] in ANSWER_AT_ONCE:
                    return HisResponse(resp.status, resp.body, resp.etag, resp.headers, resp.content_type, attempt)
                last_code = error["code"]
                if op.is_write and not resend_safe and (resp.status in (500, 504) or last_code == "OUTCOME_UNKNOWN"):
                    assert first_sent_at is not None
                    raise OutcomeUnknownError(f"{name}: {last_code}", first_sent_at=first_sent_at, code=last_code)
                retry_after = _retry_after(resp.headers)
                if last_code == "HIS_MAINTENANCE" or (retry_after is not None and retry_after > MAX_RETRY_AFTER):
                    raise HisUnavailableError(f"{name}: {last_code}, retry after {retry_after} s", code=last_code,
                                              retry_after=retry_after)
            if attempt >= self._max_attempts:
                raise HisUnavailableError(f"{name}: {last_code} after {attempt} attempts", code=last_code,
                                          retry_after=retry_after)
            delay = self._delay(attempt, retry_after)
            if delay >= self._remaining(deadline):
                raise HisUnavailableError(f"{name}: {last_code}, no time left to retry", code=last_code,
                                          retry_after=retry_after)
            self._sleep(delay)

    # -- public -----------------------------------------------------------------------------------
    def call(
        self,
        operation: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        if_none_match: str | None = None,
        idempotency_key: str | None = None,
        end_user: str | None = None,
        deadline: float | None = None,
    ) -> HisResponse:
        """Perform ``operation``; ``deadline`` (on ``monotonic``) bounds every wait and timeout."""
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
        if op.paginated:
            return self._collect_pages(operation, op, path, params, raw_body, headers, deadline)
        visit_id = str((path_params or {}).get("visit_id", "")) if operation == "getQueueStatus" else ""
        if visit_id:
            cached = self._queue_cache.get(visit_id)
            if isinstance(cached, HisResponse):
                return dataclasses.replace(cached, attempts=0)  # attempts=0: served from the 15 s cache
        resp = self._call_with_retries(operation, op, path, encode_query(params), raw_body, headers, deadline)
        if visit_id and resp.ok:
            self._queue_cache.put(visit_id, resp)
        return resp

    def _collect_pages(
        self,
        name: str,
        op: Operation,
        path: str,
        params: dict[str, Any],
        body: bytes,
        headers: Mapping[str, str],
        deadline: float | None,
    ) -> HisResponse:
        params.setdefault("page_size", 200)
        items: list[Any] = []
        events = op.paging == PAGES_EVENTS
        cursor: Any = params.get("after") if events else None
        for _ in range(MAX_PAGES):
            resp = self._call_with_retries(name, op, path, encode_query(params), body, headers, deadline)
            if not resp.ok or not isinstance(resp.body, dict):
                return resp
            page = resp.body.get("items") or []
            items.extend(page)
            next_cursor = resp.body.get("next_cursor")
            if events:
                # The events cursor always points past what was returned: an empty page is the end.
                if next_cursor:
                    cursor = next_cursor
                if not page or not next_cursor or next_cursor == params.get("after"):
                    return HisResponse(resp.status, {"items": items, "next_cursor": cursor}, resp.etag, resp.headers)
                params["after"] = next_cursor
                continue
            if not next_cursor:
                return HisResponse(resp.status, {"items": items, "next_cursor": None}, resp.etag, resp.headers)
            params["cursor"] = next_cursor
        raise HisUnavailableError(f"{name}: more than {MAX_PAGES} pages", code="TOO_MANY_PAGES")

