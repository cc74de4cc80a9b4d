"""The unsigned ``/_sim`` admin API and the Python API: clock, reset, request log, faults, switches."""

from __future__ import annotations

from datetime import datetime

from flask.testing import FlaskClient

from devstack.his_simulator.clock import SHANGHAI
from devstack.his_simulator.simulator import Simulator

from .booking_helpers import LI_SI, confirm, lock, lock_body
from .conftest import MONDAY_9AM, ZHANG_IDENTITY, SignedClient, frozen_simulator, signed_client


def test_admin_health(client: FlaskClient) -> None:
    body = client.get("/_sim/health").get_json()
    assert body["status"] == "ok" and body["app_id"] == "wxoa-cloud-test"
    assert body["counts"]["campuses"] == 2 and body["counts"]["doctors"] >= 40


def test_clock_by_offset_by_now_and_advance(client: FlaskClient, sim: Simulator) -> None:
    body = client.post("/_sim/clock", json={"now": "2025-06-16T07:59:30+08:00"}).get_json()
    assert abs(body["epoch"] - 1750031970) <= 1
    assert abs(sim.clock.epoch() - 1750031970) <= 1
    server_time = client.get("/v1/health").get_json()["server_time"]
    assert server_time.startswith("2025-06-16T07:59:3")
    client.post("/_sim/clock", json={"advance_seconds": 60})
    assert client.get("/_sim/clock").get_json()["now"].startswith("2025-06-16T08:00:3")
    body = client.post("/_sim/clock", json={"offset_seconds": 0}).get_json()
    assert body["offset_seconds"] == 0
    assert client.post("/_sim/clock", json={"now": "2025-06-16T07:59:30Z"}).status_code == 400
    assert client.post("/_sim/clock", json={}).status_code == 400


def test_reset_reseeds_for_the_simulated_day_and_forgets_links(client: FlaskClient, sim: Simulator) -> None:
    api = SignedClient(client, sim)
    assert api.post("/v1/patients/lookup", ZHANG_IDENTITY).status_code == 200
    client.post("/_sim/clock", json={"now": "2025-06-16T07:59:30+08:00"})
    body = client.post("/_sim/reset").get_json()
    assert body["seed_date"] == "2025-06-16"
    assert "S20250623D0301DR10023AM" in sim.state.schedules
    assert api.get("/v1/patients/P000123456").get_json()["code"] == "PATIENT_NOT_LINKED"


def test_seed_is_deterministic_for_a_day() -> None:
    day = datetime(2025, 6, 16, 7, 0, tzinfo=SHANGHAI)
    first = frozen_simulator(day).state
    later = frozen_simulator(day.replace(hour=15)).state
    assert [d.name for d in first.doctors.values()] == [d.name for d in later.doctors.values()]
    assert first.schedules.keys() == later.schedules.keys()
    assert [s.taken for s in first.schedules.values()] == [s.taken for s in later.schedules.values()]


def test_request_log_has_no_bodies(client: FlaskClient, sim: Simulator) -> None:
    api = SignedClient(client, sim)
    api.post("/v1/patients/lookup", ZHANG_IDENTITY)
    api.get("/v1/departments/D9999")
    client.get("/_sim/health")
    items = client.get("/_sim/requests").get_json()["items"]
    assert [(i["method"], i["path"], i["status"], i["code"]) for i in items] == [
        ("POST", "/v1/patients/lookup", 200, None),
        ("GET", "/v1/departments/D9999", 404, "RESOURCE_NOT_FOUND"),
    ]
    assert items[0]["operation"] == "lookupPatient"
    assert set(items[0]) == {"at", "method", "path", "operation", "status", "code", "replayed", "trace_id"}
    assert len(client.get("/_sim/requests?limit=1").get_json()["items"]) == 1
    assert client.delete("/_sim/requests").status_code == 204
    assert sim.requests() == []


