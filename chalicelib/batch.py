"""Per-record processing of SQS batches with partial failures (Lambda ``ReportBatchItemFailures``).

A record that raises is reported back and redelivered after the visibility timeout (and after the
queue's max receives goes to its DLQ); its batch-mates are not failed with it. The event source must
have ``FunctionResponseTypes: [ReportBatchItemFailures]`` (set in ``infra/resources.yaml``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chalicelib.observability import get_logger

log = get_logger("batch")


def process_sqs_records(
    records: Iterable[Mapping[str, Any]], handle: Callable[[dict[str, Any]], object]
) -> dict[str, list[dict[str, str]]]:
    """Call ``handle(json_body)`` for each Lambda-shaped SQS record; return the failures."""
    failures = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            body = json.loads(record["body"])
            if not isinstance(body, dict):
                raise ValueError("message body is not a JSON object")
            handle(body)
        except Exception:
            log.exception("record failed; it will be redelivered", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def records_of(event: Any) -> list[dict[str, Any]]:
    """The raw records of a Chalice ``SQSEvent`` (or of a plain Lambda event dict)."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event
    return list(raw.get("Records", []))
