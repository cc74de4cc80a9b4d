"""The waitlist on fakes: join only when full, the place in line, a freed slot offered to the first in line
with a time-limited claim, unclaimed offers moving on, leaving, and no offers for a stopped session."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.booking import BookingError, State
from chalicelib.domain.his_events import ScheduleStopped
from chalicelib.domain.waitlist import EntryState
from chalicelib.domain.wechat import NoticeKind
from chalicelib.services import booking, waitlist
from chalicelib.services.booking import BookSlot
from tests.fakes_booking import BookingWorld, his_ok, locked_body, schedule

USERS = {f"o-user-{i}": f"P{i}" for i in range(1, 7)}


@pytest.fixture
def world() -> BookingWorld:
    w = BookingWorld()
    w.schedules["S"] = schedule("S", capacity=2, fee_fen=0)
    for openid, patient in USERS.items():
        w.bind(openid, patient)
    return w


def book(w: BookingWorld, n: int) -> str:
    a = booking.book(w.context(), f"o-user-{n}", BookSlot("S", f"P{n}", f"req-wait-{n:04d}"))
    for req in [r for r in w.requests.sent if r.context.get("appointment_id") == a.appointment_id]:
        booking.apply_his_result(his_ok(req, locked_body(req, w.now, 0), w.now), w.context())
    confirm = [r for r in w.sent("confirmAppointment") if r.context["appointment_id"] == a.appointment_id][-1]
    his_id = confirm.path_params["appointment_id"]
    booking.apply_his_result(his_ok(confirm, {"appointment_id": his_id, "status": "confirmed"}, w.now), w.context())
    return a.appointment_id


def cancel(w: BookingWorld, n: int, appointment_id: str) -> None:
    booking.cancel(w.context(), f"o-user-{n}", appointment_id)
    req = [r for r in w.sent("cancelAppointment") if r.context["appointment_id"] == appointment_id][-1]
    booking.apply_his_result(his_ok(req, {"status": "cancelled"}, w.now), w.context())


def join(w: BookingWorld, n: int) -> waitlist.WaitlistPosition:
    return waitlist.join(w.context(), f"o-user-{n}", "S", f"P{n}")


def test_joining_needs_a_full_session(world: BookingWorld) -> None:
    with pytest.raises(BookingError) as refused:
        join(world, 3)  # the pool is not even made yet: nobody looked at it after release
    book(world, 1)
    with pytest.raises(BookingError) as refused:
        join(world, 3)
    assert refused.value.code == "SLOTS_AVAILABLE"
    book(world, 2)
    assert join(world, 3).place == 1
    world.now += timedelta(seconds=1)
    assert join(world, 4).place == 2
    assert join(world, 4).place == 2  # joining twice is the same place
    assert [p.place for p in waitlist.my_entries(world.context(), "o-user-4")] == [2]


def test_a_freed_slot_is_offered_to_the_first_in_line_and_claimed(world: BookingWorld) -> None:
    first = book(world, 1)
    book(world, 2)
    join(world, 3)
    world.now += timedelta(seconds=1)
    join(world, 4)
    cancel(world, 1, first)
    entry = world.waitlist.get("S", "P3")
    assert entry.state is EntryState.OFFERED and entry.offer is not None
    assert world.pool.holder_of("S", entry.offer.slot_id) == f"offer:{entry.offer.offer_id}"
    offers = [(n.openid, nid) for n, nid in world.notices if n.kind is NoticeKind.WAITLIST_OFFER]
    assert offers == [("o-user-3", f"waitlist_offer:{entry.offer.offer_id}")]
    assert "waitlist.html?offer=" in next(n.url for n, _ in world.notices if n.kind is NoticeKind.WAITLIST_OFFER)
    with pytest.raises(BookingError):  # someone else cannot take the offered slot
        booking.book(world.context(), "o-user-5", BookSlot("S", "P5", "req-wait-0005"))
    with pytest.raises(BookingError) as foreign:
        waitlist.claim(world.context(), "o-user-4", entry.offer.offer_id, "req-claim-04")
    assert foreign.value.status == 404
    made = waitlist.claim(world.context(), "o-user-3", entry.offer.offer_id, "req-claim-03")
    assert made.state is State.HOLDING and made.slot.slot_id == entry.offer.slot_id
    assert world.waitlist.get("S", "P3").state is EntryState.CLAIMED
    assert [p.place for p in waitlist.my_entries(world.context(), "o-user-4")] == [1]


def test_an_unclaimed_offer_moves_on_to_the_next_in_line(world: BookingWorld) -> None:
    first = book(world, 1)
    book(world, 2)
    join(world, 3)
    world.now += timedelta(seconds=1)
    join(world, 4)
    cancel(world, 1, first)
    offer = world.waitlist.get("S", "P3").offer
    world.now += timedelta(minutes=16)
    booking.sweep(world.context())
    assert world.waitlist.get("S", "P3").state is EntryState.EXPIRED
    nxt = world.waitlist.get("S", "P4")
    assert nxt.state is EntryState.OFFERED and nxt.offer.slot_id == offer.slot_id
    with pytest.raises(BookingError) as late:
        waitlist.claim(world.context(), "o-user-3", offer.offer_id, "req-claim-03")
    assert late.value.code == "OFFER_EXPIRED"
    world.now += timedelta(minutes=16)
    booking.sweep(world.context())
    assert world.pool.counts("S") == {"free": 1, "held": 1, "blocked": 0}  # nobody left: the slot is free


def test_leaving_while_offered_passes_the_slot_on(world: BookingWorld) -> None:
    first = book(world, 1)
    book(world, 2)
    join(world, 3)
    world.now += timedelta(seconds=1)
    join(world, 4)
    cancel(world, 1, first)
    waitlist.leave(world.context(), "o-user-3", "S", "P3")
    assert world.waitlist.get("S", "P3").state is EntryState.LEFT
    assert world.waitlist.get("S", "P4").state is EntryState.OFFERED
    with pytest.raises(BookingError) as foreign:
        waitlist.leave(world.context(), "o-user-3", "S", "P4")
    assert foreign.value.status == 404


def test_a_stopped_session_frees_instead_of_offering(world: BookingWorld) -> None:
    first = book(world, 1)
    book(world, 2)
    join(world, 3)
    world.stops.record_stop(ScheduleStopped(schedule_id="S", date=world.schedules["S"].date, session="morning",
                                            department_id="D0301", version=2, reason_code="doctor_leave",
                                            public_message="医生停诊", handling="auto_cancelled_full_refund"))
    his_id = world.appointments.get(first).his_appointment_id
    booking.on_his_status(world.context(), his_id, "cancelled", "schedule_stopped")
    assert world.appointments.get(first).state is State.CANCELLED
    assert world.waitlist.get("S", "P3").state is EntryState.WAITING
    assert world.pool.counts("S") == {"free": 1, "held": 1, "blocked": 0}
    assert not [n for n, _ in world.notices if n.kind is NoticeKind.WAITLIST_OFFER]
