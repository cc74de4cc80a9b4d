"""Lambda entry points of the HIS bridge.

``lambda_handler``: one SQS batch of requests in, one result per request out (published on the result
queue). Message formats are documented in ``chalicelib/domain/his_messages.py`` (the app side). A request
that fails for a reason worth retrying (HIS unavailable or in maintenance, client-side rate limit,
outcome not yet known, our own AWS calls) is reported in ``batchItemFailures`` and comes back after the
visibility timeout with the same ``Idempotency-Key``; after the queue's max receives it goes to the DLQ.
A definite answer from the HIS, success or business error, becomes a result message.

Writes whose outcome is unknown (§5.2) are resolved by query (``his_bridge.resolve``); a redelivered write
is queried first, so a bridge killed after the HIS committed publishes the effect once, found by query.

``invoke_handler``: a synchronous read for pages (direct Lambda invoke with a request as the event); GET
operations only; returns the result instead of publishing it, within about 4 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from his_bridge.client import HisResponse, HisUnavailableError, HttpHisClient, OutcomeUnknownError
from his_bridge.config import BridgeSettings, load_settings
from his_bridge.logs import configure, log_event
from his_bridge.operations import OPERATIONS, Operation
from his_bridge.ratelimit import RateLimiter
from his_bridge.resolve import COMMIT_WINDOW_SECONDS, RESOLVERS, Effect, find_effect

SHANGHAI = ZoneInfo("Asia/Shanghai")
LAMBDA_SAFETY_SECONDS = 1.5
log = logging.getLogger("his_bridge")


class MalformedRequestError(ValueError):
    pass


class BodyIntegrityError(HisUnavailableError):
    """A file body does not match the digest the middleware sent with it (retried by redelivery)."""


class Bridge:
    """Performs requests and publishes results. Collaborators are injected for tests."""

    def __init__(
        self,
        settings: BridgeSettings,
        client: HttpHisClient,
        sqs: Any,
        s3: Any,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self._sqs = sqs
        self._s3 = s3
        self._clock = clock
        self._result_url = settings.result_queue_url or None

    def _result_queue_url(self) -> str:
        if self._result_url is None:
            self._result_url = self._sqs.get_queue_url(QueueName=self.settings.result_queue_name)["QueueUrl"]
        return self._result_url

    # -- the asynchronous path --------------------------------------------------------------------
    def handle(
        self,
        request: Mapping[str, Any],
        *,
        receive_count: int = 1,
        first_received_at: float | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Perform one request and publish its result; raises when the message should be redelivered."""
        result = self.perform(request, receive_count=receive_count, first_received_at=first_received_at,
                              deadline=deadline)
        self.publish(result)
        return result

    def perform(
        self,
        request: Mapping[str, Any],
        *,
        receive_count: int = 1,
        first_received_at: float | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        result = _new_result(request)
        operation = result["operation"]
        op = OPERATIONS.get(operation)
        if op is None:
            return _error(result, 0, "UNKNOWN_OPERATION", f"unknown operation {operation}")
        path_params = request.get("path_params") or {}
        body = request.get("body")
        resolvable = op.is_write and operation in RESOLVERS
        if resolvable and receive_count > 1:
            # A redelivered write may have taken effect before the bridge stopped: look before sending.
            effect = find_effect(self.client, operation, path_params, body, deadline)
            if effect is not None:
                return self._resolved(result, effect, receive_count)
            if first_received_at is not None and self._clock() - first_received_at < COMMIT_WINDOW_SECONDS:
                raise OutcomeUnknownError(f"{operation}: may not be committed yet",
                                          first_sent_at=self.client.monotonic())
        try:
            response = self._call(operation, request, deadline)
        except OutcomeUnknownError as exc:
            if not resolvable:
                raise
            effect = find_effect(self.client, operation, path_params, body, deadline)
            if effect is not None:
                return self._resolved(result, effect, receive_count)
            if self.client.monotonic() - exc.first_sent_at < COMMIT_WINDOW_SECONDS:
                raise  # the middleware may still commit it: ask again after redelivery
            # Abandoned by the middleware: the same request again (same key and body) is a retry.
            response = self._call(operation, request, deadline)
        self._fill(result, op, response)
        log_event(log, logging.INFO, "his_request_done", operation=operation, request_id=result["request_id"],
                  outcome=result["outcome"], status=result["status"],
                  code=(result["error"] or {}).get("code"), receive_count=receive_count)
        return result

    def _call(self, operation: str, request: Mapping[str, Any], deadline: float | None) -> HisResponse:
        return self.client.call(
            operation,
            path_params=request.get("path_params") or {},
            query=request.get("query") or {},
            body=request.get("body"),
            if_none_match=request.get("if_none_match"),
            idempotency_key=request.get("idempotency_key"),
            end_user=request.get("end_user"),
            deadline=deadline,
        )

    def _resolved(self, result: dict[str, Any], effect: Effect, receive_count: int) -> dict[str, Any]:
        result.update(outcome="ok", status=effect.status, body=effect.body, resolved_by="query")
        log_event(log, logging.INFO, "his_request_resolved", operation=result["operation"],
                  request_id=result["request_id"], status=effect.status, receive_count=receive_count)
        return result

    def _fill(self, result: dict[str, Any], op: Operation, response: HisResponse) -> None:
        result["status"] = response.status
        result["etag"] = response.etag
        if response.status == 304:
            result["outcome"] = "not_modified"
        elif response.ok:
            result["outcome"] = "ok"
            self._attach_body(result, op, response)
        else:
            result["outcome"] = "error"
            result["error"] = response.error

    def _attach_body(self, result: dict[str, Any], op: Operation, response: HisResponse) -> None:
        body = response.body
        if op.is_binary or isinstance(body, bytes | bytearray):
            raw = bytes(body or b"")
            expected = next((v for k, v in response.headers.items() if k.lower() == "x-his-content-sha256"), None)
            if expected and hashlib.sha256(raw).hexdigest() != expected.lower():
                raise BodyIntegrityError(f"{result['operation']}: body digest mismatch", code="BODY_DIGEST_MISMATCH")
            content_type = op.media_type if op.is_binary else response.content_type
            self._park(result, raw, content_type, op.extension)
            return
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if len(encoded) <= self.settings.inline_body_limit:
            result["body"] = body
            return
        # Large JSON keeps the original reference shape ({bucket, key}): JSON is what a ref without a type means.
        self._park(result, encoded, "application/json", "json", typed=False)

    def _park(self, result: dict[str, Any], data: bytes, content_type: str, extension: str, typed: bool = True) -> None:
        key = f"his-results/{result['request_id']}.{extension}"
        self._s3.put_object(Bucket=self.settings.blob_bucket, Key=key, Body=data, ContentType=content_type)
        result["body"] = None
        result["body_ref"] = {"bucket": self.settings.blob_bucket, "key": key}
        if typed:
            result["body_ref"]["content_type"] = content_type

    def publish(self, result: Mapping[str, Any]) -> None:
        self._sqs.send_message(
            QueueUrl=self._result_queue_url(),
            MessageBody=json.dumps(result, ensure_ascii=False),
            MessageAttributes={"operation": {"DataType": "String", "StringValue": str(result["operation"])}},
        )

    # -- the synchronous path ---------------------------------------------------------------------
    def read(self, request: Mapping[str, Any], deadline: float) -> dict[str, Any]:
        """A GET for a page, answered directly (not published). Transport failures become an error result."""
        result = _new_result(request)
        operation = result["operation"]
        op = OPERATIONS.get(operation)
        if op is None:
            return _error(result, 0, "UNKNOWN_OPERATION", f"unknown operation {operation}")
        if op.is_write:
            return _error(result, 0, "NOT_A_READ", f"{operation} is not a read; send it through the request queue")
        try:
            response = self._call(operation, request, deadline)
            self._fill(result, op, response)
        except HisUnavailableError as exc:
            _error(result, 0, exc.code, "the hospital system did not answer in time", retryable=True)
            if exc.retry_after is not None:
                result["error"]["retry_after"] = exc.retry_after
        log_event(log, logging.INFO, "his_read_done", operation=operation, request_id=result["request_id"],
                  outcome=result["outcome"], status=result["status"], code=(result["error"] or {}).get("code"))
        return result


def _new_result(request: Mapping[str, Any]) -> dict[str, Any]:
    request_id = request.get("request_id")
    operation = request.get("operation")
    if not isinstance(request_id, str) or not request_id or not isinstance(operation, str) or not operation:
        raise MalformedRequestError("request_id and operation are required")
    return {
        "request_id": request_id,
        "operation": operation,
        "context": request.get("context") or {},
        "fetched_at": datetime.now(SHANGHAI).isoformat(timespec="milliseconds"),
        "outcome": None,
        "status": 0,
        "etag": None,
        "body": None,
        "body_ref": None,
        "error": None,
    }


def _error(result: dict[str, Any], status: int, code: str, message: str, *, retryable: bool = False) -> dict[str, Any]:
    result.update(outcome="error", status=status, error={"code": code, "message": message, "retryable": retryable})
    return result


def _attribute_int(record: Mapping[str, Any], name: str) -> int | None:
    value = (record.get("attributes") or {}).get(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def process_batch(
    records: list[Mapping[str, Any]], bridge: Bridge, deadline: float | None = None
) -> dict[str, list[dict[str, str]]]:
    """``deadline`` (on the client's monotonic clock): records not finished by then are redelivered."""
    failures = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        if deadline is not None and deadline - bridge.client.monotonic() < 1.0:
            failures.append({"itemIdentifier": message_id})
            continue
        first_ms = _attribute_int(record, "ApproximateFirstReceiveTimestamp") or _attribute_int(record, "SentTimestamp")
        try:
            request = json.loads(record["body"])
            if not isinstance(request, dict):
                raise MalformedRequestError("body is not a JSON object")
            bridge.handle(
                request,
                receive_count=_attribute_int(record, "ApproximateReceiveCount") or 1,
                first_received_at=first_ms / 1000 if first_ms else None,
                deadline=deadline,
            )
        except Exception as exc:
            # No payload and no exception text from libraries (URLs carry ids): our own code and message.
            code = getattr(exc, "code", None) or type(exc).__name__
            log_event(log, logging.WARNING, "his_request_redeliver", message_id=message_id, code=str(code),
                      error=type(exc).__name__)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@lru_cache(maxsize=1)
def default_bridge() -> Bridge:
    import boto3

    settings = load_settings()
    configure(settings.log_level)
    session = boto3.session.Session()
    kwargs = {"region_name": settings.region, "endpoint_url": settings.aws_endpoint_url}
    client = HttpHisClient(
        settings.his_base_url,
        settings.his_app_id,
        settings.his_app_secret,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        ca_bundle=settings.ca_bundle,
        limiter=RateLimiter(settings.max_concurrency),
    )
    return Bridge(settings, client, session.client("sqs", **kwargs), session.client("s3", **kwargs))


def _deadline(bridge: Bridge, context: Any, cap: float | None = None) -> float | None:
    remaining: float | None = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = context.get_remaining_time_in_millis() / 1000 - LAMBDA_SAFETY_SECONDS
    if cap is not None:
        remaining = cap if remaining is None else min(remaining, cap)
    return None if remaining is None else bridge.client.monotonic() + max(0.0, remaining)


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    bridge = default_bridge()
    return process_batch(list(event.get("Records", [])), bridge, _deadline(bridge, context))


def invoke_handler(event: Any, context: Any, bridge: Bridge | None = None) -> dict[str, Any]:
    """Synchronous read: ``event`` is a request (JSON object or its text); returns the result."""
    bridge = bridge or default_bridge()
    request = json.loads(event) if isinstance(event, str | bytes) else event
    if not isinstance(request, Mapping):
        raise MalformedRequestError("the event must be a request object")
    deadline = _deadline(bridge, context, bridge.settings.sync_read_cap_seconds)
    assert deadline is not None
    return bridge.read(request, deadline)
