"""The HIS simulator over real HTTP: a threaded werkzeug server on a free port, called with ``requests`` and signed
with ``his_bridge.signing`` exactly as the bridge signs."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from devstack.his_simulator.config import TEST_APP_ID, TEST_APP_SECRET, TEST_EVENT_SECRET
from devstack.his_simulator.server import start_in_thread
from devstack.his_simulator.simulator import Simulator
from his_bridge.signing import signed_headers, verify

pytestmark = pytest.mark.integration

SPEC_DIR = Path(__file__).resolve().parents[2] / "devstack" / "his_simulator" / "spec"
ZHANG = {"method": "identity", "id_type": "resident_id", "id_number": "110101199003070011", "name": "张三",
         "phone": "13800000001"}


@functools.cache
def _spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SPEC_DIR / "openapi.yaml").read_text(encoding="utf-8"))
    return loaded


def conforms(path: str, method: str, status: int, body: Any) -> None:
    """``body`` is what the contract declares for this operation and status."""
    spec = _spec()
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = json.loads(json.dumps(response["content"]["application/json"]["schema"]).replace('"#/', '"urn:spec#/'))
    registry: Registry[Any] = Registry().with_resource("urn:spec", Resource.from_contents(spec, DRAFT202012))
    errors = list(Draft202012Validator(schema, registry=registry).iter_errors(body))
    assert not errors, [e.message for e in errors[:5]]


class Api:
    def __init__(self, base_url: str, sim: Simulator) -> None:
        self.base_url = base_url
        self.root = base_url.rsplit("/v1", 1)[0]
        self.sim = sim
        self.session = requests.Session()

    def call(self, method: str, path: str, query: dict[str, Any] | str | None = None, body: Any = None,
             key: str | None = None, **sign: Any) -> requests.Response:
        raw_query = query if isinstance(query, str) else urlencode(query or {}, quote_via=quote)
        url = self.base_url + path + ("?" + raw_query if raw_query else "")
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else b""
        headers = signed_headers(sign.get("app_id", TEST_APP_ID), sign.get("secret", TEST_APP_SECRET), method,
                                 urlsplit(url).path, raw_query, data, sign.get("ts", self.sim.clock.epoch()),
                                 sign.get("nonce"))
        if data:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if key:
            headers["Idempotency-Key"] = key
        return self.session.request(method, url, data=data, headers=headers, timeout=5)

    def admin(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, f"{self.root}/_sim{path}", json=body, timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Any, str]]:
    srv, thread, base_url = start_in_thread("127.0.0.1", 0)
    yield srv, base_url
    srv.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def api(server: tuple[Any, str]) -> Api:
    srv, base_url = server
    sim: Simulator = srv.simulator
    sim.set_clock_offset(0)
    sim.reset()
    return Api(base_url, sim)


def test_base_url_and_health(server: tuple[Any, str], api: Api) -> None:
    assert server[1].endswith("/v1")
    response = requests.get(server[1] + "/health", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    conforms("/health", "get", 200, response.json())
    assert abs(response.json()["server_epoch"] - time.time()) < 5


def test_signing_vector_with_percent_encoded_query(api: Api) -> None:
    vector = json.loads((SPEC_DIR / "examples" / "00-signing-test-vectors.json").read_text())["vectors"][2]
    assert api.admin("POST", "/clock", {"now": vector["timestamp_local"]}).status_code == 200
    headers = {"X-His-App-Id": TEST_APP_ID, "X-His-Timestamp": vector["timestamp"], "X-His-Nonce": vector["nonce"],
               "X-His-Signature": vector["signature"]}
    response = requests.get(f"{api.base_url}/doctors?{vector['raw_query']}", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    conforms("/doctors", "get", 200, response.json())
    assert "DR10023" in {d["doctor_id"] for d in response.json()["items"]}
    replay = requests.get(f"{api.base_url}/doctors?{vector['raw_query']}", headers=headers, timeout=5)
    assert replay.status_code == 401 and replay.json()["code"] == "NONCE_REPLAYED"


def test_refusals(api: Api) -> None:
    bad = api.call("GET", "/campuses", secret="wrong")
    assert (bad.status_code, bad.json()["code"]) == (401, "SIGNATURE_INVALID")
    skewed = api.call("GET", "/campuses", ts=api.sim.clock.epoch() - 420)
    assert (skewed.status_code, skewed.json()["code"]) == (401, "TIMESTAMP_SKEW")
    assert skewed.json()["details"]["server_time"].endswith("+08:00")
    conforms("/campuses", "get", 401, skewed.json())
    nonce = "c2d8f6b1-9e4a-4d37-a0c5-7b3e1f9d2a68"
    assert api.call("GET", "/campuses", nonce=nonce).status_code == 200
    assert api.call("GET", "/campuses", nonce=nonce).json()["code"] == "NONCE_REPLAYED"


def test_etag_and_304(api: Api) -> None:
    for path in ("/campuses", "/departments", "/fee-schedule"):
        first = api.call("GET", path)
        assert first.status_code == 200 and first.headers["ETag"]
        conforms(path, "get", 200, first.json())
        headers = signed_headers(TEST_APP_ID, TEST_APP_SECRET, "GET", "/v1" + path, "", b"", api.sim.clock.epoch())
        headers["If-None-Match"] = first.headers["ETag"]
        cached = requests.get(api.base_url + path, headers=headers, timeout=5)
        assert cached.status_code == 304 and cached.content == b""


def test_pagination_and_validation(api: Api) -> None:
    ids: list[str] = []
    cursor = None
    while True:
        body = api.call("GET", "/doctors", {"page_size": 20} | ({"cursor": cursor} if cursor else {})).json()
        ids += [d["doctor_id"] for d in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(ids) == len(set(ids)) >= 40
    invalid = api.call("GET", "/schedules", {"date_from": "2025-06-23", "date_to": "2025-07-23"})
    assert invalid.status_code == 400
    conforms("/schedules", "get", 400, invalid.json())
    assert {f["field"] for f in invalid.json()["details"]["fields"]} == {"department_id", "doctor_id", "date_to"}
    missing = api.call("GET", "/schedules/S20990101D0301POOLAM")
    assert missing.status_code == 404 and missing.json()["details"]["resource"] == "schedule"


def test_lookup_create_link(api: Api) -> None:
    assert api.call("GET", "/patients/P000123456").json()["code"] == "PATIENT_NOT_LINKED"
    found = api.call("POST", "/patients/lookup", body=ZHANG)
    assert found.status_code == 200
    conforms("/patients/lookup", "post", 200, found.json())
    assert api.call("GET", "/patients/P000123456").status_code == 200
    child = json.loads((SPEC_DIR / "examples" / "03-create-patient-child.json").read_text())["request"]["body"]
    created = api.call("POST", "/patients", body=child, key="newpt-http-0001")
    assert created.status_code == 201 and created.json()["created"] is True
    replay = api.call("POST", "/patients", body=child, key="newpt-http-0001")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == created.json()
    assert api.call("POST", "/patients", body=child | {"name": "张小雪"}, key="newpt-http-0001").status_code == 422
    assert api.call("DELETE", "/patients/P000123456/link").status_code == 204
    assert api.call("GET", "/patients/P000123456").status_code == 403


def test_request_in_progress_while_the_first_attempt_runs(api: Api) -> None:
    child = json.loads((SPEC_DIR / "examples" / "03-create-patient-child.json").read_text())["request"]["body"]
    api.admin("POST", "/faults", {"operation": "createPatient", "delay_seconds": 0.6})
    results: dict[str, requests.Response] = {}
    first = threading.Thread(target=lambda: results.update(
        first=api.call("POST", "/patients", body=child, key="newpt-http-slow-01")))
    first.start()
    time.sleep(0.2)
    second = api.call("POST", "/patients", body=child, key="newpt-http-slow-01")
    first.join(timeout=5)
    assert (second.status_code, second.json()["code"]) == (409, "REQUEST_IN_PROGRESS")
    assert second.headers["Retry-After"] == "1" and second.json()["retryable"] is True
    assert results["first"].status_code == 201
    again = api.call("POST", "/patients", body=child, key="newpt-http-slow-01")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


def test_booking_round_trip(api: Api) -> None:
    api.admin("POST", "/clock", {"now": "2025-06-16T09:00:00+08:00"})
    assert api.admin("POST", "/reset").json()["seed_date"] == "2025-06-16"
    api.call("POST", "/patients/lookup", body=ZHANG)
    order = "WXO20250616090000777"
    lock_body = {"order_id": order, "schedule_id": "S20250623D0301DR10023AM", "patient_id": "P000123456",
                 "expected_fee_fen": 5000}
    locked = api.call("POST", "/appointments", body=lock_body, key=f"{order}:lock")
    assert locked.status_code == 201
    conforms("/appointments", "post", 201, locked.json())
    appt = locked.json()
    payment = {"channel": "wechat_pay", "transaction_id": "4200000000202506169999999999", "out_trade_no": order,
               "amount_fen": 5000, "paid_at": "2025-06-16T09:01:00+08:00"}
    confirmed = api.call("POST", f"/appointments/{appt['appointment_id']}/confirm",
                         body={"order_id": order, "payment": payment}, key=f"{order}:confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    found = api.call("GET", "/appointments", {"order_id": order}).json()["items"]
    assert [a["status"] for a in found] == ["confirmed"]
    duplicate = api.call("POST", "/appointments", body=lock_body, key=f"{order}:lock-again")
    assert duplicate.json()["details"]["existing_id"] == appt["appointment_id"]
    cancelled = api.call("POST", f"/appointments/{appt['appointment_id']}/cancel",
                         body={"order_id": order, "reason_code": "patient_request",
                               "refund_request_no": "RFO20250616091000777"}, key=f"{order}:cancel")
    assert cancelled.status_code == 200 and cancelled.json()["refund"]["refund_amount_fen"] == 5000
    log = api.admin("GET", "/requests").json()["items"]
    assert [(e["operation"], e["status"]) for e in log if e["method"] == "POST"][-4:] == [
        ("lockAppointment", 201), ("confirmAppointment", 200), ("lockAppointment", 409), ("cancelAppointment", 200)]


def _book_and_confirm(api: Api, order: str) -> dict[str, Any]:
    api.admin("POST", "/clock", {"now": "2025-06-16T09:00:00+08:00"})
    api.admin("POST", "/reset")
    assert api.call("POST", "/patients/lookup", body=ZHANG).status_code == 200
    locked = api.call("POST", "/appointments", key=f"{order}:lock", body={
        "order_id": order, "schedule_id": "S20250623D0301DR10023AM", "patient_id": "P000123456"})
    assert locked.status_code == 201
    appt: dict[str, Any] = locked.json()
    payment = {"channel": "wechat_pay", "transaction_id": "4200000000202506168888888888", "out_trade_no": order,
               "amount_fen": appt["fee_fen"], "paid_at": "2025-06-16T09:01:00+08:00"}
    confirmed = api.call("POST", f"/appointments/{appt['appointment_id']}/confirm",
                         body={"order_id": order, "payment": payment}, key=f"{order}:confirm")
    assert confirmed.status_code == 200
    return appt


def test_dropped_response_after_the_commit(api: Api) -> None:
    api.admin("POST", "/clock", {"now": "2025-06-16T09:00:00+08:00"})
    api.admin("POST", "/reset")
    api.call("POST", "/patients/lookup", body=ZHANG)
    order = "WXO20250616090000888"
    body = {"order_id": order, "schedule_id": "S20250623D0301DR10023AM", "patient_id": "P000123456"}
    assert api.admin("POST", "/faults", {"operation": "lockAppointment", "when": "drop"}).status_code == 201
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError) as dropped:
        api.call("POST", "/appointments", body=body, key=f"{order}:lock")
    assert time.monotonic() - started < 2  # closed at once, not a timeout
    assert "closed connection without response" in str(dropped.value) or "reset" in str(dropped.value).lower()
    found = api.call("GET", "/appointments", {"order_id": order}).json()["items"]
    assert [a["status"] for a in found] == ["locked"]  # the write was committed
    retry = api.call("POST", "/appointments", body=body, key=f"{order}:lock")
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["appointment_id"] == found[0]["appointment_id"]
    log = api.admin("GET", "/requests").json()["items"]
    assert [(e["operation"], e["status"], e.get("dropped", False)) for e in log if e["method"] == "POST"][-2:] == [
        ("lockAppointment", 201, True), ("lockAppointment", 201, False)]


class _Receiver(ThreadingHTTPServer):
    """The integrator's event endpoint (§8.2): checks the signature against the simulator's clock and ``secrets``,
    answers the statuses queued in ``answers`` (then 204)."""

    def __init__(self, sim: Simulator, secrets: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.sim = sim
        self.secrets = secrets
        self.answers: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path, _, query = self.path.partition("?")
        headers = dict(self.headers.items())
        signed_with = [secret for secret in self.server.secrets
                       if verify(headers, [secret], "POST", path, query, body, self.server.sim.clock.epoch()).ok]
        with self.server.lock:
            status = self.server.answers.pop(0) if self.server.answers else 204
            if not signed_with:
                status = 401
            self.server.received.append({"headers": headers, "body": json.loads(body),
                                         "signed_with": signed_with, "status": status})
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # silence the access log
        return


@pytest.fixture
def receiver(api: Api) -> Iterator[_Receiver]:
    new_secret = "his-test-event-secret-ROTATED-0002"
    srv = _Receiver(api.sim, [TEST_EVENT_SECRET, new_secret])
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    api.admin("POST", "/push", {"url": None, "event_secret": TEST_EVENT_SECRET, "background": True})
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _wait_until(condition: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def test_events_are_pushed_retried_and_signed_over_http(api: Api, receiver: _Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_port}/his/events?channel=wxoa"
    configured = api.admin("POST", "/push", {"url": url, "retry_delays": [0.2], "poll_seconds": 0.05})
    assert configured.status_code == 200 and configured.json()["running"] is True
    receiver.answers = [500]
    _book_and_confirm(api, "WXO20250616090000889")
    pulled = api.call("GET", "/events", {"since": "2025-06-16T08:00:00+08:00"}).json()["items"]
    assert [e["data"]["new_status"] for e in pulled] == ["confirmed"]
    event_id = pulled[0]["event_id"]

    def delivered() -> bool:
        items = api.admin("GET", "/push").json()["deliveries"]
        return bool(items) and items[0]["delivered_at"] is not None

    _wait_until(delivered)
    assert [(r["status"], r["headers"]["X-His-Delivery-Attempt"]) for r in receiver.received] == [(500, "1"), (204, "2")]
    for arrived in receiver.received:
        assert arrived["body"] == pulled[0] and arrived["signed_with"] == [TEST_EVENT_SECRET]
        assert arrived["headers"]["X-His-Event-Id"] == event_id
        assert arrived["headers"]["X-His-Event-Type"] == "appointment.status_changed"
        assert arrived["headers"]["Content-Type"] == "application/json; charset=utf-8"
    (status,) = api.admin("GET", "/push").json()["deliveries"]
    assert status["attempts"] == 2 and status["last_status"] == "204"

    # rotation: the receiver accepts the previous secret during the overlap, and the new one
    rotated = api.admin("POST", "/push", {"event_secret": "his-test-event-secret-ROTATED-0002", "background": False})
    assert rotated.status_code == 200
    api.admin("POST", "/push", {"duplicate": 2})
    appt = api.call("GET", "/appointments", {"order_id": "WXO20250616090000889"}).json()["items"][0]
    cancelled = api.call("POST", f"/appointments/{appt['appointment_id']}/cancel", key="WXO20250616090000889:cancel",
                         body={"order_id": "WXO20250616090000889", "reason_code": "patient_request",
                               "refund_request_no": "RFO20250616091000889"})
    assert cancelled.status_code == 200
    flushed = api.admin("POST", "/push/flush").json()["attempts"]
    assert sorted((a["attempt"], a["status"]) for a in flushed) == [(1, 204), (2, 204)]
    assert [r["signed_with"] for r in receiver.received[2:]] == [["his-test-event-secret-ROTATED-0002"]] * 2
    assert {r["body"]["data"]["new_status"] for r in receiver.received[2:]} == {"cancelled"}


def test_shutdown_stops_the_deliverer() -> None:
    srv, thread, _ = start_in_thread("127.0.0.1", 0, Simulator())
    srv.simulator.configure_push(url="http://127.0.0.1:9/his/events")
    assert srv.simulator.push.running
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive() and not srv.simulator.push.running
