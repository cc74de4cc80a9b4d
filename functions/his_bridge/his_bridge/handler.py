"""Lambda entry point of the HIS bridge: one SQS batch of requests in, one result per request out.

Message formats are documented in ``chalicelib/domain/his_messages.py`` (the app side). A request
that fails for a reason worth retrying (HIS unavailable, outcome unknown, our own AWS calls) is
reported in ``batchItemFailures`` and comes back after the visibility timeout, with the same
``Idempotency-Key``; after the queue's max receives it goes to the DLQ. A definite answer from the
HIS, success or business error, becomes a result message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from his_bridge.client import HttpHisClient, UnknownOperationError
from his_bridge.config import BridgeSettings, load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
log = logging.getLogger("his_bridge")


class MalformedRequestError(ValueError):
    pass


class Bridge:
    """Performs requests and publishes results. Collaborators are injected for tests."""

    def __init__(self, settings: BridgeSettings, client: HttpHisClient, sqs: Any, s3: Any) -> None:
        self.settings = settings
        self.client = client
        self._sqs = sqs
        self._s3 = s3
        self._result_url = settings.result_queue_url or None

    def _result_queue_url(self) -> str:
        if self._result_url is None:
            self._result_url = self._sqs.get_queue_url(QueueName=self.settings.result_queue_name)["QueueUrl"]
        return self._result_url

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        request_id = request.get("request_id")
        operation = request.get("operation")
        if not isinstance(request_id, str) or not request_id or not isinstance(operation, str):
            raise MalformedRequestError("request_id and operation are required")
        fetched_at = datetime.now(SHANGHAI).isoformat(timespec="milliseconds")
        result: dict[str, Any] = {
            "request_id": request_id,
            "operation": operation,
            "context": request.get("context") or {},
            "fetched_at": fetched_at,
            "etag": None,
            "body": None,
            "body_ref": None,
            "error": None,
        }
        try:
            response = self.client.call(
                operation,
                path_params=request.get("path_params") or {},
                query=request.get("query") or {},
                body=request.get("body"),
                if_none_match=request.get("if_none_match"),
                idempotency_key=request.get("idempotency_key"),
                end_user=request.get("end_user"),
            )
        except UnknownOperationError as exc:
            result.update(outcome="error", status=0, error={"code": "UNKNOWN_OPERATION", "message": str(exc),
                                                            "retryable": False})
            self.publish(result)
            return result
        result["status"] = response.status
        result["etag"] = response.etag
        if response.status == 304:
            result["outcome"] = "not_modified"
        elif response.ok:
            result["outcome"] = "ok"
            self._attach_body(result, response.body)
        else:
            result["outcome"] = "error"
            result["error"] = response.error
        self.publish(result)
        log.info("his request done", extra={"operation": operation, "status": response.status})
        return result

    def _attach_body(self, result: dict[str, Any], body: Any) -> None:
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if len(encoded) <= self.settings.inline_body_limit:
            result["body"] = body
            return
        key = f"his-results/{result['request_id']}.json"
        self._s3.put_object(Bucket=self.settings.blob_bucket, Key=key, Body=encoded, ContentType="application/json")
        result["body_ref"] = {"bucket": self.settings.blob_bucket, "key": key}

    def publish(self, result: Mapping[str, Any]) -> None:
        self._sqs.send_message(
            QueueUrl=self._result_queue_url(),
            MessageBody=json.dumps(result, ensure_ascii=False),
            MessageAttributes={"operation": {"DataType": "String", "StringValue": str(result["operation"])}},
        )


def process_batch(records: list[Mapping[str, Any]], bridge: Bridge) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            request = json.loads(record["body"])
            if not isinstance(request, dict):
                raise MalformedRequestError("body is not a JSON object")
            bridge.handle(request)
        except Exception:
            # No payload in the log: requests may carry personal data.
            log.exception("request failed; will be redelivered", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@lru_cache(maxsize=1)
def default_bridge() -> Bridge:
    import boto3

    settings = load_settings()
    logging.basicConfig(level=settings.log_level)
    session = boto3.session.Session()
    kwargs = {"region_name": settings.region, "endpoint_url": settings.aws_endpoint_url}
    client = HttpHisClient(
        settings.his_base_url,
        settings.his_app_id,
        settings.his_app_secret,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        ca_bundle=settings.ca_bundle,
    )
    return Bridge(settings, client, session.client("sqs", **kwargs), session.client("s3", **kwargs))


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    return process_batch(list(event.get("Records", [])), default_bridge())
