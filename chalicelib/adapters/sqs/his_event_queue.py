"""``HisEventQueue`` on SQS: the events queue (``on_his_event``), for our own delayed copies of events."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.his_events import MAX_SQS_DELAY_SECONDS, EventMessage


class SqsHisEventQueue:
    def __init__(self, sqs_client: Any, queue_name: str) -> None:
        self._sqs = sqs_client
        self._queue_name = queue_name
        self._url: str | None = None

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def send(self, message: EventMessage, delay_seconds: int = 0) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url(),
            MessageBody=json.dumps(message.to_json(), ensure_ascii=False),
            DelaySeconds=max(0, min(MAX_SQS_DELAY_SECONDS, int(delay_seconds))),
        )
