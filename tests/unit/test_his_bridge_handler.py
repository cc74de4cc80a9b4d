"""The bridge's per-record handling: results published, bodies parked in S3 (large JSON, PDF, CSV),
unknown outcomes resolved by query, redelivered writes queried first, synchronous reads, logs."""

import hashlib
import json
import logging

import pytest

from his_bridge.client import HisResponse, HisUnavailableError, OutcomeUnknownError, UnknownOperationError
from his_bridge.config import load_settings
from his_bridge.handler import Bridge, invoke_handler, process_batch


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

    def put_object(self, Bucket, Key, Body, ContentType=None, **_):
        self.objects[(Bucket, Key)] = (Body, ContentType)


class FakeClient:
    """Answers per operation: a response, an exception, or a list of them consumed in order."""

    def __init__(self, responses, now=1000.0):
        self.responses = responses
        self.calls = []
        self.now = now

    def monotonic(self):
        return self.now

    def call(self, operation, **kwargs):
        self.calls.append((operation, kwargs))
        if operation not in self.responses:
            raise UnknownOperationError(operation)
        answer = self.responses[operation]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _bridge(responses, limit=200_000, wall=5_000.0):
    settings = load_settings({"BLOB_BUCKET": "blobs", "HIS_RESULT_QUEUE": "results"})
    settings = type(settings)(**{**settings.__dict__, "inline_body_limit": limit})
    sqs, s3 = FakeSqs(), FakeS3()
    client = FakeClient(responses)
    return Bridge(settings, client, sqs, s3, clock=lambda: wall), sqs, s3


def _record(mid, body, receive_count=1, first_received_ms=None):
    attributes = {"ApproximateReceiveCount": str(receive_count)}
    if first_received_ms is not None:
        attributes["ApproximateFirstReceiveTimestamp"] = str(first_received_ms)
    return {"messageId": mid, "body": body if isinstance(body, str) else json.dumps(body), "attributes": attributes}


LOCK = {"request_id": "r1", "operation": "lockAppointment", "idempotency_key": "WXO1:lock",
        "body": {"order_id": "WXO1", "schedule_id": "S1", "patient_id": "P1"}, "context": {"purpose": "booking"}}
APPT = {"appointment_id": "A1", "order_id": "WXO1", "status": "locked"}
FOUND = HisResponse(200, {"items": [APPT], "next_cursor": None})
NOT_FOUND = HisResponse(200, {"items": [], "next_cursor": None})


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
    assert result["body"] is None
    assert result["body_ref"] == {"bucket": "blobs", "key": "his-results/r1.json"}  # JSON: the original shape
    assert json.loads(s3.objects[("blobs", "his-results/r1.json")][0]) == big


def test_pdf_and_csv_always_go_to_s3_with_their_type():
    pdf = b"%PDF-1.7 tiny"
    csv = b"record_type,business_type\nPAYMENT,REGISTRATION\n"
    bridge, sqs, s3 = _bridge({
        "getReportPdf": HisResponse(200, pdf, content_type="application/pdf"),
        "getReconciliationFile": HisResponse(200, csv, headers={"X-His-Content-SHA256": hashlib.sha256(csv).hexdigest()},
                                             content_type="text/csv"),
    })
    out = process_batch([
        _record("1", {"request_id": "r1", "operation": "getReportPdf", "path_params": {"patient_id": "P1",
                                                                                        "report_id": "R1"}}),
        _record("2", {"request_id": "r2", "operation": "getReconciliationFile", "path_params": {"date": "2025-06-15"}}),
    ], bridge)
    assert out == {"batchItemFailures": []}
    by_id = {r["request_id"]: r for r in sqs.sent}
    assert by_id["r1"]["body_ref"] == {"bucket": "blobs", "key": "his-results/r1.pdf", "content_type": "application/pdf"}
    assert by_id["r2"]["body_ref"] == {"bucket": "blobs", "key": "his-results/r2.csv", "content_type": "text/csv"}
    assert s3.objects[("blobs", "his-results/r1.pdf")] == (pdf, "application/pdf")
    assert s3.objects[("blobs", "his-results/r2.csv")] == (csv, "text/csv")


