"""In-memory fakes of the HIS-events ports (same rules as the DynamoDB adapters, no I/O), and event builders."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from threading import Lock
from typing import Any

from chalicelib.domain.his_events import SHANGHAI, EventMessage, FollowUpPlan, FollowUpState, supersedes
from chalicelib.services.ports import HeldVersion, LedgerState
from tests.conftest import SPEC_DIR


def example(number: str) -> dict[str, Any]:
    path = next((SPEC_DIR / "examples").glob(f"{number}-*.json"))
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["delivery"]["body"]
    return body


def envelope(event_type: str, data: dict[str, Any], event_id: str = "evt_1",
             occurred_at: str = "2025-06-23T08:21:02+08:00") -> dict[str, Any]:
    return {"event_id": event_id, "event_type": event_type, "occurred_at": occurred_at, "app_id": "wxoa-cloud-test",
            "data": data}


class FakeHisEventLedger:
    def __init__(self, stale_after: timedelta = timedelta(minutes=2)) -> None:
        self.items: dict[str, tuple[LedgerState, datetime, str]] = {}
        self.stale_after = stale_after
        self._lock = Lock()

    def claim(self, event_id: str, at: datetime, take_deferred: bool = False) -> LedgerState:
        with self._lock:
            held = self.items.get(event_id)
            free = (held is None or (held[0] is LedgerState.PROCESSING and held[1] < at - self.stale_after)
                    or (take_deferred and held[0] is LedgerState.DEFERRED))
            if free:
                self.items[event_id] = (LedgerState.PROCESSING, at, "")
                return LedgerState.NEW
            assert held is not None
            return held[0]

    def deferred(self, event_id: str, at: datetime) -> None:
        self.items[event_id] = (LedgerState.DEFERRED, at, "")

    def done(self, event_id: str, outcome: str, at: datetime) -> None:
        self.items[event_id] = (LedgerState.DONE, at, outcome)

    def release(self, event_id: str) -> None:
        if event_id in self.items and self.items[event_id][0] is not LedgerState.DONE:
            del self.items[event_id]


class FakeResourceVersions:
    def __init__(self) -> None:
        self.items: dict[str, HeldVersion] = {}
        self._lock = Lock()

    def advance(self, resource: str, version: int, event_id: str, at: datetime,
                state: Mapping[str, Any] | None = None) -> bool:
        with self._lock:
            held = self.items.get(resource)
            if not supersedes(version, event_id, held.version if held else None, held.event_id if held else None):
                return False
            self.items[resource] = HeldVersion(version, event_id, dict(state or {}))
            return True

    def get(self, resource: str) -> HeldVersion | None:
        return self.items.get(resource)


class FakeHisEventQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[EventMessage, int]] = []

    def send(self, message: EventMessage, delay_seconds: int = 0) -> None:
        self.sent.append((message, delay_seconds))


class FakeEventCursor:
    def __init__(self, cursor: str | None = None) -> None:
        self.cursor = cursor

    def get(self) -> str | None:
        return self.cursor

    def advance(self, expected: str | None, cursor: str, at: datetime) -> bool:
        if self.cursor != expected:
            return False
        self.cursor = cursor
        return True


class FakeFollowUpPlans:
    def __init__(self) -> None:
        self.plans: dict[str, FollowUpPlan] = {}

    def save(self, plan: FollowUpPlan) -> bool:
        held = self.plans.get(plan.visit_id)
        if held is not None and held.version > plan.version:
            return False
        self.plans[plan.visit_id] = plan
        return True

    def get(self, visit_id: str) -> FollowUpPlan | None:
        return self.plans.get(visit_id)

    def due_on(self, day: str) -> list[FollowUpPlan]:
        return [p for p in self.plans.values()
                if p.state is FollowUpState.PLANNED and p.due_at.astimezone(SHANGHAI).date().isoformat() == day]


class FakeScheduleNotices:
    def __init__(self) -> None:
        self.stops: dict[str, Any] = {}
        self.changes: dict[str, Any] = {}
        self.appointments: dict[str, tuple[str, str]] = {}  # appointment_id -> (schedule_id, patient_id)

    @staticmethod
    def _save(store: dict[str, Any], key: str, value: Any) -> bool:
        held = store.get(key)
        if held is not None and held.version > value.version:
            return False
        store[key] = value
        return True

    def record_stop(self, stop: Any) -> bool:
        return self._save(self.stops, stop.schedule_id, stop)

    def stop_of(self, schedule_id: str) -> Any:
        return self.stops.get(schedule_id)

    def record_change(self, change: Any) -> bool:
        return self._save(self.changes, change.schedule_id, change)

    def change_of(self, schedule_id: str) -> Any:
        return self.changes.get(schedule_id)

    def remember_appointment(self, appointment_id: str, schedule_id: str, patient_id: str, at: datetime) -> None:
        self.appointments[appointment_id] = (schedule_id, patient_id)

    def schedule_of(self, appointment_id: str) -> str | None:
        found = self.appointments.get(appointment_id)
        return found[0] if found else None

    def appointments_of(self, schedule_id: str) -> list[tuple[str, str]]:
        return sorted((a, p) for a, (s, p) in self.appointments.items() if s == schedule_id)
