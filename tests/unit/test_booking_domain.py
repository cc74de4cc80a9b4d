"""The booking domain without I/O: identifiers fit the middleware's CallerRef and WeChat Pay's 32 characters,
the pay-by margin, who may cancel when, the views, and the texts patients read."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain import booking as bk
from chalicelib.domain.booking import Appointment, BookingError, PaymentProof, SlotRef, State, View, Visit
from chalicelib.domain.schedules import in_booking_pause, next_release
from tests.fakes_booking import AFTER_RELEASE, schedule, slots_of

CALLER_REF = re.compile(r"^[A-Za-z0-9_-]{6,32}$")


def appointment(state: State = State.HOLDING, fee: int = 5000) -> Appointment:
    s = schedule(fee_fen=fee)
    return Appointment("WXO2612060800010000000000000001"[:32], "o-me", "P1", "张*", "self", Visit.of(s),
                       SlotRef.of(slots_of(s)[0]), state, AFTER_RELEASE, AFTER_RELEASE)


def test_ids_are_valid_order_ids_and_out_trade_nos() -> None:
    made = bk.new_appointment_id(AFTER_RELEASE, "0123456789abcdef0123456789abcdef")
    assert CALLER_REF.match(made) and made.startswith("WXO261206080001")
    assert CALLER_REF.match(bk.refund_request_no(made)) and bk.refund_request_no(made) != made


def test_pay_by_is_two_minutes_before_the_lock_lapses() -> None:
    locked = bk.after_lock(appointment(), True, {"appointment_id": "HA1", "fee_fen": 5000,
                                                 "lock_expires_at": "2026-12-06T08:15:01+08:00"}, "", AFTER_RELEASE)
    assert locked.state is State.AWAITING_PAYMENT and locked.pay_by is not None
    assert locked.lock_expires_at - locked.pay_by == timedelta(minutes=2)


def test_the_fee_the_his_locked_is_the_fee_charged() -> None:
    locked = bk.after_lock(appointment(fee=5000), True, {"appointment_id": "HA1", "fee_fen": 0,
                                                         "lock_expires_at": "2026-12-06T08:15:01+08:00"}, "", AFTER_RELEASE)
    assert locked.state is State.CONFIRMING and locked.fee_fen == 0


def test_a_wrong_amount_is_never_confirmed_but_refunded() -> None:
    waiting = replace(appointment(), state=State.AWAITING_PAYMENT)
    paid = bk.after_payment(waiting, PaymentProof("42001", waiting.appointment_id, 4999, AFTER_RELEASE), AFTER_RELEASE)
    assert paid.state is State.AWAITING_PAYMENT and paid.refund_owed_fen == 4999 and paid.refund_request_no


@pytest.mark.parametrize(("state", "cancellable"), [(State.AWAITING_PAYMENT, True), (State.CONFIRMED, True),
                                                    (State.HOLDING, False), (State.CONFIRMING, False),
                                                    (State.CHECKED_IN, False), (State.CANCELLED, False)])
def test_who_may_cancel(state: State, cancellable: bool) -> None:
    a = replace(appointment(), state=state)
    assert a.cancellable(AFTER_RELEASE) is cancellable
    if not cancellable:
        with pytest.raises(BookingError):
            bk.start_cancel(a, AFTER_RELEASE)


def test_views_and_texts() -> None:
    a = replace(appointment(), state=State.CONFIRMED)
    assert bk.in_view(a, View.UPCOMING, AFTER_RELEASE) and not bk.in_view(a, View.PAST, AFTER_RELEASE)
    assert bk.in_view(a, View.PAST, a.visit.end_time)
    assert bk.in_view(replace(a, state=State.FAILED), View.CANCELLED, AFTER_RELEASE)
    text = bk.booking_notice_text(a)
    assert "李明（主任医师）" in text and "第1号" in text and "本部院区 门诊楼 3F 305诊室" in text
    assert bk.reminder_text(a, 1440).startswith("就诊提醒：您明天") and "2小时后" in bk.reminder_text(a, 120)


def test_the_nightly_pause_and_the_next_release() -> None:
    night = AFTER_RELEASE.replace(hour=23, minute=15)
    assert in_booking_pause(night) and in_booking_pause(night + timedelta(hours=1, minutes=14))
    assert not in_booking_pause(night - timedelta(minutes=1))
    assert not in_booking_pause(night + timedelta(hours=1, minutes=15))
    assert next_release(AFTER_RELEASE) == AFTER_RELEASE.replace(second=0) + timedelta(days=1)
    assert next_release(AFTER_RELEASE - timedelta(minutes=1)) == AFTER_RELEASE.replace(second=0)
