"""§8.1 event push (``push.py``) with an in-process receiver in place of HTTP: signing (§4.4), headers, retries and
parking, maintenance hold, duplicates, reordering, ignored acknowledgements, secret rotation, the admin API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest

from devstack.his_simulator import events
from devstack.his_simulator.clock import SHANGHAI
from devstack.his_simulator.config import TEST_APP_ID, TEST_EVENT_SECRET
from devstack.his_simulator.push import build_delivery
from devstack.his_simulator.simulator import Simulator
from his_bridge.signing import verify

from .booking_helpers import confirm, lock, lock_body
from .conftest import MONDAY_9AM, SignedClient, frozen_simulator, signed_client
from .contract import example

URL = "https://his-callback.example-cloud.internal/his/events"


class Receiver:
    """Records what arrives and answers the statuses queued in ``answers`` (then 204); checks signatures like the
    integrator's receiver must (§4.4), against ``secrets``."""

    def __init__(self, sim: Simulator, secrets: list[str] | None = None) -> None:
        self.sim = sim
        self.secrets = secrets or [TEST_EVENT_SECRET]
        self.answers: list[int | Exception] = []
        self.received: list[dict[str, Any]] = []
        self.barrier: threading.Barrier | None = None
        self.delay = 0.0
        self._lock = threading.Lock()

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        if self.barrier is not None:
            self.barrier.wait(timeout=2)  # raises BrokenBarrierError unless every copy is in flight together
        if self.delay:
            time.sleep(self.delay)
        path = url.split("://", 1)[1].split("/", 1)[1]
        verdict = verify(headers, self.secrets, "POST", "/" + path.split("?", 1)[0],
                         path.split("?", 1)[1] if "?" in path else "", body, self.sim.clock.epoch())
        with self._lock:
            self.received.append({"headers": dict(headers), "body": json.loads(body), "signed": verdict.ok})
            answer = self.answers.pop(0) if self.answers else 204
        if isinstance(answer, Exception):
            raise answer
        return answer if verdict.ok else 401

    def event_ids(self) -> list[str]:
        return [r["body"]["event_id"] for r in self.received]


@pytest.fixture
def pushing() -> Iterator[tuple[Simulator, SignedClient, Receiver]]:
    """Monday 09:00 (frozen), 张三 linked, push to ``URL`` driven by flush only."""
    sim = frozen_simulator(MONDAY_9AM)
    receiver = Receiver(sim)
    sim.push.transport = receiver
    sim.configure_push(url=URL, background=False)
    with signed_client(sim) as api:
        assert api.post("/v1/patients/lookup", {"method": "identity", "id_type": "resident_id",
                                                "id_number": "110101199003070011", "name": "张三",
                                                "phone": "13800000001"}).status_code == 200
        yield sim, api, receiver
    sim.close()


def _emit(sim: Simulator, count: int = 1) -> list[str]:
    ids = []
    with sim.lock:
        for number in range(count):
            data = {"appointment_id": f"A{number:03d}", "patient_id": "P000123456", "status_version": number + 1}
            ids.append(events.emit(sim.state, TEST_APP_ID, "appointment.status_changed", data, sim.now()).event_id)
    return ids


def _delivery(sim: Simulator, event_id: str) -> dict[str, Any]:
    return next(d for d in sim.push_status()["deliveries"] if d["event_id"] == event_id)


@pytest.mark.parametrize(
    "name", ["13-event-queue-approaching", "14-event-appointment-cancelled-by-stop", "15-event-report-finalized"]
)
def test_signed_exactly_like_the_spec_examples(name: str) -> None:
    delivery = example(name + ".json")["delivery"]
    headers = delivery["headers"]
    body, built = build_delivery(delivery["body"], delivery["url"], TEST_APP_ID, TEST_EVENT_SECRET,
                                 int(headers["X-His-Delivery-Attempt"]), int(headers["X-His-Timestamp"]),
                                 headers["X-His-Nonce"])
    assert built == headers
    assert json.loads(body) == delivery["body"]