def test_a_file_that_does_not_match_its_digest_is_fetched_again_later():
    bridge, sqs, s3 = _bridge({"getReconciliationFile": HisResponse(
        200, b"truncated", headers={"X-His-Content-SHA256": "0" * 64}, content_type="text/csv")})
    out = process_batch([_record("1", {"request_id": "r1", "operation": "getReconciliationFile",
                                       "path_params": {"date": "2025-06-15"}})], bridge)
    assert out == {"batchItemFailures": [{"itemIdentifier": "1"}]} and sqs.sent == [] and s3.objects == {}


def test_an_unknown_outcome_found_by_query_is_published_as_the_result():
    bridge, sqs, _ = _bridge({"lockAppointment": OutcomeUnknownError("x", first_sent_at=999.0),
                              "queryAppointments": FOUND})
    assert process_batch([_record("1", LOCK)], bridge) == {"batchItemFailures": []}
    [result] = sqs.sent
    assert result["outcome"] == "ok" and result["resolved_by"] == "query" and result["status"] == 201
    assert result["body"] == APPT and result["context"] == {"purpose": "booking"}
    calls = bridge.client.calls
    assert [c[0] for c in calls] == ["lockAppointment", "queryAppointments"]
    assert calls[1][1]["query"] == {"order_id": "WXO1"}


def test_an_unknown_outcome_not_found_yet_is_redelivered_without_a_resend():
    bridge, sqs, _ = _bridge({"lockAppointment": OutcomeUnknownError("x", first_sent_at=996.0),
                              "queryAppointments": NOT_FOUND})
    assert process_batch([_record("1", LOCK)], bridge) == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert sqs.sent == [] and [c[0] for c in bridge.client.calls] == ["lockAppointment", "queryAppointments"]


def test_not_found_after_the_commit_window_sends_the_same_request_again():
    bridge, sqs, _ = _bridge({
        "lockAppointment": [OutcomeUnknownError("x", first_sent_at=989.0), HisResponse(201, APPT)],
        "queryAppointments": NOT_FOUND,
    })
    assert process_batch([_record("1", LOCK)], bridge) == {"batchItemFailures": []}
    assert [r["status"] for r in sqs.sent] == [201] and "resolved_by" not in sqs.sent[0]
    first, _, again = bridge.client.calls
    assert first == again  # same key, same body: a retry, not a fresh write
    assert again[1]["idempotency_key"] == "WXO1:lock" and again[1]["body"] == LOCK["body"]


def test_a_redelivered_write_is_queried_first():
    bridge, sqs, _ = _bridge({"lockAppointment": HisResponse(201, APPT), "queryAppointments": FOUND})
    assert process_batch([_record("1", LOCK, receive_count=2, first_received_ms=4_000_000)], bridge) == {
        "batchItemFailures": []}
    assert [c[0] for c in bridge.client.calls] == ["queryAppointments"]
    assert [r["resolved_by"] for r in sqs.sent] == ["query"]


def test_a_redelivered_write_not_found_is_sent_again_once_settled():
    bridge, sqs, _ = _bridge({"lockAppointment": HisResponse(201, APPT), "queryAppointments": NOT_FOUND})
    # first received 30 s ago: the middleware has committed or abandoned anything sent then
    process_batch([_record("1", LOCK, receive_count=3, first_received_ms=4_970_000)], bridge)
    assert [c[0] for c in bridge.client.calls] == ["queryAppointments", "lockAppointment"]
    assert sqs.sent[0]["status"] == 201
    # first received 3 s ago: too early to tell, nothing is sent
    bridge, sqs, _ = _bridge({"lockAppointment": HisResponse(201, APPT), "queryAppointments": NOT_FOUND})
    out = process_batch([_record("1", LOCK, receive_count=2, first_received_ms=4_997_000)], bridge)
    assert out == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert [c[0] for c in bridge.client.calls] == ["queryAppointments"] and sqs.sent == []


