"""The booking saga on fakes: hold → lock → pay (or not) → confirm → notice; refusals, expiry, late payment,
cancel with refund, reschedule, reminders, fairness limits, release time, another user's appointment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.booking import BookingError, PaymentProof, State, View
from chalicelib.domain.his_messages import HisRequest
from chalicelib.domain.timers import TimerKind
from chalicelib.domain.wechat import NoticeKind
from chalicelib.services import booking
from chalicelib.services.booking import BookSlot
from tests.fakes_booking import (
    BEFORE_RELEASE,
    BookingWorld,
    his_error,
    his_ok,
    locked_body,
    schedule,
)

ME, OTHER = "o-me", "o-other"


@pytest.fixture
def world() -> BookingWorld:
    w = BookingWorld()
    w.schedules["SCH1"] = schedule("SCH1", capacity=3, fee_fen=5000)
    w.schedules["FREE1"] = schedule("FREE1", capacity=2, fee_fen=0)
    w.bind(ME, "P1")
    w.bind(ME, "P2", label="李*")
    w.bind(OTHER, "P9")
    return w


def book(w: BookingWorld, patient: str = "P1", sched: str = "SCH1", key: str = "req-00000001", openid: str = ME,
         slot_id: str | None = None):
    return booking.book(w.context(), openid, BookSlot(sched, patient, key, slot_id))


def last(w: BookingWorld, operation: str) -> HisRequest:
    return w.sent(operation)[-1]


def lock_ok(w: BookingWorld, fee: int = 5000):
    req = last(w, "lockAppointment")
    return booking.apply_his_result(his_ok(req, locked_body(req, w.now, fee), w.now), w.context())


def confirm_ok(w: BookingWorld):
    req = last(w, "confirmAppointment")
    return booking.apply_his_result(his_ok(req, {"appointment_id": req.path_params["appointment_id"],
                                                 "status": "confirmed"}, w.now), w.context())


def pay(w: BookingWorld, appointment_id: str, amount: int = 5000, txn: str = "4200000001"):
    proof = PaymentProof(txn, appointment_id, amount, w.now)
    return booking.registration_paid(w.context(), appointment_id, proof)


def test_a_free_registration_confirms_directly_and_tells_the_patient(world: BookingWorld) -> None:
    held = book(world, sched="FREE1")
    assert held.state is State.HOLDING
    lock = last(world, "lockAppointment")
    assert lock.body == {"order_id": held.appointment_id, "schedule_id": "FREE1", "patient_id": "P1",
                         "slot_id": held.slot.slot_id, "expected_fee_fen": 0}
    assert lock.idempotency_key == f"{held.appointment_id}:lock" and lock.end_user and ME not in lock.end_user
    assert lock_ok(world, fee=0).state is State.CONFIRMING
    confirm = last(world, "confirmAppointment")
    assert confirm.body == {"order_id": held.appointment_id, "payment": None}
    done = confirm_ok(world)
    assert done.state is State.CONFIRMED
    expected = [(NoticeKind.BOOKING_SUCCESS, f"booking_success:{held.appointment_id}")]
    assert [(n.kind, nid) for n, nid in world.notices] == expected
    assert "心血管内科" in world.notices[0][0].text and f"第{held.slot.seq_no}号" in world.notices[0][0].text
    reminders = sorted(t.detail for t in world.timers.items.values() if t.kind is TimerKind.REMINDER)
    assert reminders == ["120", "1440"]


def test_a_paid_registration_waits_for_payment_then_confirms_with_the_payment(world: BookingWorld) -> None:
    held = book(world)
    locked = lock_ok(world)
    assert locked.state is State.AWAITING_PAYMENT and locked.needs_payment
    assert locked.pay_by == locked.lock_expires_at - timedelta(minutes=2)
    payable = booking.payable(world.context(), ME, held.appointment_id)
    assert payable.amount_fen == 5000 and payable.order_id == held.appointment_id
    assert pay(world, held.appointment_id).state is State.CONFIRMING
    sent = last(world, "confirmAppointment").body or {}
    assert sent["payment"]["transaction_id"] == "4200000001" and sent["payment"]["amount_fen"] == 5000
    assert confirm_ok(world).state is State.CONFIRMED


def test_redelivered_results_and_payments_apply_once(world: BookingWorld) -> None:
    held = book(world)
    lock = last(world, "lockAppointment")
    result = his_ok(lock, locked_body(lock, world.now, 5000), world.now)
    booking.apply_his_result(result, world.context())
    booking.apply_his_result(result, world.context())
    pay(world, held.appointment_id)
    pay(world, held.appointment_id)
    assert len(world.sent("confirmAppointment")) == 1
    confirm_ok(world)
    confirm_ok(world)
    assert len(world.notices) == 1


def test_a_lock_refusal_fails_the_booking_and_returns_the_slot(world: BookingWorld) -> None:
    held = book(world)
    failed = booking.apply_his_result(his_error(last(world, "lockAppointment"), "PATIENT_LIMIT_REACHED", world.now),
                                      world.context())
    assert failed.state is State.FAILED and "限制" in failed.message
    assert world.pool.counts("SCH1")["free"] == 3
    assert book(world, key="req-00000002").state is State.HOLDING  # the patient may try again
    assert held.appointment_id not in world.limits.places.values()


def test_a_slot_the_his_says_is_taken_leaves_our_pool(world: BookingWorld) -> None:
    held = book(world)
    booking.apply_his_result(his_error(last(world, "lockAppointment"), "SLOT_TAKEN", world.now), world.context())
    assert world.pool.counts("SCH1") == {"free": 2, "held": 0, "blocked": 1}
    assert world.pool.holder_of("SCH1", held.slot.slot_id) is not None


def test_confirm_refused_after_payment_owes_exactly_one_refund(world: BookingWorld) -> None:
    held = book(world)
    lock_ok(world)
    pay(world, held.appointment_id)
    result = his_error(last(world, "confirmAppointment"), "LOCK_EXPIRED", world.now)
    failed = booking.apply_his_result(result, world.context())
    booking.apply_his_result(result, world.context())
    assert failed.state is State.FAILED and "退回" in failed.message
    assert [(o.amount_fen, o.caller_ref) for o in world.refunds.items.values()] == [(5000, held.appointment_id)]
    assert [n.kind for n, _ in world.notices] == [NoticeKind.REFUND]


def test_a_retryable_confirm_answer_is_sent_again_by_the_timer(world: BookingWorld) -> None:
    held = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    booking.apply_his_result(his_error(last(world, "confirmAppointment"), "HIS_BUSY", world.now, 429, True),
                             world.context())
    assert world.appointments.get(held.appointment_id).state is State.CONFIRMING
    world.now += timedelta(minutes=2)
    booking.sweep(world.context())
    again = world.sent("confirmAppointment")
    assert len(again) == 2 and again[0].idempotency_key == again[1].idempotency_key


def test_a_lost_lock_request_is_resumed_by_the_timer(world: BookingWorld) -> None:
    held = book(world)
    world.now += timedelta(minutes=2)
    booking.sweep(world.context())
    locks = world.sent("lockAppointment")
    assert len(locks) == 2 and locks[1].body == locks[0].body and locks[1].idempotency_key == f"{held.appointment_id}:lock"


def test_an_unpaid_lock_lapses_and_the_slot_returns(world: BookingWorld) -> None:
    held = book(world)
    lock_ok(world)
    world.now += timedelta(seconds=900 + 61)
    booking.sweep(world.context())
    assert world.appointments.get(held.appointment_id).state is State.EXPIRED
    assert world.pool.counts("SCH1")["free"] == 3


def test_a_late_payment_follows_the_late_confirm_rule(world: BookingWorld) -> None:
    held = book(world)
    lock_ok(world)
    world.now += timedelta(seconds=1000)
    booking.sweep(world.context())
    late = pay(world, held.appointment_id)
    assert late.state is State.CONFIRMING
    assert world.pool.holder_of("SCH1", held.slot.slot_id) == held.appointment_id  # re-taken for the HIS's answer
    assert confirm_ok(world).state is State.CONFIRMED


def test_a_late_payment_for_a_slot_taken_meanwhile_is_refunded(world: BookingWorld) -> None:
    held = book(world, slot_id="SCH1-01")
    lock_ok(world)
    world.now += timedelta(seconds=1000)
    booking.sweep(world.context())
    other = book(world, patient="P9", openid=OTHER, key="req-other-01", slot_id="SCH1-01")
    late = pay(world, held.appointment_id)
    # The slot is someone else's now: the HIS is not asked to re-take it, the fee goes back at once.
    assert late.state is State.EXPIRED and late.refund_owed_fen == 5000 and "退回" in late.message
    assert world.sent("confirmAppointment") == []
    assert world.pool.holder_of("SCH1", "SCH1-01") == other.appointment_id
    assert world.limits.place_of("P1", "SCH1") is None  # the patient's place was given back too
    assert [o.amount_fen for o in world.refunds.items.values()] == [5000]


def test_payment_for_a_cancelled_booking_is_refunded_in_full(world: BookingWorld) -> None:
    held = book(world)
    lock_ok(world)
    booking.cancel(world.context(), ME, held.appointment_id)
    cancel = last(world, "cancelAppointment")
    assert cancel.body["reason_code"] == "payment_abandoned" and cancel.body["refund_request_no"] is None
    booking.apply_his_result(his_ok(cancel, {"status": "cancelled"}, world.now), world.context())
    pay(world, held.appointment_id)
    assert [o.amount_fen for o in world.refunds.items.values()] == [5000]


def test_cancel_before_the_deadline_refunds_and_returns_the_slot(world: BookingWorld) -> None:
    held = book(world)
    lock_ok(world)
    pay(world, held.appointment_id)
    confirm_ok(world)
    cancelling = booking.cancel(world.context(), ME, held.appointment_id)
    assert cancelling.state is State.CANCELLING
    req = last(world, "cancelAppointment")
    assert req.body["reason_code"] == "patient_request" and req.body["refund_request_no"] == cancelling.refund_request_no
    refund = {"his_refund_id": "HR1", "refund_request_no": req.body["refund_request_no"], "refund_amount_fen": 5000,
              "initiated_by": "caller", "created_at": world.now.isoformat()}
    done = booking.apply_his_result(his_ok(req, {"status": "cancelled", "refund": refund}, world.now), world.context())
    assert done.state is State.CANCELLED and "50.00" in done.message
    assert [o.out_refund_no for o in world.refunds.items.values()] == [cancelling.refund_request_no]
    assert world.pool.counts("SCH1")["free"] == 3
    assert world.notices[-1][0].kind is NoticeKind.APPOINTMENT_CANCELLED


def test_cancel_after_the_deadline_is_refused(world: BookingWorld) -> None:
    held = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    confirm_ok(world)
    world.now = held.visit.cancel_deadline + timedelta(minutes=1)
    with pytest.raises(BookingError) as refused:
        booking.cancel(world.context(), ME, held.appointment_id)
    assert refused.value.code == "CANCEL_DEADLINE_PASSED"


def test_the_his_refusing_a_cancel_keeps_the_appointment(world: BookingWorld) -> None:
    held = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    confirm_ok(world)
    booking.cancel(world.context(), ME, held.appointment_id)
    back = booking.apply_his_result(his_error(last(world, "cancelAppointment"), "CANCEL_DEADLINE_PASSED", world.now),
                                    world.context())
    assert back.state is State.CONFIRMED and "截止" in back.message


def test_reschedule_books_the_new_slot_then_cancels_the_old(world: BookingWorld) -> None:
    next_day = world.schedules["FREE1"].date + timedelta(days=1)
    world.schedules["FREE2"] = schedule("FREE2", capacity=2, fee_fen=0, visit_day=next_day)
    old = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    confirm_ok(world)
    new = booking.reschedule(world.context(), ME, old.appointment_id, BookSlot("FREE2", "P1", "req-resched-1"))
    assert new.replaces == old.appointment_id and world.appointments.get(old.appointment_id).state is State.CONFIRMED
    lock_ok(world, fee=0)
    confirm_ok(world)
    assert world.appointments.get(old.appointment_id).state is State.CANCELLING


def test_reminders_are_sent_once_and_only_for_confirmed_appointments(world: BookingWorld) -> None:
    held = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    confirm_ok(world)
    world.now = held.visit.start_time - timedelta(minutes=1439)
    booking.sweep(world.context())
    booking.sweep(world.context())
    assert [nid for _, nid in world.notices][1:] == [f"visit_reminder:{held.appointment_id}:1440"]
    booking.cancel(world.context(), ME, held.appointment_id)  # still before the deadline (18:00 the day before)
    world.now = held.visit.start_time - timedelta(minutes=119)
    booking.sweep(world.context())
    assert [n.kind for n, _ in world.notices].count(NoticeKind.VISIT_REMINDER) == 1


def test_nothing_is_holdable_before_release_time(world: BookingWorld) -> None:
    world.now = BEFORE_RELEASE
    with pytest.raises(BookingError) as refused:
        book(world)
    assert refused.value.code == "NOT_RELEASED" and refused.value.extra["release_at"]
    assert world.pool.counts("SCH1")["free"] == 3  # the pool is made ahead of the rush


def test_one_slot_per_patient_per_session_and_the_same_request_key_is_the_same_booking(world: BookingWorld) -> None:
    first = book(world)
    assert book(world).appointment_id == first.appointment_id  # a double tap
    with pytest.raises(BookingError) as refused:
        book(world, key="req-00000002")
    assert refused.value.code == "ALREADY_BOOKED"
    assert world.pool.counts("SCH1")["held"] == 1


def test_daily_caps_per_patient_and_per_user(world: BookingWorld) -> None:
    for i in range(3):
        world.schedules[f"S{i}"] = schedule(f"S{i}", capacity=2, fee_fen=0)
        book(world, sched=f"S{i}", key=f"req-cap-{i:04d}")
    world.schedules["S3"] = schedule("S3", capacity=2, fee_fen=0)
    with pytest.raises(BookingError) as refused:
        book(world, sched="S3", key="req-cap-0003")
    assert refused.value.code == "DAILY_LIMIT"
    assert world.pool.counts("S3")["held"] == 0 and ("P1", "S3") not in world.limits.places


def test_requests_are_throttled_per_user(world: BookingWorld) -> None:
    world.overrides["requests_per_minute"] = 2
    book(world, key="req-thr-0001")
    book(world, key="req-thr-0001")
    with pytest.raises(BookingError) as refused:
        book(world, key="req-thr-0001")
    assert refused.value.status == 429 and refused.value.extra["retry_after"] >= 1


def test_a_full_session_says_so_and_offers_the_waitlist(world: BookingWorld) -> None:
    world.bind(ME, "P3")
    world.bind(ME, "P4")
    for i, p in enumerate(("P1", "P2", "P3")):
        book(world, patient=p, key=f"req-full-{i:04d}")
    with pytest.raises(BookingError) as refused:
        book(world, patient="P4", key="req-full-0004")
    assert refused.value.code == "SCHEDULE_FULL" and refused.value.extra["waitlist_open"] is True


def test_a_stopped_schedule_and_the_nightly_pause_refuse_bookings(world: BookingWorld) -> None:
    world.schedules["STOP"] = schedule("STOP", status="stopped")
    with pytest.raises(BookingError) as stopped:
        book(world, sched="STOP")
    assert stopped.value.code == "SCHEDULE_STOPPED"
    world.now = world.now.replace(hour=23, minute=20)
    with pytest.raises(BookingError) as paused:
        book(world, key="req-night-01")
    assert paused.value.code == "BOOKING_PAUSED"


def test_only_ones_own_patients_and_appointments(world: BookingWorld) -> None:
    with pytest.raises(BookingError) as foreign_patient:
        book(world, patient="P9")
    assert foreign_patient.value.status == 404
    mine = book(world)
    for action in (lambda: booking.appointment_of(world.context(), OTHER, mine.appointment_id),
                   lambda: booking.cancel(world.context(), OTHER, mine.appointment_id),
                   lambda: booking.payable(world.context(), OTHER, mine.appointment_id)):
        with pytest.raises(BookingError) as refused:
            action()
        assert refused.value.status == 404


def test_a_hospital_cancellation_updates_our_record_and_frees_the_slot(world: BookingWorld) -> None:
    held = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    confirm_ok(world)
    his_id = world.appointments.get(held.appointment_id).his_appointment_id
    booking.on_his_status(world.context(), his_id, "cancelled", "counter_cancelled")
    after = world.appointments.get(held.appointment_id)
    assert after.state is State.CANCELLED and "窗口" in after.message
    assert world.pool.counts("FREE1")["free"] == 2


def test_my_appointments_views(world: BookingWorld) -> None:
    ok = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    confirm_ok(world)
    gone = book(world, patient="P2", key="req-gone-0001")
    booking.apply_his_result(his_error(last(world, "lockAppointment"), "SCHEDULE_FULL", world.now), world.context())
    ctx = world.context()
    assert [a.appointment_id for a in booking.my_appointments(ctx, ME, View.UPCOMING)] == [ok.appointment_id]
    assert [a.appointment_id for a in booking.my_appointments(ctx, ME, View.CANCELLED)] == [gone.appointment_id]
    world.now = ok.visit.end_time + timedelta(hours=1)
    assert [a.appointment_id for a in booking.my_appointments(ctx, ME, View.PAST)] == [ok.appointment_id]


def test_effects_lost_to_a_crash_after_the_save_are_run_by_the_timer(world: BookingWorld) -> None:
    held = book(world, sched="FREE1")
    lock_ok(world, fee=0)
    world.send_notice = _crash  # type: ignore[method-assign]  # the process dies while telling the patient
    with pytest.raises(ConnectionError):
        confirm_ok(world)
    assert world.appointments.get(held.appointment_id).state is State.CONFIRMED and world.notices == []
    confirm_ok(world)  # the redelivered result changes nothing by itself
    del world.send_notice
    world.now += timedelta(minutes=3)
    booking.sweep(world.context())
    booking.sweep(world.context())
    assert [nid for _, nid in world.notices] == [f"booking_success:{held.appointment_id}"]
    assert len(world.sent("confirmAppointment")) == 1


def _crash(notice: object, notice_id: str) -> None:
    raise ConnectionError("WeChat unreachable")


def test_the_reconciliation_resumes_a_paid_booking_the_his_never_confirmed(world: BookingWorld) -> None:
    held = book(world)
    lock_ok(world)
    assert booking.resume(world.context(), held.appointment_id) is False  # not paid: nothing to resume
    pay(world, held.appointment_id)
    assert booking.resume(world.context(), held.appointment_id) is True
    confirms = world.sent("confirmAppointment")
    assert len(confirms) == 2 and confirms[0].idempotency_key == confirms[1].idempotency_key
    booking.apply_his_result(his_error(confirms[-1], "SCHEDULE_STOPPED", world.now), world.context())
    world.refunds.items.clear()  # as if the refund obligation had been lost
    assert booking.resume(world.context(), held.appointment_id) is True
    assert [o.amount_fen for o in world.refunds.items.values()] == [5000]