def test_a_booking_pushes_its_events_signed_with_the_event_secret(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, api, receiver = pushing
    appt = lock(api, lock_body()).get_json()
    assert confirm(api, appt).status_code == 200
    attempts = sim.flush_push()
    assert [(a["attempt"], a["status"], a["acked"]) for a in attempts] == [(1, 204, True)]
    (arrived,) = receiver.received
    pulled = api.get("/v1/events", {"since": "2025-06-16T08:00:00+08:00"}).get_json()["items"]
    assert arrived["body"] == pulled[0] and arrived["signed"]
    headers = arrived["headers"]
    assert headers["X-His-Event-Id"] == pulled[0]["event_id"]
    assert headers["X-His-Event-Type"] == "appointment.status_changed"
    assert headers["X-His-Delivery-Attempt"] == "1" and headers["X-His-App-Id"] == TEST_APP_ID
    assert headers["X-His-Timestamp"] == str(sim.clock.epoch())
    status = _delivery(sim, pulled[0]["event_id"])
    assert status["attempts"] == 1 and status["delivered_at"] == "2025-06-16T09:00:00+08:00"
    assert status["last_status"] == "204" and status["next_attempt_in_seconds"] is None
    assert sim.flush_push() == []  # acknowledged: never again


def test_failures_are_retried_on_schedule_and_signed_afresh(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    (event_id,) = _emit(sim)
    receiver.answers = [500, TimeoutError(), ConnectionRefusedError("connection refused")]
    assert [a["result"] for a in sim.flush_push()] == ["500"]
    assert 9 < _delivery(sim, event_id)["next_attempt_in_seconds"] <= 10
    assert sim.flush_push() == []  # not due yet
    sim.advance(10)
    assert [a["result"] for a in sim.flush_push()] == ["timeout"]
    sim.advance(30)
    assert [a["result"] for a in sim.flush_push()] == ["connection refused"]
    sim.advance(59)
    assert sim.flush_push() == []
    sim.advance(1)
    assert [(a["attempt"], a["acked"]) for a in sim.flush_push()] == [(4, True)]
    assert [r["headers"]["X-His-Delivery-Attempt"] for r in receiver.received] == ["1", "2", "3", "4"]
    assert len({r["headers"]["X-His-Nonce"] for r in receiver.received}) == 4
    assert set(receiver.event_ids()) == {event_id}
    assert _delivery(sim, event_id)["attempts"] == 4


def test_default_schedule_ends_parked_24_hours_after_the_first_attempt(
    pushing: tuple[Simulator, SignedClient, Receiver],
) -> None:
    sim, _, receiver = pushing
    (event_id,) = _emit(sim)
    receiver.answers = [503] * 100
    delays = []
    elapsed = 0.0
    sim.flush_push()
    while not (status := _delivery(sim, event_id))["parked"]:
        delay = status["next_attempt_in_seconds"]
        delays.append(round(delay))
        sim.advance(delay + 0.01)
        elapsed += delay
        assert len(sim.flush_push()) == 1
    assert delays[:8] == [10, 30, 60, 300, 900, 1800, 3600, 3600]
    assert set(delays[6:]) == {3600} and elapsed <= 24 * 3600
    assert status["attempts"] == 30 and status["next_attempt_in_seconds"] is None
    sim.advance(7200)
    assert sim.flush_push() == []  # parked: left to the pull API


def test_retry_override_and_parking(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    sim.configure_push(retry_delays=[1, 2], repeat_delay_seconds=5, give_up_after_seconds=12)
    (event_id,) = _emit(sim)
    receiver.answers = [500] * 10
    attempts = 0
    for delay in (0, 1, 2, 5):
        sim.advance(delay)
        attempts += len(sim.flush_push())
    assert attempts == 4 and _delivery(sim, event_id)["parked"]


def test_a_late_2xx_is_not_an_acknowledgement(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    sim.configure_push(ack_timeout_seconds=0.1)
    (event_id,) = _emit(sim)
    receiver.delay = 0.2
    (attempt,) = sim.flush_push()
    assert attempt["status"] == 204 and not attempt["acked"] and attempt["result"] == "204 (late)"
    assert _delivery(sim, event_id)["delivered_at"] is None


def test_events_are_held_during_the_maintenance_window() -> None:
    sim = frozen_simulator(datetime(2025, 6, 16, 23, 40, tzinfo=SHANGHAI))
    receiver = Receiver(sim)
    sim.push.transport = receiver
    sim.configure_push(url=URL, background=False)
    sim.config.enforce_maintenance = True
    (event_id,) = _emit(sim)
    assert sim.flush_push() == [] and sim.push_status()["held_for_maintenance"] is True
    sim.advance(50 * 60)  # 00:30
    assert [a["event_id"] for a in sim.flush_push()] == [event_id]
    sim.close()


def test_duplicates_are_delivered_concurrently(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    sim.configure_push(duplicate=3)
    receiver.barrier = threading.Barrier(3)
    (event_id,) = _emit(sim)
    attempts = sim.flush_push()
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3] and all(a["acked"] for a in attempts)
    assert receiver.event_ids() == [event_id] * 3
    assert len({r["headers"]["X-His-Nonce"] for r in receiver.received}) == 3
    assert _delivery(sim, event_id)["attempts"] == 3


def test_reverse_reordering_holds_a_batch(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    sim.configure_push(reorder="reverse", reorder_batch=3, background=False)
    first_two = _emit(sim, 2)
    assert all(_delivery(sim, e)["held_for_reorder"] for e in first_two)
    third = _emit(sim)
    sim.flush_push()
    assert receiver.event_ids() == list(reversed(first_two + third))


def test_shuffled_order_is_reproducible() -> None:
    orders = []
    for _ in range(2):
        sim = frozen_simulator(MONDAY_9AM)
        receiver = Receiver(sim)
        sim.push.transport = receiver
        sim.configure_push(url=URL, background=False, reorder="shuffle", reorder_batch=6)
        ids = _emit(sim, 6)
        sim.flush_push()
        orders.append([ids.index(e) for e in receiver.event_ids()])
        sim.close()
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(6)) and orders[0] != list(range(6))


def test_fail_next_ignores_acknowledgements(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    sim.configure_push(fail_next=1)
    (event_id,) = _emit(sim)
    (attempt,) = sim.flush_push()
    assert attempt["status"] == 204 and attempt["ignored"] and not attempt["acked"]
    assert _delivery(sim, event_id)["last_status"] == "204 (ignored: fail_next)"
    assert sim.push_status()["faults"]["fail_next"] == 0
    sim.advance(10)
    assert [a["acked"] for a in sim.flush_push()] == [True]
    assert len(receiver.received) == 2


def test_rotating_the_event_secret(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    new_secret = "his-test-event-secret-ROTATED-0002"
    receiver.secrets = [new_secret, TEST_EVENT_SECRET]  # the receiver during the overlap
    _emit(sim)
    sim.flush_push()
    sim.rotate_event_secret(new_secret)
    assert sim.config.event_secret == new_secret and sim.config.previous_event_secrets == [TEST_EVENT_SECRET]
    _emit(sim)
    sim.flush_push()
    assert [r["signed"] for r in receiver.received] == [True, True]
    receiver.secrets = [TEST_EVENT_SECRET]  # a receiver that only knows the old secret refuses the new signatures
    _emit(sim)
    (refused,) = sim.flush_push()
    assert refused["status"] == 401 and not refused["acked"]


def test_events_recorded_while_the_push_is_off_are_not_pushed() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    receiver = Receiver(sim)
    sim.push.transport = receiver
    _emit(sim)  # no URL yet
    sim.configure_push(url=URL, background=False)
    (later,) = _emit(sim)
    sim.flush_push()
    assert receiver.event_ids() == [later]
    sim.configure_push(url=None)
    _emit(sim)
    sim.configure_push(url=URL)
    assert sim.flush_push() == []
    sim.close()


def test_reset_forgets_deliveries_and_faults(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, _, receiver = pushing
    sim.configure_push(duplicate=2)
    receiver.answers = [500, 500]
    _emit(sim)
    sim.flush_push()
    sim.reset()
    status = sim.push_status()
    assert status["deliveries"] == [] and status["faults"]["duplicate"] == 1 and status["url"] == URL


def test_background_thread_delivers_and_stops_on_close() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    receiver = Receiver(sim)
    sim.push.transport = receiver
    sim.configure_push(url=URL, retry_delays=[0.05], poll_seconds=0.02)
    assert sim.push.running
    receiver.answers = [500]
    (event_id,) = _emit(sim)
    deadline = time.monotonic() + 5
    while _delivery(sim, event_id)["delivered_at"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _delivery(sim, event_id)["attempts"] == 2 and _delivery(sim, event_id)["delivered_at"]
    sim.close()
    assert not sim.push.running
    sim.configure_push(url=URL)  # a closed simulator does not start it again
    assert not sim.push.running


def test_admin_api(pushing: tuple[Simulator, SignedClient, Receiver]) -> None:
    sim, api, receiver = pushing
    client = api.client
    for bad in ({"url": "ftp://x"}, {"url": 3}, {"duplicate": 0}, {"reorder": "sideways"}, {"fail_next": -1},
                {"retry_delays": [1, "2"]}, {"colour": "red"}, {"event_secret": "short"}, {"background": "yes"}):
        response = client.post("/_sim/push", json=bad)
        assert response.status_code == 400 and response.get_json()["code"] == "VALIDATION_ERROR", bad
    body = client.post("/_sim/push", json={"fail_next": 1, "retry_delays": [2, 4]}).get_json()
    assert body["faults"]["fail_next"] == 1 and body["settings"]["retry_delays"] == [2, 4] and body["url"] == URL
    (event_id,) = _emit(sim)
    flushed = client.post("/_sim/push/flush").get_json()
    assert flushed["held_for_maintenance"] is False
    assert [(a["event_id"], a["ignored"]) for a in flushed["attempts"]] == [(event_id, True)]
    sim.advance(2)
    assert [a["acked"] for a in client.post("/_sim/push/flush").get_json()["attempts"]] == [True]
    (delivery,) = client.get("/_sim/push").get_json()["deliveries"]
    assert delivery["event_id"] == event_id and delivery["attempts"] == 2 and delivery["delivered_at"]
    rotated = client.post("/_sim/push", json={"event_secret": "his-test-event-secret-ROTATED-0003"})
    assert rotated.status_code == 200 and "secret" not in json.dumps(rotated.get_json())  # never echoed
    assert sim.config.event_secret == "his-test-event-secret-ROTATED-0003"
    assert client.get("/_sim/health").get_json()["push_url"] == URL
    assert len(receiver.received) == 2
