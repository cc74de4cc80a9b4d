"""The devstack's Lambda gateway over real HTTP: boto3's own Lambda client invokes registered handlers
(and ``LambdaHisLiveReader`` reads through it), and an ALB path turns requests into ALB events."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.adapters.aws_lambda.his_live_reader import LambdaHisLiveReader, lambda_client
from chalicelib.domain.his_messages import HisRequest
from devstack.lambda_gateway import start_in_thread

pytestmark = pytest.mark.integration

REGION = "ap-east-1"
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


class Bridge:
    """Plays the bridge's ``invoke_handler``: answers each request with a HisResult chosen by its operation."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, event: Any, context: Any) -> Any:
        with self.lock:
            self.calls += 1
        self.events.append((event, context.get_remaining_time_in_millis(), context.function_name))
        base = {"request_id": event["request_id"], "operation": event["operation"], "context": event["context"],
                "fetched_at": "2026-11-26T16:00:01+08:00", "etag": None, "body": None, "body_ref": None, "error": None}
        if event["operation"] == "getReport":
            return {**base, "outcome": "error", "status": 409, "error": {
                "code": "REPORT_NOT_VIEWABLE", "message": "报告暂不可查看", "retryable": False, "trace_id": "t1",
                "details": {"reason": "release_delay", "release_at": "2026-11-27T10:00:00+08:00"}}}
        if event["operation"] == "getReportPdf":
            ref = {"bucket": "b", "key": f"his-results/{event['request_id']}.pdf", "content_type": "application/pdf"}
            return {**base, "outcome": "ok", "status": 200, "body_ref": ref}
        if event["operation"] == "slow":
            time.sleep(1.5)
        if event["operation"] == "wrongId":
            return {**base, "request_id": "someone-else", "outcome": "ok", "status": 200, "body": {}}
        return {**base, "outcome": "ok", "status": 200, "body": {"items": [{"report_id": "R1"}], "next_cursor": None}}


def failing(event: Any, context: Any) -> Any:
    raise RuntimeError("the HIS client blew up")


def not_json(event: Any, context: Any) -> Any:
    return {"when": datetime.now(UTC)}


def sleepy(event: Any, context: Any) -> Any:
    time.sleep(2)
    return {"late": True}


class AlbTarget:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any, context: Any) -> Any:
        self.events.append(event)
        if event["headers"].get("x-break"):
            return {"no": "statusCode"}
        return {"statusCode": 204 if event["httpMethod"] == "POST" else 200, "statusDescription": "OK",
                "headers": {"X-Answer": "yes", "Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\x00\x01binary").decode(), "isBase64Encoded": True}


@pytest.fixture
def gateway() -> Any:
    bridge, alb = Bridge(), AlbTarget()
    server, _, url = start_in_thread("127.0.0.1", 0, {"yiwei-local-his-bridge-read": bridge, "failing": failing,
                                                      "not-json": not_json, "sleepy": sleepy},
                                     routes={"/his/events": alb}, timeouts={"sleepy": 0.5})
    yield url, bridge, alb
    server.shutdown()


def client(url: str, read_timeout: float = 5) -> Any:
    return boto3.session.Session().client("lambda", region_name=REGION, endpoint_url=url,
                                          config=Config(read_timeout=read_timeout, retries={"max_attempts": 0}))


def his_request(operation: str = "listReports") -> HisRequest:
    return HisRequest("req-1", operation, T0, path_params={"patient_id": "P1"}, end_user="a" * 32,
                      context={"purpose": "live_read"})


# ---- Lambda Invoke API through boto3 ----------------------------------------------------------------
def test_boto3_invokes_a_registered_handler_with_a_lambda_context(gateway):
    url, bridge, _ = gateway
    resp = client(url).invoke(FunctionName="yiwei-local-his-bridge-read", InvocationType="RequestResponse",
                              Payload=json.dumps(his_request().to_json()).encode())
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert json.loads(resp["Payload"].read())["body"] == {"items": [{"report_id": "R1"}], "next_cursor": None}
    event, remaining, name = bridge.events[0]
    assert event == his_request().to_json() and name == "yiwei-local-his-bridge-read"
    assert 25_000 < remaining <= 30_000


def test_an_arn_or_qualified_name_reaches_the_same_function(gateway):
    url, bridge, _ = gateway
    arn = "arn:aws:lambda:ap-east-1:123456789012:function:yiwei-local-his-bridge-read:live"
    resp = client(url).invoke(FunctionName=arn, Payload=json.dumps(his_request().to_json()).encode())
    assert resp["StatusCode"] == 200 and bridge.calls == 1


def test_a_raising_handler_is_an_unhandled_function_error(gateway):
    url, _, _ = gateway
    resp = client(url).invoke(FunctionName="failing", Payload=b"{}")
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    error = json.loads(resp["Payload"].read())
    assert error["errorMessage"] == "the HIS client blew up" and error["errorType"] == "RuntimeError"
    marshal = client(url).invoke(FunctionName="not-json", Payload=b"{}")
    assert marshal["FunctionError"] == "Unhandled"
    assert json.loads(marshal["Payload"].read())["errorType"] == "Runtime.MarshalError"


