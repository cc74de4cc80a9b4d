"""The slot pool, the fairness limits and the timers on DynamoDB (table ``booking``, ``models.BookingItem``).

Slot pool (the 08:00 rush writes here):
* a slot ............. pk = "slot#<schedule_id>#<slot_id>", sk = "slot"; ``state`` free | held | blocked,
                       ``value`` the holder. One item per slot: the writers of one popular session spread
                       over as many keys as it has slots, and a hold is one conditional update (state = free).
* the snapshot ....... pk = "pool#<schedule_id>", sk = "pool"; ``data`` the schedule and its slot list,
                       ``at_ms`` when refreshed. Read by every booker: each container keeps it 3 s.
* preparing lease .... pk = "pool#<schedule_id>", sk = "lease"; ``at_ms``; taken for 10 s.
Limits (each one conditional write; TTL ``expires_at``):
* request key ........ pk = "req#<user pseudonym>#<request_key>", sk = "req"; ``value`` appointment id (1 day)
* patient on schedule  pk = "ps#<patient_id>#<schedule_id>", sk = "ps"; ``value`` appointment id (30 days)
* daily counters ..... pk = "day#<counter>#<YYYY-MM-DD>", sk = "day"; ``version`` the count (2 days)
* request rate ....... pk = "rate#<user pseudonym>#<YYYYMMDDHHMM>", sk = "rate"; ``version`` the count (2 min)
Timers:
* a timer ............ pk = "timer#<UTC YYYYMMDDHHMM of due_at>", sk = "<kind>#<subject>#<detail>"; ``data``
* the sweep cursor ... pk = "timers", sk = "cursor"; ``value`` the earliest minute that may hold timers (a
                       timer set for an earlier minute moves it back)
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamodb.booking_codec import schedule_json, schedule_of, slot_json, slot_of
from chalicelib.adapters.dynamodb.models import BookingItem
from chalicelib.domain.booking import BLOCKED_HOLDER
from chalicelib.domain.schedules import Schedule
from chalicelib.domain.timers import Timer, TimerKind
from chalicelib.services.ports import SlotPoolSnapshot

FREE, HELD, BLOCKED = "free", "held", "blocked"
LEASE_MS = 10_000
SNAPSHOT_CACHE_SECONDS = 3.0
TIMER_LOOKBACK = timedelta(hours=6)


def _conditional_failed(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


def _epoch(at: datetime, plus: timedelta) -> int:
    return int((at + plus).timestamp())


class DynamoSlotPool:
    def __init__(self, model: type[BookingItem]) -> None:
        self._m = model
        self._slot_ids: dict[str, list[str]] = {}  # the slot list of a schedule never changes: cached
        self._snapshots: dict[str, tuple[float, SlotPoolSnapshot]] = {}
        self._lock = threading.Lock()

    def _slot(self, schedule_id: str, slot_id: str) -> BookingItem:
        return self._m(f"slot#{schedule_id}#{slot_id}", "slot")

    def snapshot(self, schedule_id: str) -> SlotPoolSnapshot | None:
        now = time.monotonic()
        with self._lock:
            cached = self._snapshots.get(schedule_id)
        if cached is not None and now - cached[0] < SNAPSHOT_CACHE_SECONDS:
            return cached[1]  # every booker of a popular session reads this item: a few seconds' copy will do
        try:
            item = self._m.get(f"pool#{schedule_id}", "pool")
        except self._m.DoesNotExist:
            return None
        data = item.data or {}
        slots = tuple(slot_of(s) for s in data.get("slots", []))
        found = SlotPoolSnapshot(schedule_of(data["schedule"]), slots,
                                 datetime.fromtimestamp((item.at_ms or 0) / 1000, UTC))
        with self._lock:
            self._slot_ids[schedule_id] = [s.slot_id for s in slots]
            self._snapshots[schedule_id] = (now, found)
        return found

    def start_preparing(self, schedule_id: str, at: datetime) -> bool:
        m = self._m
        now_ms = int(at.timestamp() * 1000)
        try:
            m(f"pool#{schedule_id}", "lease", at_ms=now_ms, expires_at=_epoch(at, timedelta(minutes=5))).save(
                condition=m.pk.does_not_exist() | (m.at_ms < now_ms - LEASE_MS))
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def prepare(self, snapshot: SlotPoolSnapshot) -> None:
        m = self._m
        sid = snapshot.schedule.schedule_id
        for slot in snapshot.slots:
            state = FREE if slot.status in ("available", "not_released") else BLOCKED
            try:
                m(f"slot#{sid}#{slot.slot_id}", "slot", state=state).save(condition=m.pk.does_not_exist())
            except PutError as exc:
                if not _conditional_failed(exc):
                    raise
        self._put_snapshot(snapshot.schedule, [slot_json(s) for s in snapshot.slots], snapshot.refreshed_at)

    def refresh(self, schedule: Schedule, at: datetime) -> None:
        current = self.snapshot(schedule.schedule_id)
        slots = [slot_json(s) for s in current.slots] if current else []
        self._put_snapshot(schedule, slots, at)

    def _put_snapshot(self, schedule: Schedule, slots: list[dict[str, Any]], at: datetime) -> None:
        self._m(f"pool#{schedule.schedule_id}", "pool", data={"schedule": schedule_json(schedule), "slots": slots},
                at_ms=int(at.timestamp() * 1000)).save()
        with self._lock:
            self._slot_ids[schedule.schedule_id] = [s["slot_id"] for s in slots]
            self._snapshots.pop(schedule.schedule_id, None)

    def hold(self, schedule_id: str, holder: str, slot_ids: list[str]) -> str | None:
        m = self._m
        for slot_id in slot_ids:
            try:
                # "or ours": botocore resends a write whose answer was lost; the resend meets its own success
                self._slot(schedule_id, slot_id).update(actions=[m.state.set(HELD), m.value.set(holder)],
                                                        condition=(m.state == FREE) | (m.value == holder))
            except UpdateError as exc:
                if _conditional_failed(exc):
                    continue
                raise
            return slot_id
        return None

    def _states(self, schedule_id: str) -> dict[str, tuple[str, str | None]]:
        with self._lock:
            ids = self._slot_ids.get(schedule_id)
        if ids is None:
            snap = self.snapshot(schedule_id)
            ids = [s.slot_id for s in snap.slots] if snap else []
        keys = [(f"slot#{schedule_id}#{i}", "slot") for i in ids]
        states: dict[str, tuple[str, str | None]] = {}
        prefix = f"slot#{schedule_id}#"
        for item in self._m.batch_get(keys):
            states[item.pk.removeprefix(prefix)] = (item.state or FREE, item.value)
        return {i: states[i] for i in ids if i in states}

    def free_slots(self, schedule_id: str) -> list[str]:
        return [i for i, (state, _) in self._states(schedule_id).items() if state == FREE]

    def holder_of(self, schedule_id: str, slot_id: str) -> str | None:
        try:
            item = self._m.get(f"slot#{schedule_id}#{slot_id}", "slot", consistent_read=True)
        except self._m.DoesNotExist:
            return None
        return item.value if item.state != FREE else None

    def transfer(self, schedule_id: str, slot_id: str, from_holder: str, to_holder: str | None) -> bool:
        m = self._m
        actions: list[Action]
        if to_holder is None:
            actions = [m.state.set(FREE), m.value.remove()]
        else:
            actions = [m.state.set(BLOCKED if to_holder == BLOCKED_HOLDER else HELD), m.value.set(to_holder)]
        try:
            self._slot(schedule_id, slot_id).update(actions=actions, condition=m.value == from_holder)
        except UpdateError as exc:
            if _conditional_failed(exc):
                # A resent write meeting its own success finds the slot already with ``to_holder``.
                return to_holder is not None and self.holder_of(schedule_id, slot_id) == to_holder
            raise
        return True

    def take_back(self, schedule_id: str, slot_id: str, holder: str) -> bool:
        m = self._m
        try:
            self._slot(schedule_id, slot_id).update(actions=[m.state.set(HELD), m.value.set(holder)],
                                                    condition=(m.state == FREE) | (m.value == holder))
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def counts(self, schedule_id: str) -> dict[str, int]:
        out = {FREE: 0, HELD: 0, BLOCKED: 0}
        for state, _ in self._states(schedule_id).values():
            out[state] = out.get(state, 0) + 1
        return out


class DynamoBookingLimits:
    def __init__(self, model: type[BookingItem], clock: Any = None) -> None:
        self._m = model
        self._now = clock or (lambda: datetime.now(UTC))

    def _claim(self, pk: str, sk: str, value: str, ttl: timedelta) -> str | None:
        """Put ``value`` unless the item exists; None if put, else the value already there."""
        m = self._m
        try:
            m(pk, sk, value=value, expires_at=_epoch(self._now(), ttl)).save(condition=m.pk.does_not_exist())
        except PutError as exc:
            if not _conditional_failed(exc):
                raise
            try:
                found = m.get(pk, sk, consistent_read=True).value or ""
            except m.DoesNotExist:
                return self._claim(pk, sk, value, ttl)  # deleted in between: try again
            return None if found == value else found  # our own value: a resent put met its own success
        return None

    def claim_request(self, user: str, request_key: str, appointment_id: str, at: datetime) -> str:
        return self._claim(f"req#{user}#{request_key}", "req", appointment_id, timedelta(days=1)) or appointment_id

    def claim_patient_schedule(self, patient_id: str, schedule_id: str, appointment_id: str) -> str | None:
        return self._claim(f"ps#{patient_id}#{schedule_id}", "ps", appointment_id, timedelta(days=30))

    def release_patient_schedule(self, patient_id: str, schedule_id: str, appointment_id: str) -> None:
        self._release(f"ps#{patient_id}#{schedule_id}", "ps", appointment_id)

    def place_of(self, patient_id: str, schedule_id: str) -> str | None:
        try:
            return self._m.get(f"ps#{patient_id}#{schedule_id}", "ps", consistent_read=True).value
        except self._m.DoesNotExist:
            return None

    def release_request(self, user: str, request_key: str, appointment_id: str) -> None:
        self._release(f"req#{user}#{request_key}", "req", appointment_id)

    def _release(self, pk: str, sk: str, value: str) -> None:
        m = self._m
        try:
            m(pk, sk).delete(condition=m.value == value)
        except DeleteError as exc:
            if not _conditional_failed(exc):
                raise

    def _count(self, pk: str, sk: str, cap: int, ttl: timedelta) -> bool:
        m = self._m
        try:
            m(pk, sk).update(actions=[m.version.add(1), m.expires_at.set(_epoch(self._now(), ttl))],
                             condition=m.version.does_not_exist() | (m.version < cap))
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def take_daily(self, counter: str, day: str, cap: int) -> bool:
        return self._count(f"day#{counter}#{day}", "day", cap, timedelta(days=2))

    def give_back_daily(self, counter: str, day: str) -> None:
        m = self._m
        try:
            m(f"day#{counter}#{day}", "day").update(actions=[m.version.add(-1)], condition=m.version > 0)
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise

    def throttle(self, user: str, at: datetime, per_minute: int) -> bool:
        return self._count(f"rate#{user}#{at.astimezone(UTC):%Y%m%d%H%M}", "rate", per_minute, timedelta(minutes=2))


def _bucket(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%d%H%M}"


class DynamoTimerStore:
    def __init__(self, model: type[BookingItem]) -> None:
        self._m = model

    def set(self, timer: Timer) -> None:
        m = self._m
        bucket = _bucket(timer.due_at)
        m(f"timer#{bucket}", timer.key,
          data={"kind": timer.kind.value, "subject": timer.subject, "due_at": timer.due_at.isoformat(),
                "detail": timer.detail},
          expires_at=_epoch(timer.due_at, timedelta(days=30))).save()
        try:  # a timer for a minute the sweep already passed: the sweep goes back for it
            m("timers", "cursor").update(actions=[m.value.set(bucket)], condition=m.value > bucket)
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise

    def due(self, now: datetime, limit: int = 200) -> list[Timer]:
        m = self._m
        try:
            cursor = m.get("timers", "cursor", consistent_read=True).value
        except m.DoesNotExist:
            cursor = None
        start = datetime.strptime(cursor, "%Y%m%d%H%M").replace(tzinfo=UTC) if cursor else now - timedelta(hours=1)
        start = max(start, now - TIMER_LOOKBACK)
        minute = start.replace(second=0, microsecond=0)
        found: list[Timer] = []
        earliest_with_items: str | None = None
        while minute <= now and len(found) < limit:
            bucket = _bucket(minute)
            for item in m.query(f"timer#{bucket}", consistent_read=True):
                earliest_with_items = earliest_with_items or bucket
                d = item.data or {}
                due_at = datetime.fromisoformat(d["due_at"])
                if due_at <= now:
                    found.append(Timer(TimerKind(d["kind"]), d["subject"], due_at, d.get("detail") or ""))
            minute += timedelta(minutes=1)
        new_cursor = earliest_with_items or _bucket(min(minute, now))
        if new_cursor != cursor:
            m("timers", "cursor", value=new_cursor).save()
        return found[:limit]

    def done(self, timer: Timer) -> None:
        self._m(f"timer#{_bucket(timer.due_at)}", timer.key).delete()
