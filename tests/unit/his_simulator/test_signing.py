"""§4.2/§4.3: the spec's signed examples are accepted; bad signatures, skew and replays are refused correctly."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from devstack.his_simulator.auth import NonceStore, SignedRequest, Verifier, raw_path_and_query
from devstack.his_simulator.clock import SHANGHAI, SimClock
from devstack.his_simulator.config import TEST_APP_ID, TEST_APP_SECRET
from devstack.his_simulator.errors import HisError
from devstack.his_simulator.server import create_app
from devstack.his_simulator.simulator import Simulator
from his_bridge.signing import signed_headers

from .conftest import SignedClient
from .contract import assert_conforms, example

VECTORS = example("00-signing-test-vectors.json")["vectors"]
SIGNATURE_HEADER_NAMES = ("X-His-App-Id", "X-His-Timestamp", "X-His-Nonce", "X-His-Signature")


def frozen_sim(epoch: int) -> Simulator:
    """A simulator whose clock stands still at ``epoch`` and whose seed is relative to that day."""
    fixed = datetime.fromtimestamp(epoch, SHANGHAI)
    sim = Simulator(clock=SimClock(real=lambda: fixed))
    sim.reset()
    return sim


def send_recorded(client: FlaskClient, method: str, url_path: str, headers: dict[str, str], body: bytes) -> Any:
    """Send a request exactly as recorded in the spec (headers and signature unchanged)."""
    return client.open(url_path, method=method, data=body, headers=headers)


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['method']} {v['path']}" for v in VECTORS])
def test_signing_vector_is_accepted_by_the_verifier(vector: dict[str, str]) -> None:
    sim = frozen_sim(int(vector["timestamp"]))
    headers = {
        "X-His-App-Id": "wxoa-cloud-test",
        "X-His-Timestamp": vector["timestamp"],
        "X-His-Nonce": vector["nonce"],
        "X-His-Signature": vector["signature"],
    }
    request = SignedRequest(vector["method"], vector["path"], vector["raw_query"], vector["body"].encode(), headers)
    assert sim.verifier.verify(request) == "wxoa-cloud-test"


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['method']} {v['path']}" for v in VECTORS])
def test_signing_vector_passes_over_http(vector: dict[str, str]) -> None:
    sim = frozen_sim(int(vector["timestamp"]))
    headers = {
        "X-His-App-Id": "wxoa-cloud-test",
        "X-His-Timestamp": vector["timestamp"],
        "X-His-Nonce": vector["nonce"],
        "X-His-Signature": vector["signature"],
        "Content-Type": "application/json; charset=utf-8",
    }
    url = vector["path"] + ("?" + vector["raw_query"] if vector["raw_query"] else "")
    with create_app(sim).test_client() as client:
        response = client.open(url, method=vector["method"], data=vector["body"].encode(), headers=headers)
    assert response.status_code != 401, response.get_json()
    if vector["method"] == "POST":  # signed fine; the lock then wants its Idempotency-Key
        assert response.status_code == 400
        assert response.get_json()["details"]["fields"][0]["field"] == "Idempotency-Key"
    else:
        assert response.status_code == 200


def test_example_01_schedules_match_the_recorded_response() -> None:
    recorded = example("01-list-schedules.json")
    sim = frozen_sim(int(recorded["request"]["headers"]["X-His-Timestamp"]))
    url = recorded["request"]["url"].split(":8443", 1)[1]
    with create_app(sim).test_client() as client:
        response = send_recorded(client, "GET", url, recorded["request"]["headers"], b"")
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "req-20250616-075930-001"
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.get_json()
    assert_conforms("/schedules", "get", 200, body)
    ignore = {"version", "updated_at"}
    expected = [{k: v for k, v in item.items() if k not in ignore} for item in recorded["response"]["body"]["items"]]
    assert [{k: v for k, v in item.items() if k not in ignore} for item in body["items"]] == expected
    assert body["next_cursor"] is None


def test_example_02_lookup_replays_with_its_recorded_signature() -> None:
    recorded = example("02-patient-lookup.json")
    sim = frozen_sim(int(recorded["request"]["headers"]["X-His-Timestamp"]))
    body = json.dumps(recorded["request"]["body"], ensure_ascii=False, separators=(",", ":")).encode()
    with create_app(sim).test_client() as client:
        response = send_recorded(client, "POST", "/v1/patients/lookup", recorded["request"]["headers"], body)
    assert response.status_code == 200
    assert response.get_json() == recorded["response"]["body"]


def test_example_03_create_child_replays_with_its_recorded_signature() -> None:
    recorded = example("03-create-patient-child.json")
    sim = frozen_sim(int(recorded["request"]["headers"]["X-His-Timestamp"]))
    body = json.dumps(recorded["request"]["body"], ensure_ascii=False, separators=(",", ":")).encode()
    with create_app(sim).test_client() as client:
        response = send_recorded(client, "POST", "/v1/patients", recorded["request"]["headers"], body)
    assert response.status_code == 201
    got = response.get_json()
    assert_conforms("/patients", "post", 201, got)
    want = recorded["response"]["body"]
    same = ("name", "gender", "birth_date", "id_type", "id_number_masked", "phone_masked", "created")
    assert {k: got[k] for k in same} == {k: want[k] for k in same}
    assert got["created_at"] == datetime.fromtimestamp(1750031941, SHANGHAI).isoformat()
    assert [c["card_type"] for c in got["cards"]] == ["e_card"]


def test_example_04_lock_replays_with_its_recorded_signature() -> None:
    recorded = example("04-appointment-lock.json")
    sim = frozen_sim(int(recorded["request"]["headers"]["X-His-Timestamp"]))
    sim.link_patient("P000123456")
    body = json.dumps(recorded["request"]["body"], ensure_ascii=False, separators=(",", ":")).encode()
    with create_app(sim).test_client() as client:
        response = send_recorded(client, "POST", "/v1/appointments", recorded["request"]["headers"], body)
    assert response.status_code == 201, response.get_json()
    got = response.get_json()
    assert_conforms("/appointments", "post", 201, got)
    want = recorded["response"]["body"]
    assert {k: v for k, v in got.items() if k != "appointment_id"} == {
        k: v for k, v in want.items() if k != "appointment_id"
    }


# ---------------------------------------------------------------- refusals


def test_health_is_unsigned_and_reports_server_time(client: FlaskClient, sim: Simulator) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert_conforms("/health", "get", 200, body)
    assert abs(body["server_epoch"] - sim.clock.epoch()) <= 1
    assert body["server_time"].endswith("+08:00")


def test_unsigned_request_is_refused(client: FlaskClient) -> None:
    response = client.get("/v1/campuses")
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == "SIGNATURE_INVALID" and body["retryable"] is False
    assert body["trace_id"] == response.headers["X-His-Trace-Id"]


def test_wrong_secret_is_signature_invalid(api: SignedClient) -> None:
    response = api.get("/v1/campuses", secret="not-the-secret")
    assert response.status_code == 401
    assert response.get_json()["code"] == "SIGNATURE_INVALID"


def test_unknown_app_is_signature_invalid(api: SignedClient) -> None:
    response = api.get("/v1/campuses", app_id="someone-else")
    assert response.get_json()["code"] == "SIGNATURE_INVALID"


def test_tampered_query_is_signature_invalid(api: SignedClient, client: FlaskClient, sim: Simulator) -> None:
    headers = signed_headers(TEST_APP_ID, TEST_APP_SECRET, "GET", "/v1/departments", "campus_id=C01", b"",
                             sim.clock.epoch())
    response = client.get("/v1/departments?campus_id=C02", headers=headers)
    assert response.get_json()["code"] == "SIGNATURE_INVALID"


def test_path_is_signed_as_sent_not_decoded(client: FlaskClient, sim: Simulator) -> None:
    sent = "/v1/doctors/DR%31%30%30%32%33"  # the same resource, percent-encoded on the wire
    decoded_signature = signed_headers(TEST_APP_ID, TEST_APP_SECRET, "GET", "/v1/doctors/DR10023", "", b"",
                                       sim.clock.epoch())
    assert client.get(sent, headers=decoded_signature).get_json()["code"] == "SIGNATURE_INVALID"
    as_sent = signed_headers(TEST_APP_ID, TEST_APP_SECRET, "GET", sent, "", b"", sim.clock.epoch())
    response = client.get(sent, headers=as_sent)
    assert response.status_code == 200 and response.get_json()["doctor_id"] == "DR10023"


@pytest.mark.parametrize("skew", [301, -301, 3600])
def test_timestamp_outside_window_is_skew_with_server_time(api: SignedClient, sim: Simulator, skew: int) -> None:
    now = sim.clock.epoch()
    response = api.get("/v1/campuses", timestamp=now + skew)
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == "TIMESTAMP_SKEW" and body["retryable"] is True
    assert abs(body["details"]["server_epoch"] - now) <= 1
    assert body["details"]["server_time"].endswith("+08:00")
    assert body["details"]["request_epoch"] == now + skew


def test_timestamp_at_the_edge_of_the_window_is_accepted(sim: Simulator) -> None:
    fixed = datetime(2025, 6, 16, 8, 0, 0, tzinfo=SHANGHAI)
    frozen = Simulator(clock=SimClock(real=lambda: fixed))
    with create_app(frozen).test_client() as client:
        api = SignedClient(client, frozen)
        assert api.get("/v1/policies", timestamp=int(fixed.timestamp()) - 300).status_code == 200
        assert api.get("/v1/policies", timestamp=int(fixed.timestamp()) + 300).status_code == 200


def test_replayed_nonce_is_refused(api: SignedClient) -> None:
    nonce = "3f9d2c7a-61b4-4e0a-9a57-0c1e8b2d4f60"
    assert api.get("/v1/campuses", nonce=nonce).status_code == 200
    response = api.get("/v1/campuses", nonce=nonce)
    assert response.status_code == 401
    assert response.get_json()["code"] == "NONCE_REPLAYED"
    assert response.get_json()["retryable"] is True


def test_nonce_is_recorded_only_after_a_valid_signature(api: SignedClient) -> None:
    nonce = "a-nonce-used-by-a-bad-attempt"
    assert api.get("/v1/campuses", nonce=nonce, secret="wrong").get_json()["code"] == "SIGNATURE_INVALID"
    assert api.get("/v1/campuses", nonce=nonce).status_code == 200


def test_nonce_can_be_reused_after_600_seconds(api: SignedClient, sim: Simulator) -> None:
    nonce = "nonce-reused-after-ten-minutes"
    assert api.get("/v1/campuses", nonce=nonce).status_code == 200
    sim.advance(601)
    assert api.get("/v1/campuses", nonce=nonce).status_code == 200


def test_verification_order_skew_before_signature() -> None:
    clock = SimClock()
    verifier = Verifier(TEST_APP_ID, [TEST_APP_SECRET], clock, NonceStore(600))
    headers = {"X-His-App-Id": TEST_APP_ID, "X-His-Timestamp": str(clock.epoch() - 1000),
               "X-His-Nonce": "n" * 20, "X-His-Signature": "0" * 64}
    with pytest.raises(HisError) as raised:
        verifier.verify(SignedRequest("GET", "/v1/campuses", "", b"", headers))
    assert raised.value.code == "TIMESTAMP_SKEW"


def test_previous_secret_is_accepted_during_rotation() -> None:
    from devstack.his_simulator.config import SimConfig

    sim = Simulator(config=SimConfig(app_secret="new-secret-0002", previous_app_secrets=[TEST_APP_SECRET]))
    with create_app(sim).test_client() as client:
        api = SignedClient(client, sim)
        assert api.get("/v1/campuses").status_code == 200
        assert api.get("/v1/campuses", secret="new-secret-0002").status_code == 200
        assert api.get("/v1/campuses", secret="retired-secret").status_code == 401


def test_raw_path_falls_back_to_path_info_when_no_raw_uri() -> None:
    path, query = raw_path_and_query({"PATH_INFO": "/v1/doctors", "QUERY_STRING": "keyword=%E6%9D%8E"})
    assert (path, query) == ("/v1/doctors", "keyword=%E6%9D%8E")
    path, query = raw_path_and_query({"RAW_URI": "http://host:8090/v1/schedules?a=%2B1"})
    assert (path, query) == ("/v1/schedules", "a=%2B1")


def test_every_response_has_trace_id_and_echoes_request_id(api: SignedClient) -> None:
    for response in (
        api.get("/v1/campuses", headers={"X-Request-Id": "req-1"}),
        api.get("/v1/departments/NOPE", headers={"X-Request-Id": "req-2"}),
        api.get("/v1/campuses", secret="bad", headers={"X-Request-Id": "req-3"}),
    ):
        assert len(response.headers["X-His-Trace-Id"]) == 16
        assert response.headers["X-Request-Id"].startswith("req-")
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def test_invalid_request_id_is_a_validation_error(api: SignedClient) -> None:
    response = api.get("/v1/campuses", headers={"X-Request-Id": "x" * 65})
    assert response.status_code == 400
    assert response.get_json()["details"]["fields"][0]["field"] == "X-Request-Id"