def test_a_handler_over_its_timeout_is_reported_as_timed_out(gateway):
    url, _, _ = gateway
    started = time.monotonic()
    resp = client(url).invoke(FunctionName="sleepy", Payload=b"{}")
    assert time.monotonic() - started < 1.5
    assert resp["FunctionError"] == "Unhandled" and "Task timed out" in json.loads(resp["Payload"].read())["errorMessage"]


def test_unknown_functions_bad_payloads_and_other_invocation_types(gateway):
    url, bridge, _ = gateway
    with pytest.raises(ClientError) as caught:
        client(url).invoke(FunctionName="nope", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        client(url).invoke(FunctionName="failing", Payload=b"{not json")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert client(url).invoke(FunctionName="yiwei-local-his-bridge-read", InvocationType="DryRun",
                              Payload=b"{}")["StatusCode"] == 204
    queued = client(url).invoke(FunctionName="yiwei-local-his-bridge-read", InvocationType="Event",
                                Payload=json.dumps(his_request().to_json()).encode())
    assert queued["StatusCode"] == 202
    deadline = time.monotonic() + 5
    while bridge.calls < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bridge.calls == 1


# ---- LambdaHisLiveReader through the gateway --------------------------------------------------------
def test_the_live_reader_gets_the_bridges_result(gateway):
    url, _, _ = gateway
    reader = LambdaHisLiveReader(lambda_client(REGION, url, 3), "yiwei-local-his-bridge-read")
    result = reader.read(his_request())
    assert result is not None and result.outcome == "ok" and result.request_id == "req-1"
    assert result.body == {"items": [{"report_id": "R1"}], "next_cursor": None}
    assert result.fetched_at == datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC)


def test_the_live_reader_keeps_error_details_and_body_refs(gateway):
    url, _, _ = gateway
    reader = LambdaHisLiveReader(lambda_client(REGION, url, 3), "yiwei-local-his-bridge-read")
    refused = reader.read(his_request("getReport"))
    assert refused is not None and refused.status == 409 and refused.error is not None and bool(refused.error.details)
    assert refused.error.code == "REPORT_NOT_VIEWABLE" and not refused.error.retryable
    assert refused.error.details == {"reason": "release_delay", "release_at": "2026-11-27T10:00:00+08:00"}
    pdf = reader.read(his_request("getReportPdf"))
    assert pdf is not None and pdf.body_ref == {"bucket": "b", "key": "his-results/req-1.pdf",
                                                "content_type": "application/pdf"}


def test_no_timely_answer_is_none_after_one_attempt(gateway):
    url, bridge, _ = gateway
    reader = LambdaHisLiveReader(lambda_client(REGION, url, 0.5), "yiwei-local-his-bridge-read")
    started = time.monotonic()
    assert reader.read(his_request("slow")) is None
    assert time.monotonic() - started < 1.4
    time.sleep(1.2)  # let the abandoned call finish: it must have been the only one (no retries)
    assert bridge.calls == 1


def test_failures_and_foreign_answers_are_none(gateway):
    url, _, _ = gateway
    assert LambdaHisLiveReader(lambda_client(REGION, url, 3), "failing").read(his_request()) is None
    assert LambdaHisLiveReader(lambda_client(REGION, url, 3), "nope").read(his_request()) is None
    reader = LambdaHisLiveReader(lambda_client(REGION, url, 3), "yiwei-local-his-bridge-read")
    assert reader.read(his_request("wrongId")) is None
    closed = LambdaHisLiveReader(lambda_client(REGION, "http://127.0.0.1:9", 1), "x")  # nothing listens
    assert closed.read(his_request()) is None


# ---- ALB front ----------------------------------------------------------------------------------------
def test_a_request_to_an_alb_path_becomes_an_alb_event(gateway):
    url, _, alb = gateway
    body = json.dumps({"event_id": "evt_1", "event_type": "report.finalized"}).encode()
    resp = requests.post(f"{url}/his/events?since=2025-06-23T08%3A00%3A00%2B08%3A00&x=1", data=body, timeout=5,
                         headers={"Content-Type": "application/json", "X-His-Event-Id": "evt_1"})
    assert resp.status_code == 204 and resp.headers["X-Answer"] == "yes"
    (event,) = alb.events
    assert event["httpMethod"] == "POST" and event["path"] == "/his/events"
    assert event["queryStringParameters"] == {"since": "2025-06-23T08%3A00%3A00%2B08%3A00", "x": "1"}
    assert event["headers"]["x-his-event-id"] == "evt_1" and event["headers"]["content-type"] == "application/json"
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    assert "elb" in event["requestContext"]


def test_binary_bodies_responses_and_failures_at_the_alb(gateway):
    url, _, alb = gateway
    resp = requests.put(f"{url}/his/events", data=b"\xff\x00", headers={"Content-Type": "application/octet-stream"},
                        timeout=5)
    assert resp.status_code == 200 and resp.content == b"\x00\x01binary"
    assert alb.events[-1]["isBase64Encoded"] is True and base64.b64decode(alb.events[-1]["body"]) == b"\xff\x00"
    assert requests.post(f"{url}/his/events", headers={"X-Break": "1"}, timeout=5).status_code == 502
    assert requests.get(f"{url}/not-registered", timeout=5).status_code == 404
