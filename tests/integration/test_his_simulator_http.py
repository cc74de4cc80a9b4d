"""The HIS simulator over real HTTP: a threaded werkzeug server on a free port, called with ``requests`` and signed
with ``his_bridge.signing`` exactly as the bridge signs."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from devstack.his_simulator.config import TEST_APP_ID, TEST_APP_SECRET
from devstack.his_simulator.server import start_in_thread
from devstack.his_simulator.simulator import Simulator
from his_bridge.signing import signed_headers

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
