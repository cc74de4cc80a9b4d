"""The local SQS pump behaves like Lambda's event source mapping: per-record partial failures,
redelivery after the visibility timeout, and the DLQ after the redrive policy's max receives."""

import json
import time

import boto3
import pytest

from devstack.pump import SqsPump, Subscription

pytestmark = pytest.mark.integration


def test_partial_failures_redelivery_and_dlq(aws, moto_endpoint):
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="ap-east-1")
    queue_name = aws.queue_names["HisResultQueue"]
    url = aws.queues[queue_name]
    dlq_url = aws.queues[aws.dead_letter_queues[queue_name]]
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
        "RedrivePolicy"])
    max_receives = int(redrive["maxReceiveCount"])

    for n in range(6):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n, "poison": n == 3}))

    seen: list[int] = []
    batches: list[int] = []

    def handler(event, context):
        batches.append(len(event["Records"]))
        assert context.get_remaining_time_in_millis() > 0
        failures = []
        for record in event["Records"]:
            assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(queue_name)
            body = json.loads(record["body"])
            seen.append(body["n"])
            if body["poison"]:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    pump = SqsPump(sqs, "ap-east-1", [Subscription("results", url, handler, batch_size=10, visibility_timeout=1)],
                   wait_seconds=0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and seen.count(3) < max_receives:
        if pump.poll_once(pump._subs[0]) == 0:
            time.sleep(0.3)
    time.sleep(1.2)
    pump.poll_once(pump._subs[0])  # one more receive moves the poison message to the DLQ

    assert sorted(set(seen)) == [0, 1, 2, 3, 4, 5]
    assert all(seen.count(n) == 1 for n in (0, 1, 2, 4, 5))  # batch-mates were not failed with it
    assert seen.count(3) == max_receives
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["n"] for m in dead] == [3]
    # messages in = processed + dead-lettered
    assert pump.stats["results"]["succeeded"] + len(dead) == 6


def test_a_raising_handler_fails_the_whole_batch(aws, moto_endpoint):
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="ap-east-1")
    url = aws.queues[aws.queue_names["HisRequestQueue"]]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    sqs.send_message(QueueUrl=url, MessageBody="{}")

    def handler(event, context):
        raise RuntimeError("crash")

    pump = SqsPump(sqs, "ap-east-1", [Subscription("req", url, handler, visibility_timeout=30)], wait_seconds=0)
    received = 0
    for _ in range(5):
        received += pump.poll_once(pump._subs[0])
    assert received == 2 and pump.stats["req"]["failed"] == 2
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert int(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) == 2  # not deleted
