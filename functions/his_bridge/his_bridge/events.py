"""The event receiver (interface spec §4.4, §8.1, §8.2): the middleware POSTs signed events here through an
internal Application Load Balancer; each one is verified, put on the HIS event queue and acknowledged
with ``204`` well within the 5 s the middleware waits. The app deduplicates on ``event_id`` and does
the work (``on_his_event``).

Verification follows the spec's order: app id → ±300 s → HMAC over ``POST`` + the configured endpoint
path and query (constant-time, with the current or, during rotation, the previous event secret) →
nonce unused (a DynamoDB conditional put, kept 900 s, longer than the timestamp window allows a replay).
Failures answer ``401`` with ``{code, message}``; a body that is not an event envelope answers ``400``.
Unknown event types are enqueued too: the app acknowledges and ignores them. Bodies are never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from his_bridge import signing
from his_bridge.config import BridgeSettings, load_settings
from his_bridge.logs import configure, log_event

SHANGHAI = ZoneInfo("Asia/Shanghai")
NONCE_TTL_SECONDS = 900
log = logging.getLogger("his_bridge.events")

_STATUS_TEXT = {204: "No Content", 400: "Bad Request", 401: "Unauthorized", 405: "Method Not Allowed",
                503: "Service Unavailable"}


class Refusal(Exception):
    """The delivery is refused with ``status`` and a ``{code, message}`` body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message


def response(status: int, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An ALB Lambda-target response."""
    headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else {}
    return {
        "statusCode": status,
        "statusDescription": f"{status} {_STATUS_TEXT.get(status, '')}".strip(),
        "headers": headers,
        "body": json.dumps(body, ensure_ascii=False) if body is not None else "",
        "isBase64Encoded": False,
    }


class EventReceiver:
    """Verifies and enqueues pushed events. ``dynamodb`` and ``sqs`` are boto3 low-level clients."""

    def __init__(
        self, settings: BridgeSettings, dynamodb: Any, sqs: Any, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        self._sqs = sqs
        self._clock = clock
        self._queue_url = settings.event_queue_url or None
        path, _, query = settings.event_path.partition("?")
        self._path = path
        self._query = query

    def _event_queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self._sqs.get_queue_url(QueueName=self.settings.event_queue_name)["QueueUrl"]
        return self._queue_url

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        event_type = headers.get("x-his-event-type", "")
        try:
            if str(event.get("httpMethod", "")).upper() != "POST":
                raise Refusal(405, "METHOD_NOT_ALLOWED", "events are delivered with POST")
            raw = _raw_body(event)
            now = int(self._clock())
            self._verify(headers, raw, now)
            envelope = _envelope(raw)
            event_type = str(envelope["event_type"])
            self._enqueue(envelope, headers, now)
        except Refusal as refusal:
            log_event(log, logging.WARNING, "his_event_refused", status=refusal.status, code=refusal.code,
                      event_type=event_type or None)
            return response(refusal.status, {"code": refusal.code, "message": refusal.message})
        except Exception as exc:  # our own storage or queue failed: the middleware retries later
            log_event(log, logging.ERROR, "his_event_not_enqueued", error=type(exc).__name__, event_type=event_type)
            return response(503, {"code": "TEMPORARILY_UNAVAILABLE", "message": "try again later"})
        log_event(log, logging.INFO, "his_event_enqueued", event_type=event_type,
                  event_id=str(envelope.get("event_id")), delivery_attempt=headers.get("x-his-delivery-attempt"))
        return response(204)

    def _verify(self, headers: Mapping[str, str], raw: bytes, now: int) -> None:
        if not self.settings.his_app_id or headers.get("x-his-app-id") != self.settings.his_app_id:
            raise Refusal(401, "SIGNATURE_INVALID", "unknown app id")
        secrets = [s for s in (self.settings.event_secret, self.settings.event_secret_previous) if s]
        if not secrets:
            raise Refusal(401, "SIGNATURE_INVALID", "no event secret configured")
        canonical = {
            signing.HEADER_TIMESTAMP: headers.get("x-his-timestamp", ""),
            signing.HEADER_NONCE: headers.get("x-his-nonce", ""),
            signing.HEADER_SIGNATURE: headers.get("x-his-signature", ""),
        }
        verdict = signing.verify(canonical, secrets, "POST", self._path, self._query, raw, now)
        if not verdict.ok:
            raise Refusal(401, verdict.code, verdict.reason)
        self._claim_nonce(canonical[signing.HEADER_NONCE], now)

    def _claim_nonce(self, nonce: str, now: int) -> None:
        try:
            self._dynamodb.put_item(
                TableName=self.settings.state_table,
                Item={
                    "pk": {"S": f"nonce#{nonce}"},
                    "sk": {"S": "nonce"},
                    "expires_at": {"N": str(now + NONCE_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                raise Refusal(401, "NONCE_REPLAYED", "nonce already used") from None
            raise

    def _enqueue(self, envelope: Mapping[str, Any], headers: Mapping[str, str], now: int) -> None:
        attempt_text = headers.get("x-his-delivery-attempt", "")
        message = {
            "source": "push",
            "received_at": datetime.fromtimestamp(now, SHANGHAI).isoformat(timespec="seconds"),
            "delivery_attempt": int(attempt_text) if attempt_text.isdigit() else 1,
            "envelope": envelope,
        }
        self._sqs.send_message(
            QueueUrl=self._event_queue_url(),
            MessageBody=json.dumps(message, ensure_ascii=False, separators=(",", ":")),
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": str(envelope["event_type"])}},
        )


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Refusal(400, "MALFORMED_BODY", "body is not valid base64") from None
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _envelope(raw: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "MALFORMED_BODY", "body is not UTF-8 JSON") from None
    if not isinstance(envelope, dict):
        raise Refusal(400, "MALFORMED_BODY", "body is not an event envelope")
    for name in ("event_id", "event_type"):
        if not isinstance(envelope.get(name), str) or not envelope[name]:
            raise Refusal(400, "MALFORMED_BODY", f"{name} is required")
    if "data" in envelope and not isinstance(envelope["data"], dict | None):
        raise Refusal(400, "MALFORMED_BODY", "data must be an object")
    return envelope


@lru_cache(maxsize=1)
def default_receiver() -> EventReceiver:
    import boto3

    settings = load_settings()
    configure(settings.log_level)
    session = boto3.session.Session()
    kwargs = {"region_name": settings.region, "endpoint_url": settings.aws_endpoint_url}
    return EventReceiver(settings, session.client("dynamodb", **kwargs), session.client("sqs", **kwargs))


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    return default_receiver().handle(event)
