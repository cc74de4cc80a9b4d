"""The event receiver (§4.4, §8.1, §8.2) on fakes: verification in the spec's order, rotation, replay,
malformed bodies, enqueueing with the event type, and nothing personal in the logs."""

import base64
import json
import logging
from pathlib import Path

import pytest

from his_bridge.config import load_settings
from his_bridge.events import EventReceiver
from his_bridge.signing import signed_headers

SPEC = Path(__file__).resolve().parents[2] / "devstack" / "his_simulator" / "spec" / "examples"
SECRET = "his-test-event-secret-NOT-FOR-PRODUCTION-0001"
APP = "wxoa-cloud-test"
NOW = 1_750_638_063


class ConditionalCheckFailed(Exception):
    def __init__(self):
        super().__init__("conditional check failed")
        self.response = {"Error": {"Code": "ConditionalCheckFailedException"}}


class FakeDynamo:
    def __init__(self, broken=False):
        self.items = {}
        self.broken = broken

    def put_item(self, TableName, Item, ConditionExpression, ExpressionAttributeValues):
        if self.broken:
            raise RuntimeError("dynamodb down")
        key = (TableName, Item["pk"]["S"], Item["sk"]["S"])
        held = self.items.get(key)
        if held is not None and int(held["expires_at"]["N"]) >= int(ExpressionAttributeValues[":now"]["N"]):
            raise ConditionalCheckFailed()
        self.items[key] = Item


class FakeSqs:
    def __init__(self):
        self.sent = []

    def send_message(self, QueueUrl, MessageBody, MessageAttributes):
        self.sent.append((QueueUrl, json.loads(MessageBody), MessageAttributes))

    def get_queue_url(self, QueueName):
        return {"QueueUrl": f"http://sqs/{QueueName}"}


def _receiver(now=NOW, broken=False, **env):
    settings = load_settings({"HIS_APP_ID": APP, "HIS_EVENT_SECRET": SECRET, **env})
    dynamo, sqs = FakeDynamo(broken), FakeSqs()
    clock = {"now": now}
    return EventReceiver(settings, dynamo, sqs, clock=lambda: clock["now"]), dynamo, sqs, clock


def _example():
    return json.loads((SPEC / "13-event-queue-approaching.json").read_text(encoding="utf-8"))["delivery"]


def _alb(headers, body, *, b64=False, method="POST", path="/his/events"):
    raw = body if isinstance(body, bytes) else body.encode()
    return {"httpMethod": method, "path": path, "headers": {k.lower(): v for k, v in headers.items()},
            "queryStringParameters": {}, "body": base64.b64encode(raw).decode() if b64 else raw.decode(),
            "isBase64Encoded": b64}


def _signed(envelope, secret=SECRET, ts=NOW, app=APP, path="/his/events", attempt="1"):
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    headers = signed_headers(app, secret, "POST", path, "", body, ts)
    headers.update({"X-His-Event-Id": envelope.get("event_id", ""), "X-His-Event-Type": envelope.get("event_type", ""),
                    "X-His-Delivery-Attempt": attempt})
    return headers, body


ENVELOPE = {"event_id": "evt_1", "event_type": "report.finalized", "occurred_at": "2025-06-23T10:42:00+08:00",
            "app_id": APP, "data": {"report_id": "R1", "patient_id": "P000123456", "version": 1}}


def test_the_spec_example_is_accepted_and_enqueued():
    delivery = _example()
    receiver, dynamo, sqs, _ = _receiver()
    body = json.dumps(delivery["body"], ensure_ascii=False, separators=(",", ":"))
    answer = receiver.handle(_alb(delivery["headers"], body))
    assert answer["statusCode"] == 204 and answer["body"] == "" and answer["statusDescription"] == "204 No Content"
    [(url, message, attributes)] = sqs.sent
    assert url == "http://sqs/yiwei-his-events"
    assert message == {"source": "push", "received_at": "2025-06-23T08:21:03+08:00", "delivery_attempt": 1,
                       "envelope": delivery["body"]}
    assert attributes == {"event_type": {"DataType": "String", "StringValue": "queue.approaching"}}
    [(table, pk, sk)] = dynamo.items
    assert (table, pk, sk) == ("yiwei-local-his", "nonce#2a6e0c4b-8d1f-4e57-93b5-7f9d3a1c5e08", "nonce")
    assert dynamo.items[(table, pk, sk)]["expires_at"] == {"N": str(NOW + 900)}


