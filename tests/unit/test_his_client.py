"""HttpHisClient's contract discipline, on a scripted session (no network)."""

import json

import pytest
import requests

from his_bridge import signing
from his_bridge.client import HisUnavailableError, HttpHisClient, OutcomeUnknownError, encode_query

SECRET = "s3cret"


class Script(requests.Session):
    """Answers requests from a list of (status, body, headers) or exceptions; records what was sent."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, data=None, headers=None, timeout=None, verify=None, **_):
        self.sent.append({"method": method, "url": url, "data": data, "headers": dict(headers), "timeout": timeout})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body, extra = answer
        resp = requests.Response()
        resp.status_code = status
        resp._content = json.dumps(body).encode() if body is not None else b""
        resp.headers.update(extra or {})
        return resp


def _client(answers, **kw):
    session = Script(answers)
    sleeps = []
    client = HttpHisClient("https://his.example/v1", "app", SECRET, session=session, clock=lambda: 1_750_000_000,
                           sleep=sleeps.append, **kw)
    return client, session, sleeps


def _busy(retry_after=None):
    return (429, {"code": "HIS_BUSY", "message": "busy", "retryable": True, "trace_id": "t"},
            {"Retry-After": retry_after} if retry_after else {})


def test_signs_each_attempt_afresh_and_honours_retry_after():
    client, session, sleeps = _client([_busy("2"), (200, {"items": []}, {"ETag": '"e"'})])
    resp = client.call("listCampuses", if_none_match='"old"')
    assert resp.ok and resp.etag == '"e"'
    first, second = session.sent
    assert first["headers"][signing.HEADER_NONCE] != second["headers"][signing.HEADER_NONCE]
    assert first["headers"]["If-None-Match"] == '"old"' and first["timeout"] == (1.0, 4.0)
    for sent in session.sent:
        verdict = signing.verify(sent["headers"], [SECRET], "GET", "/v1/campuses", "", b"", 1_750_000_000)
        assert verdict.ok
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 2.0


def test_gives_up_after_max_attempts_on_retryable_errors():
    client, session, _ = _client([_busy(), _busy(), _busy()])
    with pytest.raises(HisUnavailableError):
        client.call("listDepartments")
    assert len(session.sent) == 3


def test_non_retryable_error_is_returned_not_retried():
    client, session, _ = _client([(404, {"code": "RESOURCE_NOT_FOUND", "message": "x", "retryable": False,
                                         "trace_id": "t", "details": {"resource": "doctor"}}, {})])
    resp = client.call("getDoctor", path_params={"doctor_id": "DR1"})
    assert resp.error["code"] == "RESOURCE_NOT_FOUND" and resp.error["details"] == {"resource": "doctor"}
    assert len(session.sent) == 1 and session.sent[0]["url"] == "https://his.example/v1/doctors/DR1"


def test_write_with_no_answer_is_an_unknown_outcome_never_resent_blindly():
    client, session, _ = _client([requests.ReadTimeout("slow")])
    with pytest.raises(OutcomeUnknownError):
        client.call("lockAppointment", body={"order_id": "WXO1"}, idempotency_key="WXO1:lock")
    assert len(session.sent) == 1 and session.sent[0]["headers"]["Idempotency-Key"] == "WXO1:lock"
    client, session, _ = _client([(504, {"code": "OUTCOME_UNKNOWN", "message": "", "retryable": True,
                                         "trace_id": "t"}, {})])
    with pytest.raises(OutcomeUnknownError):
        client.call("lockAppointment", body={"order_id": "WXO1"}, idempotency_key="WXO1:lock")


def test_reads_retry_connection_errors_and_follow_pages():
    client, session, _ = _client([
        requests.ConnectionError("reset"),
        (200, {"items": [{"doctor_id": "A"}], "next_cursor": "c2"}, {}),
        (200, {"items": [{"doctor_id": "B"}], "next_cursor": None}, {}),
    ])
    resp = client.call("listDoctors", query={"department_id": "D0301"})
    assert [d["doctor_id"] for d in resp.body["items"]] == ["A", "B"]
    assert session.sent[-1]["url"].endswith("?department_id=D0301&page_size=200&cursor=c2")


def test_query_encoding_sends_offsets_as_percent_2b():
    assert encode_query({"since": "2025-06-23T08:00:00+08:00", "bookable": True, "x": None}) == (
        "since=2025-06-23T08%3A00%3A00%2B08%3A00&bookable=true")


def test_body_is_signed_as_sent():
    client, session, _ = _client([(201, {"ok": True}, {})])
    client.call("lookupPatient", body={"method": "card", "card_no": "1", "name": "张三"}, idempotency_key="k:lookup")
    sent = session.sent[0]
    assert sent["data"] == json.dumps({"method": "card", "card_no": "1", "name": "张三"}, ensure_ascii=False,
                                      separators=(",", ":")).encode()
    assert signing.verify(sent["headers"], [SECRET], "POST", "/v1/patients/lookup", "", sent["data"],
                          1_750_000_000).ok
