"""The load-test setup drivers: an extra session with a chosen capacity and release time, and fictitious patients
linked to the app, usable through the signed API like any other (``load.py``, ``routes/admin_load.py``)."""

from __future__ import annotations

from .booking_helpers import lock
from .conftest import MONDAY_9AM, frozen_simulator, signed_client

RELEASE = "2025-06-16T09:00:30+08:00"  # 30 s after the frozen clock


def test_extra_pool_session_is_held_back_until_its_release_time_then_lockable_by_a_new_patient() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    with signed_client(sim) as api:
        made = api.client.post("/_sim/schedules", json={"date": "2025-06-18", "session": "evening",
                                                        "department_id": "D0301", "capacity": 100,
                                                        "release_at": RELEASE})
        assert made.status_code == 201
        schedule = made.get_json()
        assert schedule["schedule_id"] == "S20250618D0301POOLEV"
        assert schedule["capacity"] == 100 and schedule["remaining"] == 100  # a pool: not capped by windows
        assert schedule["status"] == "not_released" and schedule["release_at"] == RELEASE
        again = api.client.post("/_sim/schedules", json={"date": "2025-06-18", "session": "evening",
                                                         "department_id": "D0301", "capacity": 100})
        assert again.status_code == 409 and again.get_json()["code"] == "DUPLICATE_REQUEST"

        patients = api.client.post("/_sim/patients", json={"count": 3}).get_json()["items"]
        assert len({p["patient_id"] for p in patients}) == 3
        body = {"order_id": "WXO-LOAD-0001", "schedule_id": "S20250618D0301POOLEV",
                "patient_id": patients[0]["patient_id"]}
        early = lock(api, body)
        assert early.status_code == 409 and early.get_json()["code"] == "SLOT_NOT_RELEASED"
        sim.advance(30)
        locked = lock(api, body | {"order_id": "WXO-LOAD-0002"})
        assert locked.status_code == 201, locked.get_json()
        slots = api.get("/v1/schedules/S20250618D0301POOLEV/slots").get_json()["items"]
        assert len(slots) == 100 and sum(s["status"] == "available" for s in slots) == 99


def test_setup_drivers_refuse_bad_input() -> None:
    sim = frozen_simulator(MONDAY_9AM)
    with signed_client(sim) as api:
        bad = api.client.post("/_sim/schedules", json={"date": "18/06", "session": "night", "department_id": "D0300",
                                                       "capacity": 0, "release_at": "2025-06-16T09:00:00Z"})
        fields = {f["field"] for f in bad.get_json()["details"]["fields"]}
        assert bad.status_code == 400 and fields == {"date", "session", "department_id", "capacity", "release_at"}
        late = api.client.post("/_sim/schedules", json={"date": "2025-06-18", "session": "morning",
                                                        "department_id": "D0301", "capacity": 5,
                                                        "release_at": "2025-06-18T08:00:00+08:00"})
        assert late.status_code == 400
        assert api.client.post("/_sim/patients", json={"count": 0}).status_code == 400
        assert api.client.post("/_sim/patients", json=[1]).status_code == 400
