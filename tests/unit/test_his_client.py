"""HttpHisClient's contract discipline, on a scripted session (no network): signing, the retry policy of
§5 (which answers are retried, Retry-After, backoff, deadlines, unknown outcomes), pages, file bodies."""

import json

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from his_bridge import signing
from his_bridge.client import HisUnavailableError, HttpHisClient, OutcomeUnknownError, encode_query
from his_bridge.ratelimit import RateLimiter

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
        if isinstance(body, bytes):
            resp._content = body
        else:
            resp._content = json.dumps(body).encode() if body is not None else b""
            resp.headers["Content-Type"] = "application/json; charset=utf-8"
        resp.headers.update(extra or {})
        return resp


class Clock:
    """A monotonic clock that sleeping advances."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _client(answers, **kw):
    session = Script(answers)
    clock = Clock()
    client = HttpHisClient("https://his.example/v1", "app", SECRET, session=session, clock=lambda: 1_750_000_000,
                           monotonic=clock, sleep=clock.sleep, **kw)
    return client, session, clock.sleeps


def _err(status, code, retryable, retry_after=None):
    return (status, {"code": code, "message": code.lower(), "retryable": retryable, "trace_id": "t"},
            {"Retry-After": retry_after} if retry_after else {})


def _busy(retry_after=None):
    return _err(429, "HIS_BUSY", True, retry_after)


def test_signs_each_attempt_afresh_and_honours_retry_after():
    client, session, sleeps = _client([_busy("2"), (200, {"items": []}, {"ETag": '"e"'})])
    resp = client.call("listCampuses", if_none_match='"old"')
    assert resp.ok and resp.etag == '"e"' and resp.attempts == 2
    first, second = session.sent
    assert first["headers"][signing.HEADER_NONCE] != second["headers"][signing.HEADER_NONCE]
    assert first["headers"]["If-None-Match"] == '"old"' and first["timeout"] == (1.0, 4.0)
    for sent in session.sent:
        verdict = signing.verify(sent["headers"], [SECRET], "GET", "/v1/campuses", "", b"", 1_750_000_000)
        assert verdict.ok
    assert len(sleeps) == 1 and 2.0 <= sleeps[0] <= 2.25


def test_exponential_backoff_with_jitter_then_gives_up():
    client, session, sleeps = _client([_busy(), _err(503, "HIS_UNAVAILABLE", True), _busy(), _busy()])
    with pytest.raises(HisUnavailableError) as raised:
        client.call("listDepartments")
    assert len(session.sent) == 4 and raised.value.code == "HIS_BUSY"
    assert [round(s / base, 2) >= 0.5 and s <= base for s, base in zip(sleeps, (0.5, 1.0, 2.0), strict=True)] == [
        True, True, True]


def test_non_retryable_error_is_returned_not_retried():
    client, session, _ = _client([(404, {"code": "RESOURCE_NOT_FOUND", "message": "x", "retryable": False,
                                         "trace_id": "t", "details": {"resource": "doctor"}}, {})])
    resp = client.call("getDoctor", path_params={"doctor_id": "DR1"})
    assert resp.error["code"] == "RESOURCE_NOT_FOUND" and resp.error["details"] == {"resource": "doctor"}
    assert len(session.sent) == 1 and session.sent[0]["url"] == "https://his.example/v1/doctors/DR1"


def test_maintenance_and_long_retry_after_give_up_at_once():
    client, session, sleeps = _client([_err(503, "HIS_MAINTENANCE", True, "2400")])
    with pytest.raises(HisUnavailableError) as raised:
        client.call("lockAppointment", body={"order_id": "WXO1"}, idempotency_key="WXO1:lock")
    assert raised.value.code == "HIS_MAINTENANCE" and raised.value.retry_after == 2400
    assert len(session.sent) == 1 and sleeps == []
    client, session, sleeps = _client([_busy("60")])
    with pytest.raises(HisUnavailableError):
        client.call("listCampuses")
    assert len(session.sent) == 1 and sleeps == []


def test_request_in_progress_is_waited_out_with_the_same_key_and_body():
    client, session, sleeps = _client([_err(409, "REQUEST_IN_PROGRESS", True, "1"), (201, {"appointment_id": "A1"}, {})])
    resp = client.call("lockAppointment", body={"order_id": "WXO1"}, idempotency_key="WXO1:lock")
    assert resp.status == 201 and len(sleeps) == 1 and sleeps[0] >= 1.0
    first, second = session.sent
    assert first["data"] == second["data"] and first["headers"]["Idempotency-Key"] == "WXO1:lock" == (
        second["headers"]["Idempotency-Key"])
    assert first["headers"][signing.HEADER_NONCE] != second["headers"][signing.HEADER_NONCE]


def test_write_with_no_answer_is_an_unknown_outcome_never_resent_blindly():
    for answer in (requests.ReadTimeout("slow"), requests.ConnectionError("reset by peer"),
                   _err(504, "OUTCOME_UNKNOWN", True), _err(500, "INTERNAL_ERROR", True)):
        client, session, _ = _client([answer])
        with pytest.raises(OutcomeUnknownError) as raised:
            client.call("lockAppointment", body={"order_id": "WXO1"}, idempotency_key="WXO1:lock")
        assert len(session.sent) == 1 and session.sent[0]["headers"]["Idempotency-Key"] == "WXO1:lock"
        assert raised.value.first_sent_at == 100.0


def test_writes_are_retried_when_nothing_was_sent_or_nothing_changed():
    refused = requests.ConnectionError(NewConnectionError(None, "refused"))
    client, session, _ = _client([requests.ConnectTimeout("no route"), refused,
                                  _err(503, "HIS_UNAVAILABLE", True, "1"), (201, {"appointment_id": "A1"}, {})])
    assert client.call("lockAppointment", body={"order_id": "WXO1"}, idempotency_key="WXO1:lock").status == 201
    assert len({s["data"] for s in session.sent}) == 1 and len(session.sent) == 4


def test_identity_writes_are_resolved_by_the_same_request_again():
    client, session, _ = _client([requests.ReadTimeout("slow"), _err(500, "INTERNAL_ERROR", True),
                                  (201, {"patient_id": "P1", "created": True}, {"Idempotent-Replayed": "true"})])
    resp = client.call("createPatient", body={"name": "x"}, idempotency_key="newpt-0001")
    assert resp.status == 201 and resp.replayed and len(session.sent) == 3
    assert {s["headers"]["Idempotency-Key"] for s in session.sent} == {"newpt-0001"}


def test_the_deadline_bounds_timeouts_and_retries():
    client, session, sleeps = _client([_busy("3")])
    deadline = client.monotonic() + 2.5
    with pytest.raises(HisUnavailableError):
        client.call("listCampuses", deadline=deadline)
    assert len(session.sent) == 1 and sleeps == [] and session.sent[0]["timeout"] == (1.0, 2.5)
    client, session, _ = _client([])
    with pytest.raises(HisUnavailableError) as raised:
        client.call("listCampuses", deadline=client.monotonic())
    assert raised.value.code == "BRIDGE_DEADLINE" and session.sent == []


def test_reconciliation_not_ready_is_an_answer_not_a_retry_loop():
    client, session, _ = _client([_err(409, "RECONCILIATION_NOT_READY", True)])
    resp = client.call("getReconciliationFile", path_params={"date": "2025-06-15"})
    assert resp.error["code"] == "RECONCILIATION_NOT_READY" and len(session.sent) == 1


def test_file_bodies_come_back_as_bytes_with_their_type():
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    client, session, _ = _client([(200, pdf, {"Content-Type": "application/pdf"})])
    resp = client.call("getReportPdf", path_params={"patient_id": "P1", "report_id": "R1"})
    assert resp.body == pdf and resp.content_type == "application/pdf"
    assert session.sent[0]["headers"]["Accept"].startswith("application/pdf")
    assert session.sent[0]["url"] == "https://his.example/v1/patients/P1/reports/R1/pdf"


def test_reads_retry_connection_errors_and_follow_pages():
    client, session, _ = _client([
        requests.ConnectionError("reset"),
        (200, {"items": [{"doctor_id": "A"}], "next_cursor": "c2"}, {}),
        (200, {"items": [{"doctor_id": "B"}], "next_cursor": None}, {}),
    ])
    resp = client.call("listDoctors", query={"department_id": "D0301"})
    assert [d["doctor_id"] for d in resp.body["items"]] == ["A", "B"]
    assert session.sent[-1]["url"].endswith("?department_id=D0301&page_size=200&cursor=c2")


def test_events_stop_on_an_empty_page_and_return_the_last_cursor():
    client, session, _ = _client([
        (200, {"items": [{"event_id": "e1"}], "next_cursor": "k1"}, {}),
        (200, {"items": [{"event_id": "e2"}], "next_cursor": "k2"}, {}),
        (200, {"items": [], "next_cursor": "k2"}, {}),
    ])
    resp = client.call("listEvents", query={"since": "2025-06-23T08:00:00+08:00"})
    assert resp.body == {"items": [{"event_id": "e1"}, {"event_id": "e2"}], "next_cursor": "k2"}
    assert len(session.sent) == 3 and session.sent[-1]["url"].endswith("&after=k2")
    client, session, _ = _client([(200, {"items": [], "next_cursor": "k9"}, {})])
    assert client.call("listEvents", query={"after": "k9"}).body == {"items": [], "next_cursor": "k9"}
    assert len(session.sent) == 1


def test_queue_status_is_asked_once_per_15_seconds_per_visit():
    queue = {"visit_id": "V1", "people_ahead": 3}
    client, session, _ = _client([(200, queue, {}), (200, {"visit_id": "V2"}, {}),
                                  (200, queue | {"people_ahead": 2}, {})])
    assert client.call("getQueueStatus", path_params={"visit_id": "V1"}).body == queue
    cached = client.call("getQueueStatus", path_params={"visit_id": "V1"})
    assert cached.body == queue and cached.attempts == 0 and len(session.sent) == 1
    assert client.call("getQueueStatus", path_params={"visit_id": "V2"}).body == {"visit_id": "V2"}
    client.monotonic.now += 15  # type: ignore[attr-defined]
    assert client.call("getQueueStatus", path_params={"visit_id": "V1"}).body["people_ahead"] == 2


def test_client_side_rate_limit_beyond_the_budget_is_a_retryable_failure():
    clock = Clock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)  # lookups: 2/s per instance, burst 2
    client = HttpHisClient("https://his.example/v1", "app", SECRET, session=Script([(200, {}, {})] * 3),
                           monotonic=clock, sleep=clock.sleep, limiter=limiter, max_token_wait=0.2)
    client.call("lookupPatient", body={"m": 1})
    client.call("lookupPatient", body={"m": 2})
    with pytest.raises(HisUnavailableError) as raised:
        client.call("lookupPatient", body={"m": 3})
    assert raised.value.code == "CLIENT_RATE_LIMITED" and 0 < raised.value.retry_after <= 0.5
    assert clock.sleeps == []


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
