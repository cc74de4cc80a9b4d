"""``HisRequestQueue`` on SQS: the app's only way to reach the hospital's middleware."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.his_messages import HisRequest


class SqsHisRequestQueue:
    def __init__(self, sqs_client: Any, queue_name: str) -> None:
        self._sqs = sqs_client
        self._queue_name = queue_name
        self._url: str | None = None

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def send(self, request: HisRequest) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url(),
            MessageBody=json.dumps(request.to_json(), ensure_ascii=False),
            MessageAttributes={"operation": {"DataType": "String", "StringValue": request.operation}},
        )
