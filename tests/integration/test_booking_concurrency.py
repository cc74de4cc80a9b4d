"""The 08:00 rush (the issue's requirement): 200 patients book a session of 5 slots at the same moment, through
``booking.book`` on the real DynamoDB adapters (moto server, the ``booking`` table from infra/resources.yaml)
→ exactly 5 holds, 195 ``SCHEDULE_FULL``, every call answered, no slot held twice, and the stored appointments
are the holds and nothing else."""

from __future__ import annotations

import random
import secrets
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.dynamodb.booking_records import DynamoAppointmentRepository, DynamoWaitlistRepository
from chalicelib.adapters.dynamodb.booking_slots import DynamoBookingLimits, DynamoSlotPool, DynamoTimerStore
from chalicelib.adapters.dynamodb.models import BookingItem
from chalicelib.domain.booking import BookingError, State
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.domain.schedules import Schedule, Slot
from chalicelib.services import booking
from chalicelib.services.booking import BookingContext, BookSlot, ScheduleUnknownError
from chalicelib.services.ports import SlotPoolSnapshot
from tests.fakes import FakeHisRequestQueue, FakePatientBindings, FakeRefundObligations
from tests.fakes_booking import AFTER_RELEASE, schedule, slots_of
from tests.fakes_his_events import FakeScheduleNotices

pytestmark = pytest.mark.integration
BOOKERS, CAPACITY = 200, 5
NOW = AFTER_RELEASE + timedelta(seconds=2)  # the clock is fixed just after release


class LockedQueue(FakeHisRequestQueue):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def send(self, request: Any) -> None:
        with self._lock:
            super().send(request)


def _context(table: Any, bindings: FakePatientBindings, requests: LockedQueue,
             schedules: dict[str, Schedule]) -> BookingContext:
    """As ``Container.booking_context`` wires it, but with a fake live schedule read, queue and clock."""

    def read_schedule(schedule_id: str) -> tuple[Schedule, list[Slot]]:
        if schedule_id not in schedules:
            raise ScheduleUnknownError(schedule_id)
        return schedules[schedule_id], slots_of(schedules[schedule_id])

    return BookingContext(
        appointments=DynamoAppointmentRepository(table), pool=DynamoSlotPool(table),
        limits=DynamoBookingLimits(table, lambda: NOW), timers=DynamoTimerStore(table),
        waitlist=DynamoWaitlistRepository(table), bindings=bindings, requests=requests, stops=FakeScheduleNotices(),
        refunds=FakeRefundObligations(), read_schedule=read_schedule, send_notice=lambda notice, notice_id: None,
        page_url=lambda page: f"https://h5.example/{page}", clock=lambda: NOW, new_hex=lambda: secrets.token_hex(16),
        shuffle=lambda ids: random.sample(ids, len(ids)), end_user_key=b"integration-key")


def test_two_hundred_bookers_at_release_get_five_holds_and_195_full(app_settings: Any) -> None:
    bound = bootstrap.container()._booking_table()
    # The same table, with patient timeouts: 200 connections at once overflow moto's listen backlog, and the
    # production settings (connect 2 s, read 5 s, 3 retries) then turn emulator slowness into retried writes.
    meta = type("Meta", (), {"table_name": bound.Meta.table_name, "region": bound.Meta.region, "host": bound.Meta.host,
                             "connect_timeout_seconds": 60, "read_timeout_seconds": 120, "max_retry_attempts": 0})
    table = type("BookingRushItem", (BookingItem,), {"Meta": meta})
    s = schedule("RUSH1", capacity=CAPACITY, fee_fen=5000)
    bindings, requests = FakePatientBindings(), LockedQueue()
    users = [(f"oRushUser{i:04d}", f"PR{i:04d}") for i in range(BOOKERS)]
    for openid, patient_id in users:
        bindings.bind(PatientBinding(openid, patient_id, Relation.SELF, "张*", NOW - timedelta(days=1)))
    ctx = _context(table, bindings, requests, {"RUSH1": s})
    ctx.pool.prepare(SlotPoolSnapshot(s, tuple(slots_of(s)), NOW))  # made ahead of the rush

    barrier, lock = threading.Barrier(BOOKERS), threading.Lock()
    outcomes: dict[str, Any] = {}

    def attempt(openid: str, patient_id: str) -> None:
        barrier.wait()
        try:
            outcome: Any = booking.book(ctx, openid, BookSlot("RUSH1", patient_id, f"rush-{patient_id}"))
        except BookingError as exc:
            outcome = exc.code
        except Exception as exc:  # an unanswered call is what this test looks for
            outcome = f"unanswered: {type(exc).__name__}: {exc}"
        with lock:
            outcomes[openid] = outcome

    threads = [threading.Thread(target=attempt, args=u) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)

    assert len(outcomes) == BOOKERS  # every call answered
    holds = {openid: a for openid, a in outcomes.items() if not isinstance(a, str)}
    refusals = Counter(o for o in outcomes.values() if isinstance(o, str))
    assert refusals == Counter({"SCHEDULE_FULL": BOOKERS - CAPACITY}), refusals
    assert len(holds) == CAPACITY
    assert all(a.state is State.HOLDING and a.openid == openid for openid, a in holds.items())
    held_slots = [a.slot.slot_id for a in holds.values()]
    assert sorted(held_slots) == sorted(x.slot_id for x in slots_of(s))  # each slot once, none twice

    pool = DynamoSlotPool(table)
    assert pool.counts("RUSH1") == {"free": 0, "held": CAPACITY, "blocked": 0}
    assert {pool.holder_of("RUSH1", a.slot.slot_id) for a in holds.values()} == {a.appointment_id for a in holds.values()}
    stored = [item.pk.removeprefix("appt#") for item in table.scan(table.pk.startswith("appt#"))]
    assert sorted(stored) == sorted(a.appointment_id for a in holds.values())  # the appointments are the holds
    for a in holds.values():
        assert ctx.appointments.get(a.appointment_id) == a
    assert sorted(r.body["order_id"] for r in requests.sent) == sorted(stored)  # one lock each, nothing else
    # The losers' places and daily counts were given back: they may book elsewhere or join the waitlist.
    for openid, patient_id in users:
        if openid in holds:
            continue
        with pytest.raises(table.DoesNotExist):
            table.get(f"ps#{patient_id}#RUSH1", "ps")
        assert table.get(f"day#patient#{patient_id}#{NOW.astimezone(s.start_time.tzinfo).date()}", "day").version == 0
