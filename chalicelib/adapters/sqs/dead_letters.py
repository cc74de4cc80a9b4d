"""``DeadLetterQueues`` on SQS: ``<queue>-dlq`` (the template's naming) back to ``<queue>``."""

from __future__ import annotations

from typing import Any

from chalicelib.services.ports import DeadLetter

DLQ_SUFFIX = "-dlq"
_ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")


def dlq_name(queue: str) -> str:
    return f"{queue}{DLQ_SUFFIX}"


class SqsDeadLetterQueues:
    def __init__(self, sqs_client: Any, visibility_timeout: int = 120, wait_seconds: int = 1) -> None:
        self._sqs = sqs_client
        self._visibility_timeout = visibility_timeout  # failed sends stay hidden for the rest of the run
        self._wait_seconds = wait_seconds
        self._urls: dict[str, str] = {}

    def _url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def count(self, queue: str) -> int:
        attrs = self._sqs.get_queue_attributes(QueueUrl=self._url(dlq_name(queue)),
                                               AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        return int(attrs.get("ApproximateNumberOfMessages", 0))

    def receive(self, queue: str, max_messages: int) -> list[DeadLetter]:
        response = self._sqs.receive_message(
            QueueUrl=self._url(dlq_name(queue)), MaxNumberOfMessages=max(1, min(10, max_messages)),
            MessageAttributeNames=["All"], VisibilityTimeout=self._visibility_timeout,
            WaitTimeSeconds=self._wait_seconds,
        )
        return [
            DeadLetter(m["MessageId"], m["ReceiptHandle"], m["Body"], {
                name: {k: v for k, v in value.items() if k in _ATTRIBUTE_FIELDS}
                for name, value in (m.get("MessageAttributes") or {}).items()})
            for m in response.get("Messages", [])
        ]

    def send_back(self, queue: str, letter: DeadLetter) -> None:
        params: dict[str, Any] = {"QueueUrl": self._url(queue), "MessageBody": letter.body}
        if letter.attributes:
            params["MessageAttributes"] = letter.attributes
        self._sqs.send_message(**params)

    def delete(self, queue: str, letter: DeadLetter) -> None:
        self._sqs.delete_message(QueueUrl=self._url(dlq_name(queue)), ReceiptHandle=letter.receipt_handle)
