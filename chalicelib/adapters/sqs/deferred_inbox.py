"""``DeferredInbox`` on SQS: WeChat messages whose answer goes out as a customer-service message."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.wechat import InboundMessage


class SqsDeferredInbox:
    def __init__(self, sqs_client: Any, queue_name: str) -> None:
        self._sqs = sqs_client
        self._queue_name = queue_name
        self._url: str | None = None

    def send(self, message: InboundMessage) -> None:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(message.to_dict(), ensure_ascii=False))
