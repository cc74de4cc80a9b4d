"""The bridge's per-record handling: results published, large bodies parked in S3, failures retried."""

import json

from his_bridge.client import HisResponse, HisUnavailableError, UnknownOperationError
from his_bridge.config import load_settings
from his_bridge.handler import Bridge, process_batch


class FakeSqs:
    def __init__(self):
        self.sent = []

    def send_message(self, QueueUrl, MessageBody, **_):
        self.sent.append(json.loads(MessageBody))

    def get_queue_url(self, QueueName):
        return {"QueueUrl": f"http://sqs/{QueueName}"}


class FakeS3:
    def __init__(self):
        self.objects = {}

    def put_object(self, Bucket, Key, Body, **_):
        self.objects[(Bucket, Key)] = Body


class FakeClient:
    def __init__(self, responses):
        self.responses = responses
        self.calls = []

    def call(self, operation, **kwargs):
        self.calls.append((operation, kwargs))
        if operation not in self.responses:
            raise UnknownOperationError(operation)
        answer = self.responses[operation]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _bridge(responses, limit=200_000):
    settings = load_settings({"BLOB_BUCKET": "blobs", "HIS_RESULT_QUEUE": "results"})
    settings = type(settings)(**{**settings.__dict__, "inline_body_limit": limit})
    sqs, s3 = FakeSqs(), FakeS3()
    return Bridge(settings, FakeClient(responses), sqs, s3), sqs, s3


def _record(mid, body):
    return {"messageId": mid, "body": body if isinstance(body, str) else json.dumps(body)}


def test_results_for_ok_not_modified_error_and_retries_for_unavailable():
    bridge, sqs, _ = _bridge({
        "listCampuses": HisResponse(200, {"items": [1]}, '"e1"'),
        "listDepartments": HisResponse(304, None, '"e2"'),
        "getDoctor": HisResponse(404, {"code": "RESOURCE_NOT_FOUND", "message": "m", "retryable": False,
                                       "trace_id": "t"}),
        "listDoctors": HisUnavailableError("down"),
    })
    records = [
        _record("1", {"request_id": "r1", "operation": "listCampuses", "context": {"dataset": "campuses"}}),
        _record("2", {"request_id": "r2", "operation": "listDepartments", "if_none_match": '"e2"'}),
        _record("3", {"request_id": "r3", "operation": "getDoctor", "path_params": {"doctor_id": "X"}}),
        _record("4", {"request_id": "r4", "operation": "listDoctors"}),
        _record("5", "not json"),
        _record("6", {"operation": "listCampuses"}),
        _record("7", {"request_id": "r7", "operation": "noSuchOperation"}),
    ]
    out = process_batch(records, bridge)
    assert out == {"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "5"}, {"itemIdentifier": "6"}]}
    by_id = {r["request_id"]: r for r in sqs.sent}
    assert by_id["r1"]["outcome"] == "ok" and by_id["r1"]["body"] == {"items": [1]} and by_id["r1"]["etag"] == '"e1"'
    assert by_id["r1"]["context"] == {"dataset": "campuses"} and by_id["r1"]["fetched_at"].endswith("+08:00")
    assert by_id["r2"]["outcome"] == "not_modified"
    assert by_id["r3"]["outcome"] == "error" and by_id["r3"]["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert by_id["r7"]["error"]["code"] == "UNKNOWN_OPERATION"
    assert "r4" not in by_id


def test_large_bodies_go_to_s3_by_reference():
    big = {"items": [{"doctor_id": f"DR{i}", "intro": "医" * 50} for i in range(100)]}
    bridge, sqs, s3 = _bridge({"listDoctors": HisResponse(200, big)}, limit=1000)
    process_batch([_record("1", {"request_id": "r1", "operation": "listDoctors"})], bridge)
    result = sqs.sent[0]
    assert result["body"] is None and result["body_ref"] == {"bucket": "blobs", "key": "his-results/r1.json"}
    assert json.loads(s3.objects[("blobs", "his-results/r1.json")]) == big
