"""In-memory fakes of the booking ports (the same rules as the DynamoDB adapters, thread-safe, no I/O),
schedule builders, and a ``BookingWorld`` that wires them into a ``BookingContext`` with a settable clock."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.booking import BLOCKED_HOLDER, Appointment
from chalicelib.domain.his_messages import HisError, HisRequest, HisResult
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.domain.reference import Location
from chalicelib.domain.schedules import SHANGHAI, Schedule, Slot
from chalicelib.domain.timers import Timer
from chalicelib.domain.waitlist import WaitlistEntry
from chalicelib.domain.wechat import Notice
from chalicelib.services.booking import BookingContext, ScheduleUnknownError
from chalicelib.services.ports import SlotPoolSnapshot
from tests.fakes import FakeHisRequestQueue, FakePatientBindings, FakeRefundObligations
from tests.fakes_his_events import FakeScheduleNotices

FREE, HELD, BLOCKED = "free", "held", "blocked"


class FakeSlotPool:
    def __init__(self) -> None:
        self.snapshots: dict[str, SlotPoolSnapshot] = {}
        self.slots: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.leases: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def snapshot(self, schedule_id: str) -> SlotPoolSnapshot | None:
        return self.snapshots.get(schedule_id)

    def start_preparing(self, schedule_id: str, at: datetime) -> bool:
        with self._lock:
            held = self.leases.get(schedule_id)
            if held is not None and at - held < timedelta(seconds=10):
                return False
            self.leases[schedule_id] = at
            return True

    def prepare(self, snapshot: SlotPoolSnapshot) -> None:
        with self._lock:
            sid = snapshot.schedule.schedule_id
            for s in snapshot.slots:
                state = FREE if s.status in ("available", "not_released") else BLOCKED
                self.slots.setdefault((sid, s.slot_id), (state, None))
            self.snapshots[sid] = snapshot

    def refresh(self, schedule: Schedule, at: datetime) -> None:
        with self._lock:
            current = self.snapshots.get(schedule.schedule_id)
            self.snapshots[schedule.schedule_id] = SlotPoolSnapshot(schedule, current.slots if current else (), at)

    def hold(self, schedule_id: str, holder: str, slot_ids: list[str]) -> str | None:
        with self._lock:
            for slot_id in slot_ids:
                state, current = self.slots.get((schedule_id, slot_id), (None, None))
                if state == FREE or (state == HELD and current == holder):
                    self.slots[(schedule_id, slot_id)] = (HELD, holder)
                    return slot_id
        return None

    def free_slots(self, schedule_id: str) -> list[str]:
        with self._lock:
            return [sid for (sch, sid), (state, _) in self.slots.items() if sch == schedule_id and state == FREE]

    def holder_of(self, schedule_id: str, slot_id: str) -> str | None:
        state, holder = self.slots.get((schedule_id, slot_id), (FREE, None))
        return holder if state != FREE else None

    def transfer(self, schedule_id: str, slot_id: str, from_holder: str, to_holder: str | None) -> bool:
        with self._lock:
            key = (schedule_id, slot_id)
            if key not in self.slots or self.slots[key][1] != from_holder:
                return False
            if to_holder is None:
                self.slots[key] = (FREE, None)
            else:
                self.slots[key] = (BLOCKED if to_holder == BLOCKED_HOLDER else HELD, to_holder)
            return True

    def take_back(self, schedule_id: str, slot_id: str, holder: str) -> bool:
        with self._lock:
            key = (schedule_id, slot_id)
            state, current = self.slots.get(key, (FREE, None))
            if state == FREE or current == holder:
                self.slots[key] = (HELD, holder)
                return True
            return False

    def counts(self, schedule_id: str) -> dict[str, int]:
        out = {FREE: 0, HELD: 0, BLOCKED: 0}
        for (sch, _), (state, _) in list(self.slots.items()):
            if sch == schedule_id:
                out[state] += 1
        return out


class FakeAppointments:
    def __init__(self) -> None:
        self.items: dict[str, Appointment] = {}
        self.his_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, appointment: Appointment) -> None:
        with self._lock:
            assert appointment.appointment_id not in self.items
            self.items[appointment.appointment_id] = appointment

    def get(self, appointment_id: str) -> Appointment | None:
        return self.items.get(appointment_id)

    def save(self, appointment: Appointment) -> bool:
        with self._lock:
            current = self.items.get(appointment.appointment_id)
            if current is None or current.version != appointment.version - 1:
                return False
            self.items[appointment.appointment_id] = appointment
            return True

    def of_user(self, openid: str) -> list[Appointment]:
        return [a for a in self.items.values() if a.openid == openid]

    def by_his_id(self, his_appointment_id: str) -> Appointment | None:
        found = self.his_ids.get(his_appointment_id)
        return self.items.get(found) if found else None

    def remember_his_id(self, his_appointment_id: str, appointment_id: str) -> None:
        self.his_ids[his_appointment_id] = appointment_id


class FakeBookingLimits:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], str] = {}
        self.places: dict[tuple[str, str], str] = {}
        self.daily: dict[tuple[str, str], int] = {}
        self.rate: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def claim_request(self, user: str, request_key: str, appointment_id: str, at: datetime) -> str:
        with self._lock:
            return self.requests.setdefault((user, request_key), appointment_id)

    def claim_patient_schedule(self, patient_id: str, schedule_id: str, appointment_id: str) -> str | None:
        with self._lock:
            held = self.places.setdefault((patient_id, schedule_id), appointment_id)
            return None if held == appointment_id else held

    def release_patient_schedule(self, patient_id: str, schedule_id: str, appointment_id: str) -> None:
        with self._lock:
            if self.places.get((patient_id, schedule_id)) == appointment_id:
                del self.places[(patient_id, schedule_id)]

    def place_of(self, patient_id: str, schedule_id: str) -> str | None:
        return self.places.get((patient_id, schedule_id))

    def release_request(self, user: str, request_key: str, appointment_id: str) -> None:
        with self._lock:
            if self.requests.get((user, request_key)) == appointment_id:
                del self.requests[(user, request_key)]

    def take_daily(self, counter: str, day: str, cap: int) -> bool:
        with self._lock:
            n = self.daily.get((counter, day), 0)
            if n >= cap:
                return False
            self.daily[(counter, day)] = n + 1
            return True

    def give_back_daily(self, counter: str, day: str) -> None:
        with self._lock:
            if self.daily.get((counter, day), 0) > 0:
                self.daily[(counter, day)] -= 1

    def throttle(self, user: str, at: datetime, per_minute: int) -> bool:
        with self._lock:
            key = (user, f"{at.astimezone(UTC):%Y%m%d%H%M}")
            n = self.rate.get(key, 0)
            if n >= per_minute:
                return False
            self.rate[key] = n + 1
            return True


class FakeTimers:
    def __init__(self) -> None:
        self.items: dict[str, Timer] = {}
        self._lock = threading.Lock()

    def set(self, timer: Timer) -> None:
        with self._lock:
            self.items[f"{timer.key}@{timer.due_at.isoformat()}"] = timer

    def due(self, now: datetime, limit: int = 200) -> list[Timer]:
        return sorted((t for t in self.items.values() if t.due_at <= now), key=lambda t: t.due_at)[:limit]

    def done(self, timer: Timer) -> None:
        with self._lock:
            self.items.pop(f"{timer.key}@{timer.due_at.isoformat()}", None)


class FakeWaitlist:
    def __init__(self) -> None:
        self.entries_: dict[tuple[str, str], WaitlistEntry] = {}
        self.offers: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def join(self, entry: WaitlistEntry) -> bool:
        with self._lock:
            key = (entry.schedule_id, entry.patient_id)
            if key in self.entries_:
                return False
            self.entries_[key] = entry
            return True

    def get(self, schedule_id: str, patient_id: str) -> WaitlistEntry | None:
        return self.entries_.get((schedule_id, patient_id))

    def entries(self, schedule_id: str) -> list[WaitlistEntry]:
        return [e for (s, _), e in self.entries_.items() if s == schedule_id]

    def of_user(self, openid: str) -> list[WaitlistEntry]:
        return [e for e in self.entries_.values() if e.openid == openid]

    def save(self, entry: WaitlistEntry) -> bool:
        with self._lock:
            key = (entry.schedule_id, entry.patient_id)
            current = self.entries_.get(key)
            if current is None or current.version != entry.version - 1:
                return False
            self.entries_[key] = entry
            if entry.offer is not None:
                self.offers.setdefault(entry.offer.offer_id, key)
            return True

    def by_offer(self, offer_id: str) -> WaitlistEntry | None:
        key = self.offers.get(offer_id)
        return self.entries_.get(key) if key else None


# ---- schedules ------------------------------------------------------------------------------------------
VISIT_DAY = date(2026, 12, 13)
RELEASE_AT = datetime(2026, 12, 6, 8, 0, tzinfo=SHANGHAI)
BEFORE_RELEASE = RELEASE_AT - timedelta(minutes=5)
AFTER_RELEASE = RELEASE_AT + timedelta(seconds=1)
LOCATION = Location("C01", "门诊楼", "3F", "305诊室", "出电梯右转", "本部院区")


def schedule(schedule_id: str = "SCH1", capacity: int = 5, fee_fen: int = 5000, status: str = "open",
             visit_day: date = VISIT_DAY) -> Schedule:
    start = datetime(visit_day.year, visit_day.month, visit_day.day, 8, 0, tzinfo=SHANGHAI)
    return Schedule(
        schedule_id=schedule_id, date=visit_day, session="morning", start_time=start,
        end_time=start + timedelta(hours=4), department_id="D0301", department_name="心血管内科",
        doctor_id="DR10023", doctor_name="李明", doctor_title_name="主任医师", reg_type="expert", fee_fen=fee_fen,
        capacity=capacity, remaining=capacity, release_at=RELEASE_AT,
        cancel_deadline=datetime(visit_day.year, visit_day.month, visit_day.day, 18, 0, tzinfo=SHANGHAI) - timedelta(days=1),
        status=status, location=LOCATION, stop_notice_id=None, version=1)


def slots_of(s: Schedule) -> list[Slot]:
    return [Slot(f"{s.schedule_id}-{i:02d}", i, s.start_time + timedelta(minutes=10 * (i - 1)),
                 s.start_time + timedelta(minutes=10 * i), "available") for i in range(1, s.capacity + 1)]


# ---- the world ------------------------------------------------------------------------------------------
@dataclass
class BookingWorld:
    """Fakes wired into a ``BookingContext``: a settable clock, schedules the 'HIS' knows, sent notices."""

    now: datetime = AFTER_RELEASE
    schedules: dict[str, Schedule] = field(default_factory=dict)
    pool: FakeSlotPool = field(default_factory=FakeSlotPool)
    appointments: FakeAppointments = field(default_factory=FakeAppointments)
    limits: FakeBookingLimits = field(default_factory=FakeBookingLimits)
    timers: FakeTimers = field(default_factory=FakeTimers)
    waitlist: FakeWaitlist = field(default_factory=FakeWaitlist)
    bindings: FakePatientBindings = field(default_factory=FakePatientBindings)
    requests: FakeHisRequestQueue = field(default_factory=FakeHisRequestQueue)
    stops: FakeScheduleNotices = field(default_factory=FakeScheduleNotices)
    refunds: FakeRefundObligations = field(default_factory=FakeRefundObligations)
    notices: list[tuple[Notice, str]] = field(default_factory=list)
    schedule_reads: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()

    def clock(self) -> datetime:
        return self.now

    def new_hex(self) -> str:
        with self._id_lock:
            n = next(self._ids)
        return f"{n:015x}{n * 7919:017x}"

    def read_schedule(self, schedule_id: str) -> tuple[Schedule, list[Slot]]:
        self.schedule_reads += 1
        if schedule_id not in self.schedules:
            raise ScheduleUnknownError(schedule_id)
        s = self.schedules[schedule_id]
        return s, slots_of(s)

    def context(self) -> BookingContext:
        return BookingContext(
            appointments=self.appointments, pool=self.pool, limits=self.limits, timers=self.timers,
            waitlist=self.waitlist, bindings=self.bindings, requests=self.requests, stops=self.stops,
            refunds=self.refunds, read_schedule=self.read_schedule,
            send_notice=self.send_notice,
            page_url=lambda page: f"https://h5.example/{page}", clock=self.clock, new_hex=self.new_hex,
            shuffle=list, end_user_key=b"test-key", **self.overrides)

    def send_notice(self, notice: Notice, notice_id: str) -> None:
        """Like ``notices.notify``: one notice id is delivered once."""
        if all(nid != notice_id for _, nid in self.notices):
            self.notices.append((notice, notice_id))

    def bind(self, openid: str, patient_id: str, relation: Relation = Relation.SELF, label: str = "张*") -> None:
        self.bindings.bind(PatientBinding(openid, patient_id, relation, label, self.now))

    def sent(self, operation: str) -> list[HisRequest]:
        return [r for r in self.requests.sent if r.operation == operation]


def his_ok(request: HisRequest, body: dict[str, Any], at: datetime) -> HisResult:
    return HisResult(request.request_id, request.operation, "ok", at, status=200, body=body, context=dict(request.context))


def his_error(request: HisRequest, code: str, at: datetime, status: int = 409, retryable: bool = False) -> HisResult:
    return HisResult(request.request_id, request.operation, "error", at, status=status,
                     error=HisError(code, code, retryable), context=dict(request.context))


def locked_body(request: HisRequest, at: datetime, fee_fen: int, his_id: str | None = None) -> dict[str, Any]:
    body = request.body or {}
    return {"appointment_id": his_id or f"HA-{body.get('order_id')}", "order_id": body.get("order_id"),
            "status": "locked", "fee_fen": fee_fen,
            "lock_expires_at": (at + timedelta(seconds=900)).astimezone(SHANGHAI).isoformat()}


