"""Injected faults (``faults.py``, ``web.py``): rates drawn from a seeded generator, ``times``, errors before and
after the commit, late answers before and after the commit, dropped responses, ``retry_after``."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from devstack.his_simulator.faults import Fault, FaultBook
from devstack.his_simulator.server import create_app
from devstack.his_simulator.simulator import Simulator

from .booking_helpers import LI_SI, lock, lock_body
from .conftest import MONDAY_9AM, ZHANG_IDENTITY, SignedClient, frozen_simulator, signed_client
from .contract import assert_conforms


def _pattern(seed: int, rate: float, requests: int = 200) -> list[bool]:
    book = FaultBook(seed)
    book.add(Fault(operation="listCampuses", code="HIS_BUSY", rate=rate, times=0))
    return [book.take("listCampuses") is not None for _ in range(requests)]


def test_rate_applies_to_that_fraction_reproducibly() -> None:
    first = _pattern(7, 0.3)
    assert first == _pattern(7, 0.3)  # the same seed draws the same requests
    assert first != _pattern(8, 0.3)
    assert 40 <= sum(first) <= 80  # about 30 % of 200
    assert not any(_pattern(7, 0.0)) and all(_pattern(7, 1.0))


def test_times_counts_the_requests_a_fault_applied_to() -> None:
    book = FaultBook(1)
    book.add(Fault(operation="getDoctor", code="INTERNAL_ERROR", rate=0.5, times=3))
    hits = [book.take("getDoctor") is not None for _ in range(100)]
    assert sum(hits) == 3 and book.active() == []
    book.add(Fault(operation="getDoctor", times=0))
    assert all(book.take("getDoctor") is not None for _ in range(20))
    assert book.take("listDoctors") is None
    book.clear()
    assert book.active() == [] and book.take("getDoctor") is None


def test_clear_restarts_the_draws() -> None:
    book = FaultBook(3)
    book.add(Fault(operation="*", rate=0.5, times=0))
    before = [book.take("x") is not None for _ in range(50)]
    book.clear()
    book.add(Fault(operation="*", rate=0.5, times=0))
    assert [book.take("x") is not None for _ in range(50)] == before


def test_error_rate_over_http(client: FlaskClient, sim: Simulator) -> None:
    api = SignedClient(client, sim)
    assert client.post("/_sim/faults", json={"operation": "listCampuses", "code": "HIS_UNAVAILABLE", "rate": 0.5,
                                             "times": 0}).status_code == 201
    statuses = [api.get("/v1/campuses").status_code for _ in range(40)]
    assert set(statuses) == {200, 503} and 10 <= statuses.count(503) <= 30
    assert api.get("/v1/departments").status_code == 200  # other operations untouched
    client.delete("/_sim/faults")
    assert {api.get("/v1/campuses").status_code for _ in range(5)} == {200}


def test_his_busy_with_a_chosen_retry_after(api: SignedClient, sim: Simulator) -> None:
    sim.inject_fault(operation="listDoctors", code="HIS_BUSY", retry_after=7)
    busy = api.get("/v1/doctors")
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "7"
    assert busy.get_json()["details"] == {"reason": "backend_busy"} and busy.get_json()["retryable"] is True
    assert_conforms("/doctors", "get", 429, busy.get_json())
    assert api.get("/v1/doctors").status_code == 200


def test_drop_commits_then_closes_without_a_response() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    with signed_client(sim) as api:
        api.post("/v1/patients/lookup", ZHANG_IDENTITY)
        sim.inject_fault(operation="lockAppointment", when="drop")
        with pytest.raises(ConnectionError):
            lock(api, lock_body())
        found = api.get("/v1/appointments", {"order_id": "WXO20250616090000001"}).get_json()["items"]
        assert [a["status"] for a in found] == ["locked"]  # the write happened
        retry = lock(api, lock_body())
        assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
        assert retry.get_json()["appointment_id"] == found[0]["appointment_id"]
        assert len(sim.state.schedules[LI_SI].taken) == 1
        dropped = [e for e in sim.requests() if e.get("dropped")]
        assert [(e["operation"], e["status"]) for e in dropped] == [("lockAppointment", 201)]


def test_stall_after_the_commit_replays_a_concurrent_retry() -> None:
    """``delay_at: after``: the outcome is stored before the late answer, so a same-key retry meanwhile is replayed."""
    sim = frozen_simulator(MONDAY_9AM)
    app = create_app(sim)  # one client per thread, without preserved contexts
    first, second = SignedClient(app.test_client(), sim), SignedClient(app.test_client(), sim)
    first.post("/v1/patients/lookup", ZHANG_IDENTITY)
    sim.inject_fault(operation="lockAppointment", delay_seconds=0.6, delay_at="after")
    results: dict[str, Any] = {}
    started = time.monotonic()
    slow = threading.Thread(target=lambda: results.update(first=lock(first, lock_body())))
    slow.start()
    time.sleep(0.25)
    assert len(sim.state.schedules[LI_SI].taken) == 1  # committed while the answer is still held back
    retry = lock(second, lock_body())
    slow.join(timeout=5)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert results["first"].status_code == 201 and time.monotonic() - started >= 0.6
    assert retry.get_json() == results["first"].get_json()


def test_stall_before_the_commit_shows_request_in_progress() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    app = create_app(sim)
    first, second = SignedClient(app.test_client(), sim), SignedClient(app.test_client(), sim)
    first.post("/v1/patients/lookup", ZHANG_IDENTITY)
    sim.inject_fault(operation="lockAppointment", delay_seconds=0.5)
    results: dict[str, Any] = {}
    slow = threading.Thread(target=lambda: results.update(first=lock(first, lock_body())))
    slow.start()
    time.sleep(0.2)
    assert sim.state.schedules[LI_SI].taken == {}  # nothing committed yet
    retry = lock(second, lock_body())
    slow.join(timeout=5)
    assert (retry.status_code, retry.get_json()["code"]) == (409, "REQUEST_IN_PROGRESS")
    assert results["first"].status_code == 201


@pytest.mark.parametrize(
    "fault",
    [
        {"when": "drop", "code": "INTERNAL_ERROR"},
        {"rate": 1.5},
        {"rate": "half"},
        {"delay_at": "during"},
        {"times": "3"},
        {"times": -1},
        {"retry_after": -2},
        {"delay_seconds": 61},
        {"operation": ""},
    ],
)
def test_invalid_faults_are_refused(client: FlaskClient, fault: dict[str, object]) -> None:
    response = client.post("/_sim/faults", json=fault)
    assert response.status_code == 400 and response.get_json()["code"] == "VALIDATION_ERROR"
    assert client.get("/_sim/faults").get_json() == {"items": []}


def test_faults_are_listed_with_their_settings(client: FlaskClient) -> None:
    body = {"operation": "confirmAppointment", "when": "drop", "rate": 0.25, "times": 0, "delay_seconds": 1,
            "delay_at": "after"}
    assert client.post("/_sim/faults", json=body).status_code == 201
    (listed,) = client.get("/_sim/faults").get_json()["items"]
    assert listed == body | {"code": None, "retry_after": None}