def test_redelivered_reads_and_identity_writes_are_simply_performed():
    bridge, sqs, _ = _bridge({"createPatient": HisResponse(201, {"patient_id": "P9"}),
                              "listCampuses": HisResponse(200, {"items": []})})
    process_batch([_record("1", {"request_id": "r1", "operation": "createPatient", "body": {"name": "x"},
                                 "idempotency_key": "newpt-0001"}, receive_count=4),
                   _record("2", {"request_id": "r2", "operation": "listCampuses"}, receive_count=2)], bridge)
    assert [c[0] for c in bridge.client.calls] == ["createPatient", "listCampuses"] and len(sqs.sent) == 2


def test_records_left_when_the_invocation_runs_out_of_time_are_redelivered():
    bridge, _, _ = _bridge({"listCampuses": HisResponse(200, {"items": []})})
    deadline = bridge.client.now + 0.5
    out = process_batch([_record("1", {"request_id": "r1", "operation": "listCampuses"})], bridge, deadline)
    assert out == {"batchItemFailures": [{"itemIdentifier": "1"}]} and bridge.client.calls == []
    process_batch([_record("1", {"request_id": "r1", "operation": "listCampuses"})], bridge, bridge.client.now + 20)
    assert bridge.client.calls[0][1]["deadline"] == bridge.client.now + 20


class Context:
    def __init__(self, millis):
        self.millis = millis

    def get_remaining_time_in_millis(self):
        return self.millis


def test_invoke_handler_reads_synchronously_within_the_deadline():
    bridge, sqs, _ = _bridge({"getPatient": HisResponse(200, {"patient_id": "P1"}),
                              "getQueueStatus": HisUnavailableError("busy", code="HIS_BUSY", retry_after=2)})
    result = invoke_handler({"request_id": "r1", "operation": "getPatient", "path_params": {"patient_id": "P1"}},
                            Context(30_000), bridge=bridge)
    assert result["outcome"] == "ok" and result["body"] == {"patient_id": "P1"} and sqs.sent == []
    assert bridge.client.calls[0][1]["deadline"] == bridge.client.now + 4.0  # the cap
    invoke_handler(json.dumps({"request_id": "r2", "operation": "getPatient"}), Context(3_000), bridge=bridge)
    assert bridge.client.calls[1][1]["deadline"] == bridge.client.now + 1.5  # what the Lambda has left
    busy = invoke_handler({"request_id": "r3", "operation": "getQueueStatus", "path_params": {"visit_id": "V1"}},
                          Context(30_000), bridge=bridge)
    assert busy["outcome"] == "error" and busy["error"]["code"] == "HIS_BUSY" and busy["error"]["retryable"] is True
    assert busy["error"]["retry_after"] == 2


def test_invoke_handler_refuses_writes():
    bridge, sqs, _ = _bridge({})
    result = invoke_handler({"request_id": "r1", "operation": "confirmAppointment"}, Context(30_000), bridge=bridge)
    assert result["error"]["code"] == "NOT_A_READ" and bridge.client.calls == [] and sqs.sent == []


def test_logs_carry_no_personal_data(caplog):
    body = {"method": "identity", "id_type": "resident_id", "id_number": "110101199003070011", "name": "张三",
            "phone": "13800000001"}
    bridge, _, _ = _bridge({"lookupPatient": [HisResponse(200, {"patient_id": "P000123456", "name": "张三"}),
                                              HisUnavailableError("lookupPatient: HIS_BUSY", code="HIS_BUSY")]})
    with caplog.at_level(logging.DEBUG):
        process_batch([_record("1", {"request_id": "r1", "operation": "lookupPatient", "body": body}),
                       _record("2", {"request_id": "r2", "operation": "lookupPatient", "body": body})], bridge)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "lookupPatient" in text and "HIS_BUSY" in text
    for secret in ("110101199003070011", "张三", "13800000001", "P000123456"):
        assert secret not in text
    for record in caplog.records:
        json.loads(record.getMessage())  # JSON lines


@pytest.mark.parametrize("request_", [{"operation": "x"}, {"request_id": "", "operation": "x"}, {"request_id": "r"}])
def test_malformed_requests_are_refused(request_):
    bridge, sqs, _ = _bridge({})
    assert process_batch([_record("1", request_)], bridge) == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert sqs.sent == [] and bridge.client.calls == []
