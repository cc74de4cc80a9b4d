"""A poison message reaches the DLQ after the queue's max receives; ``redrive`` brings it back."""

import json
import time

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.cli import main
from chalicelib.services.redrive import redrive
from devstack.pump import SqsPump, Subscription

pytestmark = pytest.mark.integration


def test_poison_message_is_dead_lettered_then_redriven(aws, moto_endpoint, app_settings, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # the CLI reads the stage's settings; aim them here
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="ap-east-1")
    queue = aws.queue_names["HisResultQueue"]
    url, dlq_url = aws.queues[queue], aws.queues[aws.dead_letter_queues[queue]]
    assert aws.dead_letter_queues[queue] == f"{queue}-dlq"
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
        "RedrivePolicy"])
    max_receives = int(policy["maxReceiveCount"])

    attrs = {"operation": {"DataType": "String", "StringValue": "getReconciliationFile"}}
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n, "poison": n == 2}), MessageAttributes=attrs)

    processed: list[int] = []
    fixed = False

    def handler(event, context):
        failures = []
        for record in event["Records"]:
            body = json.loads(record["body"])
            if body["poison"] and not fixed:
                failures.append({"itemIdentifier": record["messageId"]})
            else:
                assert record["messageAttributes"]["operation"]["stringValue"] == "getReconciliationFile"
                processed.append(body["n"])
        return {"batchItemFailures": failures}

    pump = SqsPump(sqs, "ap-east-1", [Subscription("results", url, handler, batch_size=10, visibility_timeout=1)],
                   wait_seconds=0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pump.stats["results"].get("failed", 0) < max_receives:
        if pump.poll_once(pump._subs[0]) == 0:
            time.sleep(0.3)
    time.sleep(1.2)
    pump.poll_once(pump._subs[0])  # the receive after the last allowed one moves it to the DLQ
    dead = int(sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"])
    assert sorted(processed) == [0, 1, 3, 4] and dead == 1
    assert len(processed) + dead == 5  # messages in = processed + dead-lettered

    assert redrive(queue, bootstrap.container().dead_letters, dry_run=True).waiting == 1
    assert main(["redrive", queue, "--dry-run"]) == 0
    assert "holds about 1" in capsys.readouterr().out

    assert main(["redrive", queue]) == 0  # the cause is fixed; bring it back
    assert "1 moved, 0 failed" in capsys.readouterr().out
    fixed = True
    deadline = time.monotonic() + 10
    while 2 not in processed and time.monotonic() < deadline:
        pump.poll_once(pump._subs[0])
    assert sorted(processed) == [0, 1, 2, 3, 4]  # same body and attributes as before
    letters = bootstrap.container().dead_letters
    assert letters.count(queue) == 0
    assert redrive(queue, letters).moved == 0
