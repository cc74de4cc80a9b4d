"""``LiveCopies`` on DynamoDB: the last good answer of each live read (see ``models.HisItem``).

Item: pk = "live#<key>", sk = "copy", data = the JSON body, at_ms = when the HIS gave it (epoch ms),
expires_at = that time + 7 days (the table's TTL). A put is conditional on the held copy being older,
so a slow answer never replaces a newer one. TTL deletion is lazy: ``get`` checks ``expires_at`` itself.
Bodies too large for one item (over ``MAX_BODY_BYTES``) are not kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.observability import get_logger
from chalicelib.services.ports import LiveCopy

SK = "copy"
RETENTION = timedelta(days=7)
MAX_BODY_BYTES = 350_000  # DynamoDB items hold at most 400 KB
log = get_logger("live_copies")


class DynamoLiveCopies:
    def __init__(self, model: type[HisItem], clock: Any = None) -> None:
        self._model = model
        self._clock = clock or (lambda: datetime.now(UTC))

    def get(self, key: str) -> LiveCopy | None:
        try:
            item = self._model.get(f"live#{key}", SK, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        if item.at_ms is None or (item.expires_at is not None and item.expires_at <= self._clock().timestamp()):
            return None
        return LiveCopy(body=item.data, as_of=datetime.fromtimestamp(item.at_ms / 1000, UTC))

    def put(self, key: str, body: Any, as_of: datetime) -> None:
        if len(json.dumps(body, ensure_ascii=False).encode("utf-8")) > MAX_BODY_BYTES:
            log.warning("live copy too large to keep", extra={"key_kind": key.split("#", 1)[0]})
            return
        at_ms = int(as_of.timestamp() * 1000)
        item = self._model(f"live#{key}", SK, data=body, at_ms=at_ms, expires_at=int((as_of + RETENTION).timestamp()))
        try:
            item.save(condition=self._model.pk.does_not_exist() | (self._model.at_ms < at_ms))
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return  # a newer copy is held
            raise