def test_base64_bodies_and_the_previous_secret_during_rotation():
    receiver, _, sqs, _ = _receiver(HIS_EVENT_SECRET="new-secret-0002", HIS_EVENT_SECRET_PREVIOUS=SECRET)
    headers, body = _signed(ENVELOPE, attempt="3")
    assert receiver.handle(_alb(headers, body, b64=True))["statusCode"] == 204
    headers, body = _signed(ENVELOPE | {"event_id": "evt_2"}, secret="new-secret-0002")
    assert receiver.handle(_alb(headers, body))["statusCode"] == 204
    assert [m["delivery_attempt"] for _, m, _ in sqs.sent] == [3, 1]


@pytest.mark.parametrize(("change", "code"), [
    ({"app": "other-app"}, "SIGNATURE_INVALID"),
    ({"ts": NOW - 301}, "TIMESTAMP_SKEW"),
    ({"ts": NOW + 301}, "TIMESTAMP_SKEW"),
    ({"secret": "wrong"}, "SIGNATURE_INVALID"),
    ({"path": "/other/path"}, "SIGNATURE_INVALID"),
])
def test_refusals_answer_401_and_enqueue_nothing(change, code):
    receiver, dynamo, sqs, _ = _receiver()
    headers, body = _signed(ENVELOPE, **change)
    answer = receiver.handle(_alb(headers, body))
    assert answer["statusCode"] == 401 and json.loads(answer["body"])["code"] == code
    assert sqs.sent == [] and dynamo.items == {}  # nonces are recorded only after a good signature


def test_skew_is_checked_before_the_signature():
    receiver, _, _, _ = _receiver()
    headers, body = _signed(ENVELOPE, secret="wrong", ts=NOW - 900)
    assert json.loads(receiver.handle(_alb(headers, body))["body"])["code"] == "TIMESTAMP_SKEW"


def test_a_replayed_nonce_is_refused():
    receiver, _, sqs, _ = _receiver()
    headers, body = _signed(ENVELOPE)
    assert receiver.handle(_alb(headers, body))["statusCode"] == 204
    again = receiver.handle(_alb(headers, body))
    assert again["statusCode"] == 401 and json.loads(again["body"])["code"] == "NONCE_REPLAYED" and len(sqs.sent) == 1


def test_a_tampered_body_is_refused():
    receiver, _, sqs, _ = _receiver()
    headers, body = _signed(ENVELOPE)
    answer = receiver.handle(_alb(headers, body.replace(b"R1", b"R2")))
    assert answer["statusCode"] == 401 and sqs.sent == []


@pytest.mark.parametrize("envelope", [b"not json", b"[1, 2]", json.dumps({"event_type": "x"}).encode(),
                                      json.dumps({"event_id": "e", "event_type": "x", "data": 5}).encode()])
def test_malformed_bodies_answer_400(envelope):
    receiver, _, sqs, _ = _receiver()
    headers = signed_headers(APP, SECRET, "POST", "/his/events", "", envelope, NOW)
    answer = receiver.handle(_alb(headers, envelope))
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["code"] == "MALFORMED_BODY" and sqs.sent == []


def test_unknown_event_types_are_enqueued_too():
    receiver, _, sqs, _ = _receiver()
    headers, body = _signed(ENVELOPE | {"event_type": "bed.assigned", "data": {"x": 1}, "extra": True})
    assert receiver.handle(_alb(headers, body))["statusCode"] == 204
    assert sqs.sent[0][2]["event_type"]["StringValue"] == "bed.assigned" and sqs.sent[0][1]["envelope"]["extra"]


def test_other_methods_and_our_own_failures():
    receiver, _, _, _ = _receiver()
    headers, body = _signed(ENVELOPE)
    assert receiver.handle(_alb(headers, body, method="GET"))["statusCode"] == 405
    broken, _, sqs, _ = _receiver(broken=True)
    answer = broken.handle(_alb(headers, body))
    assert answer["statusCode"] == 503 and sqs.sent == []  # the middleware retries


def test_a_configured_path_with_a_query_is_what_is_signed():
    receiver, _, _, _ = _receiver(HIS_EVENT_PATH="/hooks/his?tenant=a")
    body = json.dumps(ENVELOPE).encode()
    headers = signed_headers(APP, SECRET, "POST", "/hooks/his", "tenant=a", body, NOW)
    assert receiver.handle(_alb(headers, body, path="/hooks/his"))["statusCode"] == 204


def test_bodies_are_never_logged(caplog):
    receiver, _, _, _ = _receiver()
    headers, body = _signed(ENVELOPE)
    with caplog.at_level(logging.DEBUG):
        receiver.handle(_alb(headers, body))
        receiver.handle(_alb(headers, body))  # replay: refused
        receiver.handle(_alb(headers, b"{broken"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "report.finalized" in text and "NONCE_REPLAYED" in text
    assert "P000123456" not in text and "R1" not in text and SECRET not in text
