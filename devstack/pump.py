"""An SQS pump that invokes queue handlers the way Lambda's event source mapping does.

It long-polls a queue, hands up to ``batch_size`` Lambda-shaped records to the handler, deletes the
records the handler did not report in ``batchItemFailures`` and leaves the others, which SQS
redelivers after the visibility timeout and moves to the DLQ after the redrive policy's max receives.
A handler that raises fails its whole batch, as in Lambda.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("devstack.pump")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The few attributes of Lambda's context object our handlers might read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    deadline_ms: float = field(default_factory=lambda: time.time() * 1000 + 30_000)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


def lambda_records(messages: list[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS event exactly as Lambda delivers it."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {
                    k: {"stringValue": v.get("StringValue"), "dataType": v.get("DataType")}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


@dataclass
class Subscription:
    name: str
    queue_url: str
    handler: Handler
    batch_size: int = 10
    visibility_timeout: int | None = None  # None: the queue's own, as Lambda does


class SqsPump:
    def __init__(self, sqs: Any, region: str, subscriptions: list[Subscription], wait_seconds: int = 1) -> None:
        self._sqs = sqs
        self._region = region
        self._subs = subscriptions
        self._wait = wait_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._arns: dict[str, str] = {}
        self.stats: dict[str, dict[str, int]] = {s.name: {"received": 0, "succeeded": 0, "failed": 0} for s in subscriptions}

    def _arn(self, url: str) -> str:
        if url not in self._arns:
            attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            self._arns[url] = attrs["Attributes"]["QueueArn"]
        return self._arns[url]

    def poll_once(self, sub: Subscription) -> int:
        """Receive one batch and invoke the handler; returns the number of messages received."""
        kwargs: dict[str, Any] = {
            "QueueUrl": sub.queue_url,
            "MaxNumberOfMessages": sub.batch_size,
            "WaitTimeSeconds": self._wait,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if sub.visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = sub.visibility_timeout
        messages = self._sqs.receive_message(**kwargs).get("Messages", [])
        if not messages:
            return 0
        stats = self.stats[sub.name]
        stats["received"] += len(messages)
        event = lambda_records(messages, self._arn(sub.queue_url), self._region)
        try:
            response = sub.handler(event, LambdaContext(sub.name))
            failed_ids = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("handler %s raised; the whole batch will be redelivered", sub.name)
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=sub.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        stats["succeeded"] += len(done)
        stats["failed"] += len(messages) - len(done)
        return len(messages)

    def drain(self, timeout: float = 30.0) -> None:
        """Poll every queue until all are empty at once (for tests and seeding)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(self.poll_once(s) for s in self._subs) == 0:
                return
        raise TimeoutError("queues did not drain")

    def _run(self, sub: Subscription) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(sub)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("pump %s: polling failed; retrying", sub.name)
                self._stop.wait(1.0)

    def start(self) -> None:
        for sub in self._subs:
            t = threading.Thread(target=self._run, args=(sub,), name=f"pump-{sub.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self._wait + 5)
