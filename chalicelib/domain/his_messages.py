"""Messages exchanged with the HIS bridge over SQS.

The app never calls the hospital's middleware itself: it puts a ``HisRequest`` on the request queue;
the bridge (``functions/his_bridge``, deployed separately inside the VPC) performs the call and puts a
``HisResult`` on the result queue. The wire format is plain JSON, documented here and in
``functions/his_bridge/his_bridge/messages.py`` (the bridge cannot import this package); the
integration tests run both sides together.

Request::

    {"request_id": "...", "operation": "listCampuses", "path_params": {}, "query": {},
     "body": null, "if_none_match": "\"etag\"", "idempotency_key": null, "end_user": null,
     "context": {"purpose": "reference_sync", "dataset": "campuses", "job_id": "..."},
     "requested_at": "2026-11-26T08:00:00+08:00"}

Result::

    {"request_id": "...", "operation": "listCampuses", "outcome": "ok" | "not_modified" | "error",
     "status": 200, "etag": "...", "body": {...} | null,
     "body_ref": {"bucket": "...", "key": "...", "content_type": "application/json"} | null,
     "error": {"code": "...", "message": "...", "retryable": false} | null,
     "context": {...}, "fetched_at": "2026-11-26T08:00:01+08:00"}
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class MessageFormatError(ValueError):
    """A queue message does not have the documented shape."""


OUTCOME_OK = "ok"
OUTCOME_NOT_MODIFIED = "not_modified"
OUTCOME_ERROR = "error"
_OUTCOMES = frozenset({OUTCOME_OK, OUTCOME_NOT_MODIFIED, OUTCOME_ERROR})


@dataclass(frozen=True)
class HisRequest:
    request_id: str
    operation: str
    requested_at: datetime
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    if_none_match: str | None = None
    idempotency_key: str | None = None
    end_user: str | None = None  # pseudonym for X-His-End-User (spec §4.5), never an openid
    context: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "operation": self.operation,
            "path_params": dict(self.path_params),
            "query": dict(self.query),
            "body": self.body,
            "if_none_match": self.if_none_match,
            "idempotency_key": self.idempotency_key,
            "end_user": self.end_user,
            "context": dict(self.context),
            "requested_at": self.requested_at.isoformat(),
        }


@dataclass(frozen=True)
class HisError:
    code: str
    message: str
    retryable: bool
    # The middleware's ``details`` (spec §6), e.g. REPORT_NOT_VIEWABLE's ``reason`` and ``release_at``.
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HisResult:
    request_id: str
    operation: str
    outcome: str
    fetched_at: datetime
    status: int = 0
    etag: str | None = None
    body: Any = None
    # Where the bridge parked the body: large JSON, and always the PDF/CSV operations (their
    # ``content_type`` says which); read it with ``BlobStore.get_json`` / ``get_bytes``.
    body_ref: dict[str, str] | None = None
    error: HisError | None = None
    context: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HisResult:
        try:
            outcome = str(data["outcome"])
            if outcome not in _OUTCOMES:
                raise MessageFormatError(f"unknown outcome {outcome!r}")
            error = data.get("error")
            body_ref = data.get("body_ref")
            if body_ref is not None and not (isinstance(body_ref, dict) and {"bucket", "key"} <= body_ref.keys()):
                raise MessageFormatError("body_ref needs bucket and key")
            if body_ref is not None:
                body_ref = {k: str(body_ref[k]) for k in ("bucket", "key", "content_type") if body_ref.get(k)}
            fetched_at = datetime.fromisoformat(str(data["fetched_at"]))
            if fetched_at.tzinfo is None:
                raise MessageFormatError("fetched_at must carry a UTC offset")
            return cls(
                request_id=str(data["request_id"]),
                operation=str(data["operation"]),
                outcome=outcome,
                fetched_at=fetched_at,
                status=int(data.get("status") or 0),
                etag=data.get("etag"),
                body=data.get("body"),
                body_ref=body_ref or None,
                error=HisError(str(error.get("code", "")), str(error.get("message", "")), bool(error.get("retryable")),
                               dict(error["details"]) if isinstance(error.get("details"), dict) else {})
                if isinstance(error, dict)
                else None,
                context={str(k): str(v) for k, v in (data.get("context") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, MessageFormatError):
                raise
            raise MessageFormatError(f"malformed HIS result: {exc}") from exc


def end_user_pseudonym(openid: str, key: bytes) -> str:
    """``X-His-End-User`` (spec §4.5): HMAC-SHA256 of the openid under our key, 32 hex characters.
    Stable per user, so the hospital can throttle and audit per person without learning the openid."""
    return hmac.new(key, openid.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
