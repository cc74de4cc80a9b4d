"""The booking DynamoDB adapters (slot pool, limits, timers, appointments, waitlists) on moto server, against the
``booking`` table provisioned from infra/resources.yaml: each port's contract, as the fakes in
``tests/fakes_booking.py`` implement it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.dynamodb.booking_records import DynamoAppointmentRepository, DynamoWaitlistRepository
from chalicelib.adapters.dynamodb.booking_slots import DynamoBookingLimits, DynamoSlotPool, DynamoTimerStore
from chalicelib.domain.booking import BLOCKED_HOLDER, Appointment, PaymentProof, SlotRef, State, Visit
from chalicelib.domain.timers import Timer, TimerKind
from chalicelib.domain.waitlist import EntryState, WaitlistEntry
from chalicelib.services.ports import SlotPoolSnapshot
from tests.fakes_booking import AFTER_RELEASE, schedule, slots_of

pytestmark = pytest.mark.integration  # moto's writes are serialized by the moto_endpoint fixture
T0 = datetime(2026, 12, 6, 0, 0, 30, tzinfo=UTC)  # 08:00:30 in Shanghai
OPENID, OTHER = "oBookingUser0000000000000001", "oBookingUser0000000000000002"


def _race(n: int, attempt: Callable[[int], Any]) -> list[Any]:
    barrier, results, lock = threading.Barrier(n), [], threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        outcome = attempt(i)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture
def table(app_settings: Any) -> Any:
    return bootstrap.container()._booking_table()


@pytest.fixture
def pool(table: Any) -> DynamoSlotPool:
    return DynamoSlotPool(table)


def _prepared(pool: DynamoSlotPool, schedule_id: str = "SCH1", capacity: int = 3, unavailable: int = 0) -> list[str]:
    s = schedule(schedule_id, capacity=capacity)
    slots = slots_of(s)
    slots = [replace(x, status="unavailable") if i < unavailable else x for i, x in enumerate(slots)]
    pool.prepare(SlotPoolSnapshot(s, tuple(slots), T0))
    return [x.slot_id for x in slots]


# ---- the canary ---------------------------------------------------------------------------------------------
def test_emulator_rejects_a_racing_conditional_write_on_the_booking_table_canary(pool: DynamoSlotPool) -> None:
    """Before trusting the concurrency tests: of N racing holds of one slot exactly one wins, every round."""
    for round_ in range(30):
        sid = f"CANARY{round_}"
        ids = _prepared(pool, sid, capacity=1)
        wins = _race(12, lambda i, sid=sid, ids=ids: pool.hold(sid, f"holder-{i}", ids))
        assert sum(1 for w in wins if w is not None) == 1, (round_, wins)
        assert pool.counts(sid) == {"free": 0, "held": 1, "blocked": 0}


# ---- the slot pool ------------------------------------------------------------------------------------------
def test_pool_prepare_snapshot_and_refresh(pool: DynamoSlotPool) -> None:
    assert pool.snapshot("SCH1") is None
    ids = _prepared(pool, capacity=4, unavailable=1)
    snap = pool.snapshot("SCH1")
    assert snap is not None
    assert snap.schedule == schedule("SCH1", capacity=4) and [s.slot_id for s in snap.slots] == ids
    assert snap.refreshed_at == T0 and snap.slots[0].status == "unavailable"
    assert pool.counts("SCH1") == {"free": 3, "held": 0, "blocked": 1}
    assert sorted(pool.free_slots("SCH1")) == ids[1:]
    assert pool.hold("SCH1", "A1", [ids[1]]) == ids[1]
    _prepared(pool, capacity=4, unavailable=1)  # prepared again: existing slot items are kept as they are
    assert pool.holder_of("SCH1", ids[1]) == "A1"
    newer = replace(schedule("SCH1", capacity=4), fee_fen=6000, status="full")
    pool.refresh(newer, T0 + timedelta(minutes=5))
    again = pool.snapshot("SCH1")
    assert again is not None and again.schedule.fee_fen == 6000 and again.schedule.status == "full"
    assert [s.slot_id for s in again.slots] == ids and again.refreshed_at == T0 + timedelta(minutes=5)
    assert pool.counts("SCH1") == {"free": 2, "held": 1, "blocked": 1}


def test_pool_preparing_lease_is_taken_once_for_ten_seconds(pool: DynamoSlotPool) -> None:
    assert pool.start_preparing("SCH1", T0) is True
    assert pool.start_preparing("SCH1", T0 + timedelta(seconds=5)) is False
    assert pool.start_preparing("SCH1", T0 + timedelta(seconds=11)) is True
    assert pool.start_preparing("SCH2", T0) is True  # per schedule
    wins = _race(8, lambda i: pool.start_preparing("SCH3", T0))
    assert wins.count(True) == 1


def test_pool_hold_takes_the_first_free_of_the_candidates_in_order(pool: DynamoSlotPool) -> None:
    ids = _prepared(pool, capacity=3)
    assert pool.hold("SCH1", "A1", [ids[2], ids[0]]) == ids[2]
    assert pool.hold("SCH1", "A2", [ids[2], ids[0]]) == ids[0]
    assert pool.hold("SCH1", "A3", [ids[2], ids[0]]) is None
    assert pool.hold("SCH1", "A3", ["no-such-slot"]) is None
    assert pool.free_slots("SCH1") == [ids[1]]
    assert (pool.holder_of("SCH1", ids[2]), pool.holder_of("SCH1", ids[1])) == ("A1", None)
    assert pool.counts("SCH1") == {"free": 1, "held": 2, "blocked": 0}


def test_pool_transfer_only_from_the_holder(pool: DynamoSlotPool) -> None:
    ids = _prepared(pool, capacity=2)
    slot = pool.hold("SCH1", "A1", ids)
    assert slot == ids[0]
    assert pool.transfer("SCH1", slot, "A2", "offer:X") is False  # not A2's
    assert pool.transfer("SCH1", ids[1], "A1", None) is False  # a free slot has no holder
    assert pool.transfer("SCH1", slot, "A1", "offer:X") is True
    assert pool.holder_of("SCH1", slot) == "offer:X" and pool.counts("SCH1")["held"] == 1
    assert pool.transfer("SCH1", slot, "offer:X", None) is True
    assert pool.holder_of("SCH1", slot) is None and sorted(pool.free_slots("SCH1")) == ids
    assert pool.hold("SCH1", "A3", [slot]) == slot
    assert pool.transfer("SCH1", slot, "A3", BLOCKED_HOLDER) is True  # the HIS says it is taken there
    assert pool.counts("SCH1") == {"free": 1, "held": 0, "blocked": 1}
    assert pool.hold("SCH1", "A4", [slot]) is None
    racing = _race(8, lambda i: pool.transfer("SCH1", slot, BLOCKED_HOLDER, f"offer:{i}"))
    assert racing.count(True) == 1


def test_pool_take_back_when_free_or_already_ours(pool: DynamoSlotPool) -> None:
    ids = _prepared(pool, capacity=2)
    assert pool.take_back("SCH1", ids[0], "A1") is True  # free: re-taken
    assert pool.take_back("SCH1", ids[0], "A1") is True  # already A1's
    assert pool.take_back("SCH1", ids[0], "A2") is False  # someone else's
    assert pool.holder_of("SCH1", ids[0]) == "A1"
    assert pool.counts("SCH1") == {"free": 1, "held": 1, "blocked": 0}


def test_pool_counts_and_free_slots_of_a_large_session(pool: DynamoSlotPool) -> None:
    ids = _prepared(pool, "BIG", capacity=130, unavailable=5)  # more than one batch_get page (100 keys)
    for i in range(10):
        assert pool.hold("BIG", f"A{i}", ids[5 + i:]) == ids[5 + i]
    assert pool.counts("BIG") == {"free": 115, "held": 10, "blocked": 5}
    assert sorted(pool.free_slots("BIG")) == sorted(ids[15:])
    fresh = DynamoSlotPool(pool._m)  # another container: no cached slot list
    assert fresh.counts("BIG") == {"free": 115, "held": 10, "blocked": 5}


def test_a_hold_sent_again_after_a_lost_response_is_still_the_holders(pool: DynamoSlotPool) -> None:
    """botocore retries a write whose response was lost (timeout, connection reset): the retry of ``hold``
    meets its own successful first attempt. Condition ``state = free`` then fails, so ``hold`` moves on and
    reports the slot as not held, while the item stays held by a booking that never gets stored (leaked)."""
    ids = _prepared(pool, capacity=1)
    assert pool.hold("SCH1", "WXO1", ids) == ids[0]
    assert pool.hold("SCH1", "WXO1", ids) == ids[0]  # the same write again: still WXO1's


# ---- limits -------------------------------------------------------------------------------------------------
@pytest.fixture
def limits(table: Any) -> DynamoBookingLimits:
    return DynamoBookingLimits(table, lambda: T0)


def test_limits_request_key_is_claimed_once(limits: DynamoBookingLimits) -> None:
    assert limits.claim_request("u1", "req-00000001", "WXO1", T0) == "WXO1"
    assert limits.claim_request("u1", "req-00000001", "WXO2", T0) == "WXO1"  # a double tap: the first one
    assert limits.claim_request("u2", "req-00000001", "WXO3", T0) == "WXO3"  # keys are per user
    winners = _race(8, lambda i: limits.claim_request("u3", "req-race-001", f"WXO-R{i}", T0))
    assert len(set(winners)) == 1


def test_limits_one_place_per_patient_and_schedule(limits: DynamoBookingLimits) -> None:
    assert limits.claim_patient_schedule("P1", "SCH1", "WXO1") is None
    assert limits.claim_patient_schedule("P1", "SCH1", "WXO2") == "WXO1"
    assert limits.claim_patient_schedule("P1", "SCH2", "WXO3") is None
    limits.release_patient_schedule("P1", "SCH1", "WXO2")  # not the holder: nothing happens
    assert limits.claim_patient_schedule("P1", "SCH1", "WXO4") == "WXO1"
    limits.release_patient_schedule("P1", "SCH1", "WXO1")
    limits.release_patient_schedule("P1", "SCH1", "WXO1")  # twice is fine
    assert limits.claim_patient_schedule("P1", "SCH1", "WXO5") is None
    held = _race(8, lambda i: limits.claim_patient_schedule("P2", "SCH1", f"WXO-R{i}"))
    assert held.count(None) == 1


def test_claiming_the_same_place_again_for_the_same_appointment_is_not_a_conflict(limits: DynamoBookingLimits) -> None:
    """A retried conditional put meets its own first attempt: ``_claim`` returns the value found (our own id),
    which ``book`` reads as "another appointment holds the place" → 409 ALREADY_BOOKED naming the caller's own
    appointment id (seen in test_booking_concurrency under load). ``FakeBookingLimits`` answers None here."""
    assert limits.claim_patient_schedule("P1", "SCH1", "WXO1") is None
    assert limits.claim_patient_schedule("P1", "SCH1", "WXO1") is None


def test_limits_daily_caps_count_up_to_the_cap_and_give_back(limits: DynamoBookingLimits, table: Any) -> None:
    day = "2026-12-06"
    assert [limits.take_daily("patient#P1", day, 3) for _ in range(4)] == [True, True, True, False]
    assert limits.take_daily("patient#P1", "2026-12-07", 3) is True  # per day
    assert limits.take_daily("patient#P2", day, 3) is True  # per counter
    limits.give_back_daily("patient#P1", day)
    assert limits.take_daily("patient#P1", day, 3) is True
    assert limits.take_daily("patient#P1", day, 3) is False
    for _ in range(5):
        limits.give_back_daily("patient#P3", day)  # nothing taken: never below zero
    assert [limits.take_daily("patient#P3", day, 1) for _ in range(2)] == [True, False]
    item = table.get(f"day#patient#P1#{day}", "day")
    assert item.version == 3 and item.expires_at == int((T0 + timedelta(days=2)).timestamp())
    taken = _race(12, lambda i: limits.take_daily("user#race", day, 5))
    assert taken.count(True) == 5


def test_limits_throttle_counts_per_user_per_minute(limits: DynamoBookingLimits) -> None:
    assert [limits.throttle("u1", T0, 3) for _ in range(4)] == [True, True, True, False]
    assert limits.throttle("u1", T0 + timedelta(seconds=29), 3) is False  # the same minute
    assert limits.throttle("u1", T0 + timedelta(seconds=31), 3) is True  # the next minute
    assert limits.throttle("u2", T0, 3) is True


# ---- timers -------------------------------------------------------------------------------------------------
@pytest.fixture
def timers(table: Any) -> DynamoTimerStore:
    return DynamoTimerStore(table)


def _keys(found: list[Timer]) -> set[tuple[str, str, str]]:
    return {(t.kind.value, t.subject, t.detail) for t in found}


def test_timers_set_due_done_across_minutes(timers: DynamoTimerStore) -> None:
    a = Timer(TimerKind.RESEND, "WXO1", T0 + timedelta(seconds=90), "lock")
    b = Timer(TimerKind.LOCK_LAPSE, "WXO2", T0 + timedelta(minutes=16))
    c = Timer(TimerKind.REMINDER, "WXO1", T0 + timedelta(days=6), "1440")
    d = Timer(TimerKind.OFFER_EXPIRY, "SCH1|P1", T0 + timedelta(minutes=15, seconds=10))
    for t in (a, b, c, d, a):  # set twice: one timer
        timers.set(t)
    assert timers.due(T0) == []
    assert timers.due(T0 + timedelta(seconds=89)) == []
    assert timers.due(T0 + timedelta(seconds=90)) == [a]
    assert timers.due(T0 + timedelta(minutes=3)) == [a]  # not done yet: still due
    timers.done(a)
    assert timers.due(T0 + timedelta(minutes=3)) == []
    found = timers.due(T0 + timedelta(minutes=17))
    assert _keys(found) == _keys([b, d]) and len(found) == 2
    assert {t.due_at for t in found} == {b.due_at, d.due_at}
    timers.done(b)
    timers.done(d)
    assert timers.due(T0 + timedelta(hours=2)) == []
    assert timers.due(c.due_at) == [c]


def test_timers_due_respects_the_limit_and_later_sweeps_get_the_rest(timers: DynamoTimerStore) -> None:
    batch = [Timer(TimerKind.RESEND, f"WXO{i:02d}", T0 + timedelta(minutes=i % 3, seconds=i), "confirm") for i in range(12)]
    for t in batch:
        timers.set(t)
    first = timers.due(T0 + timedelta(minutes=5), limit=5)
    assert len(first) == 5
    seen = set()
    while found := timers.due(T0 + timedelta(minutes=5), limit=5):
        for t in found:
            seen.add(t.subject)
            timers.done(t)
    assert seen == {t.subject for t in batch}


def test_timers_cursor_skips_swept_minutes_but_finds_later_ones(timers: DynamoTimerStore, table: Any) -> None:
    early = Timer(TimerKind.RESEND, "WXO1", T0 + timedelta(minutes=1), "lock")
    timers.set(early)
    assert timers.due(T0 + timedelta(minutes=2)) == [early]
    timers.done(early)
    assert timers.due(T0 + timedelta(minutes=30)) == []
    cursor = table.get("timers", "cursor").value
    assert cursor == f"{T0 + timedelta(minutes=30):%Y%m%d%H%M}"
    later = Timer(TimerKind.LOCK_LAPSE, "WXO2", T0 + timedelta(minutes=31, seconds=5))
    timers.set(later)
    assert timers.due(T0 + timedelta(minutes=31)) == []
    assert timers.due(T0 + timedelta(minutes=32)) == [later]


def test_a_timer_set_for_a_minute_the_sweep_already_passed_is_still_due(timers: DynamoTimerStore) -> None:
    """The port: ``due`` returns every timer due at or before ``now`` not yet done. A lock answered late (the
    HIS locked at 08:00, the result reached us after 08:16) sets its LOCK_LAPSE timer in the past."""
    assert timers.due(T0 + timedelta(minutes=20)) == []  # a sweep ran at 08:20
    late = Timer(TimerKind.LOCK_LAPSE, "WXO-LATE", T0 + timedelta(minutes=16))
    timers.set(late)
    assert timers.due(T0 + timedelta(minutes=21)) == [late]


# ---- appointments -------------------------------------------------------------------------------------------
@pytest.fixture
def appointments(table: Any) -> DynamoAppointmentRepository:
    return DynamoAppointmentRepository(table)


def _appointment(appointment_id: str = "WXO261206080030000000000000001", openid: str = OPENID,
                 created: datetime = T0) -> Appointment:
    s = schedule("SCH1")
    slot = slots_of(s)[1]
    return Appointment(
        appointment_id=appointment_id, openid=openid, patient_id="P1", patient_label="张*", relation="self",
        visit=Visit.of(s), slot=SlotRef.of(slot), state=State.HOLDING, created_at=created, updated_at=created,
        history=((created.isoformat(), "holding"),))


def test_appointment_add_get_round_trip(appointments: DynamoAppointmentRepository) -> None:
    a = _appointment()
    assert appointments.get(a.appointment_id) is None
    appointments.add(a)
    assert appointments.get(a.appointment_id) == a
    paid = a.moved(State.CONFIRMING, T0 + timedelta(minutes=1), "已支付", his_appointment_id="HA1",
                   lock_expires_at=AFTER_RELEASE + timedelta(minutes=15),
                   payment=PaymentProof("4200000001", a.appointment_id, 5000, T0, "1900000001"),
                   refund_request_no="RF1", refund_owed_fen=5000, reason="X", replaces="WXO0", offer_id="OF1")
    assert appointments.save(paid) is True
    stored = appointments.get(a.appointment_id)
    assert stored == paid and stored.history == paid.history and stored.payment == paid.payment


def test_appointment_add_never_overwrites(appointments: DynamoAppointmentRepository) -> None:
    a = _appointment()
    appointments.add(a)
    with pytest.raises(Exception):  # noqa: B017 - any storage error: the id is taken
        appointments.add(replace(a, patient_id="P2"))
    assert appointments.get(a.appointment_id) == a


def test_appointment_save_checks_the_version(appointments: DynamoAppointmentRepository) -> None:
    a = _appointment()
    assert appointments.save(a.moved(State.FAILED, T0)) is False  # not stored yet
    appointments.add(a)
    locked = a.moved(State.AWAITING_PAYMENT, T0)
    assert appointments.save(locked) is True
    assert appointments.save(a.moved(State.FAILED, T0)) is False  # decided on a stale copy
    # The same write again (botocore resending it after a lost answer) finds exactly what it wrote: done.
    assert appointments.save(locked) is True
    assert appointments.save(replace(locked, message="another writer's decision")) is False
    assert appointments.get(a.appointment_id) == locked
    racing = _race(8, lambda i: appointments.save(locked.moved(State.CONFIRMING, T0, f"writer {i}")))
    assert racing.count(True) == 1
    assert appointments.get(a.appointment_id).version == locked.version + 1


def test_appointments_of_user_newest_first_and_by_his_id(appointments: DynamoAppointmentRepository) -> None:
    mine = [_appointment(f"WXO26120608003000000000000000{i}", created=T0 + timedelta(minutes=i)) for i in range(3)]
    theirs = _appointment("WXO261206080030000000000000009", openid=OTHER)
    for a in (*mine, theirs):
        appointments.add(a)
    moved = mine[0].moved(State.CONFIRMED, T0 + timedelta(hours=1))
    assert appointments.save(moved)
    assert [a.appointment_id for a in appointments.of_user(OPENID)] == [a.appointment_id for a in reversed(mine)]
    assert appointments.of_user(OPENID)[-1].state is State.CONFIRMED  # the current record, not the first
    assert [a.appointment_id for a in appointments.of_user(OTHER)] == [theirs.appointment_id]
    assert appointments.of_user("oNobody") == []
    assert appointments.by_his_id("HA-1") is None
    appointments.remember_his_id("HA-1", mine[1].appointment_id)
    assert appointments.by_his_id("HA-1") == mine[1]


# ---- waitlists ----------------------------------------------------------------------------------------------
@pytest.fixture
def waitlists(table: Any) -> DynamoWaitlistRepository:
    return DynamoWaitlistRepository(table)


def _entry(patient_id: str, joined: datetime, openid: str = OPENID, schedule_id: str = "SCH1") -> WaitlistEntry:
    return WaitlistEntry(schedule_id, patient_id, openid, "张*", "self", joined)


def test_waitlist_join_once_get_entries_in_joined_order(waitlists: DynamoWaitlistRepository) -> None:
    first, second = _entry("P1", T0), _entry("P2", T0 + timedelta(seconds=2))
    third = _entry("P3", T0 + timedelta(seconds=5), OTHER)
    for e in (second, first, third):
        assert waitlists.join(e) is True
    assert waitlists.join(replace(first, joined_at=T0 + timedelta(minutes=1))) is False  # already in the line
    assert waitlists.get("SCH1", "P1") == first
    assert waitlists.get("SCH1", "P9") is None and waitlists.get("SCH2", "P1") is None
    assert [e.patient_id for e in waitlists.entries("SCH1")] == ["P1", "P2", "P3"]
    assert sorted(e.patient_id for e in waitlists.of_user(OPENID)) == ["P1", "P2"]
    assert [e.patient_id for e in waitlists.of_user(OTHER)] == ["P3"]
    joined = _race(8, lambda i: waitlists.join(_entry("P7", T0 + timedelta(milliseconds=i))))
    assert joined.count(True) == 1 and len([e for e in waitlists.entries("SCH1") if e.patient_id == "P7"]) == 1


def test_waitlist_save_checks_the_version_and_offers_are_found(waitlists: DynamoWaitlistRepository) -> None:
    e = _entry("P1", T0)
    assert waitlists.save(e.moved(EntryState.LEFT)) is False  # not in the line
    waitlists.join(e)
    assert waitlists.by_offer("OF1") is None
    offered = e.offered("OF1", "SCH1-02", T0, 15)
    assert waitlists.save(offered) is True
    assert waitlists.save(e.moved(EntryState.LEFT)) is False  # stale
    assert waitlists.get("SCH1", "P1") == offered
    assert waitlists.by_offer("OF1") == offered
    claimed = offered.moved(EntryState.CLAIMED)
    assert waitlists.save(claimed) is True
    assert waitlists.by_offer("OF1") == claimed and waitlists.entries("SCH1") == [claimed]
    racing = _race(8, lambda i: waitlists.save(claimed.moved(EntryState.LEFT)))
    assert racing.count(True) == 1