def test_department_update_via_python_and_validation(client: FlaskClient, sim: Simulator) -> None:
    dept = sim.update_department("D0301", location={"room": "399诊室"}, bookable=False)
    assert dept.location.room == "399诊室" and dept.location.building == "门诊楼" and not dept.bookable
    assert client.post("/_sim/departments/D0301", json={"colour": "red"}).status_code == 400
    assert client.post("/_sim/departments/D0301", json={"sort_order": "1"}).status_code == 400
    assert client.post("/_sim/departments/D9999", json={"name": "x"}).status_code == 404


def test_fault_before_changes_nothing_and_a_retry_executes() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    with signed_client(sim) as api:
        api.post("/v1/patients/lookup", ZHANG_IDENTITY)
        api.client.post("/_sim/faults", json={"operation": "lockAppointment", "code": "HIS_UNAVAILABLE"})
        refused = lock(api, lock_body())
        assert refused.status_code == 503 and refused.get_json()["code"] == "HIS_UNAVAILABLE"
        assert refused.headers["Retry-After"] == "1"
        assert sim.state.schedules[LI_SI].taken == {}
        retried = lock(api, lock_body())
        assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_fault_after_is_an_unknown_outcome_resolved_by_same_key_retry() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    with signed_client(sim) as api:
        api.post("/v1/patients/lookup", ZHANG_IDENTITY)
        sim.inject_fault(operation="lockAppointment", code="OUTCOME_UNKNOWN", when="after")
        unknown = lock(api, lock_body())
        assert unknown.status_code == 504 and unknown.get_json()["retryable"] is True
        found = api.get("/v1/appointments", {"order_id": "WXO20250616090000001"}).get_json()["items"]
        assert len(found) == 1 and found[0]["status"] == "locked"
        retry = lock(api, lock_body())
        assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
        assert retry.get_json()["appointment_id"] == found[0]["appointment_id"]
        assert confirm(api, retry.get_json()).status_code == 200
        assert api.client.get("/_sim/faults").get_json() == {"items": []}


def test_invalid_fault_is_refused(client: FlaskClient) -> None:
    assert client.post("/_sim/faults", json={"code": "SLOT_TAKEN"}).status_code == 400
    assert client.post("/_sim/faults", json={"when": "during"}).status_code == 400
    assert client.post("/_sim/faults", json={"bogus": 1}).status_code == 400


def test_maintenance_window_when_enforced() -> None:
    sim = frozen_simulator(datetime(2025, 6, 16, 23, 40, tzinfo=SHANGHAI))
    with signed_client(sim) as api:
        assert api.client.post("/_sim/config", json={"enforce_maintenance": True}).status_code == 200
        write = api.post("/v1/patients/lookup", ZHANG_IDENTITY)
        assert write.status_code == 503 and write.get_json()["code"] == "HIS_MAINTENANCE"
        assert write.headers["Retry-After"] == str(50 * 60)
        assert write.get_json()["details"]["window_end"] == "2025-06-17T00:30:00+08:00"
        assert api.get("/v1/campuses").status_code == 200  # reference data is still served
        health = api.client.get("/v1/health").get_json()
        assert health["status"] == "maintenance" and health["maintenance"]["in_window"] is True
        sim.advance(51 * 60)
        assert api.post("/v1/patients/lookup", ZHANG_IDENTITY).status_code == 200
        assert api.client.get("/v1/health").get_json()["status"] == "ok"


def test_maintenance_not_enforced_by_default() -> None:
    sim = frozen_simulator(datetime(2025, 6, 16, 23, 40, tzinfo=SHANGHAI))
    with signed_client(sim) as api:
        assert api.post("/v1/patients/lookup", ZHANG_IDENTITY).status_code == 200
        health = api.client.get("/v1/health").get_json()
        assert health["status"] == "ok" and health["maintenance"]["next_start"] == "2025-06-17T23:30:00+08:00"


def test_config_rejects_unknown_switches(client: FlaskClient) -> None:
    assert client.post("/_sim/config", json={"enforce_everything": True}).status_code == 400
    assert client.post("/_sim/config", json={"enforce_maintenance": "yes"}).status_code == 400
