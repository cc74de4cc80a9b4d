"""The booking saga under random interleavings (Hypothesis ``RuleBasedStateMachine`` over the service layer on
``BookingWorld``), against a small simulated HIS that keeps its own truth (spec §7.5): which orders are locked,
confirmed, cancelled or expired, which slots they occupy, the answer it gave per ``Idempotency-Key``, and the
``appointment.status_changed`` events it owes us (also for our own calls, §8.3).

The two paths back from the hospital are independent, as in production: the result of a lock/confirm/cancel comes
over SQS (``apply_his_result``; may be late, redelivered), a status change comes as an event (``on_his_status``;
only the newest undelivered version counts, older ones are stale). Payments are made while ``payable`` allows it
and their notifications may arrive late or twice.

Invariants after every step: the pool adds up, no slot is sold twice or leaked, one occupying appointment per
patient per schedule, money taken is kept only by an appointment that is (being) served, every other fen is owed
back exactly once, and no notice id is sent twice.

Deterministic reproductions of what the machine found (each fixed since) are at the end of the file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib.domain.booking import LOCK_REFUSALS, Appointment, BookingError, PaymentProof, State
from chalicelib.domain.his_messages import HisError, HisRequest, HisResult
from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource
from chalicelib.domain.schedules import SHANGHAI
from chalicelib.domain.waitlist import EntryState
from chalicelib.services import booking, waitlist
from chalicelib.services.booking import BookSlot
from chalicelib.services.ports import SlotPoolSnapshot
from tests.fakes_booking import BLOCKED, FREE, HELD, BookingWorld, schedule, slots_of

USERS = ("o-user-a", "o-user-b", "o-user-c")
PATIENTS = ("P1", "P2", "P3", "P4")
# A paid session a week away, a free one tomorrow morning (reminders and the cancel deadline within reach).
SCHEDULES = {"PAID1": dict(capacity=3, fee_fen=5000), "FREE1": dict(capacity=2, fee_fen=0)}
KEYS = ("req-key-0001", "req-key-0002", "req-key-0003")
LOCK_ANSWERS = st.sampled_from(["ok"] * 30 + ["retry", *sorted(LOCK_REFUSALS)])
CONFIRM_ANSWERS = st.sampled_from(["ok"] * 6 + ["LOCK_EXPIRED", "AMOUNT_MISMATCH", "retry"])
CANCEL_ANSWERS = st.sampled_from(["ok"] * 3 + ["CANCEL_DEADLINE_PASSED", "retry"])
# Money is kept while the appointment is (being) served; a no-show's fee is not refunded (spec §7.5.1).
KEEPS_MONEY = frozenset({State.CONFIRMING, State.CONFIRMED, State.CANCELLING, State.CHECKED_IN, State.COMPLETED,
                         State.NO_SHOW})
# Appointments in these states must be the pool's holder of their slot. (CONFIRMING after a late payment may
# legitimately wait for the HIS to re-take a slot our pool already gave away: the HIS decides, §7.5.3.)
MUST_HOLD = frozenset({State.HOLDING, State.AWAITING_PAYMENT, State.CONFIRMED, State.CANCELLING, State.CHECKED_IN})
# A slot used by a visit (after the session) stays with its appointment: not a leak.
CONSUMED = frozenset({State.COMPLETED, State.NO_SHOW})
HIS_OCCUPYING = frozenset({"locked", "confirmed", "checked_in", "completed", "no_show"})


def result_ok(request: HisRequest, body: dict[str, Any], at: datetime) -> HisResult:
    return HisResult(request.request_id, request.operation, "ok", at, status=200, body=body, context=dict(request.context))


def result_error(request: HisRequest, code: str, at: datetime, status: int = 409, retryable: bool = False) -> HisResult:
    return HisResult(request.request_id, request.operation, "error", at, status=status,
                     error=HisError(code, code, retryable), context=dict(request.context))


@dataclass
class HisOrder:
    order_id: str
    his_id: str
    schedule_id: str
    slot_id: str
    patient_id: str
    fee_fen: int
    lock_expires_at: datetime
    status: str = "locked"
    reason: str | None = None
    paid_fen: int = 0
    refund: dict[str, Any] | None = None
    version: int = 1


class SimulatedHis:
    """The middleware as far as appointments go: idempotent per key, its own slot occupancy, lock TTL 900 s."""

    def __init__(self, world: BookingWorld) -> None:
        self.world = world
        self.orders: dict[str, HisOrder] = {}
        self.slots: dict[tuple[str, str], str] = {}
        self.answers: dict[str, tuple[bool, Any]] = {}
        self.delivered: dict[str, int] = {}
        self.refund_ids = itertools.count(1)

    def _change(self, order: HisOrder, status: str, reason: str | None) -> None:
        order.status, order.reason, order.version = status, reason, order.version + 1
        key = (order.schedule_id, order.slot_id)
        if status in HIS_OCCUPYING:
            self.slots[key] = order.order_id
        elif self.slots.get(key) == order.order_id:
            del self.slots[key]

    def tick(self, now: datetime) -> None:
        for order in self.orders.values():
            if order.status == "locked" and now >= order.lock_expires_at:
                self._change(order, "expired", "lock_expired")

    def _replay(self, request: HisRequest, answer: tuple[bool, Any], now: datetime) -> HisResult:
        ok, payload = answer
        return result_ok(request, payload, now) if ok else result_error(request, payload, now)

    def process(self, request: HisRequest, choice: str, now: datetime) -> HisResult:
        self.tick(now)
        key = request.idempotency_key or request.request_id
        if key in self.answers:
            return self._replay(request, self.answers[key], now)
        if choice == "retry":  # busy: nothing happened, nothing remembered (spec §6: retry under the same key)
            return result_error(request, "HIS_BUSY", now, status=429, retryable=True)
        answer = {"lockAppointment": self._lock, "confirmAppointment": self._confirm,
                  "cancelAppointment": self._cancel}[request.operation](request, choice, now)
        self.answers[key] = answer
        return self._replay(request, answer, now)

    def _lock(self, request: HisRequest, choice: str, now: datetime) -> tuple[bool, Any]:
        body = request.body or {}
        order_id, schedule_id, slot_id = body["order_id"], body["schedule_id"], body["slot_id"]
        if choice != "ok":
            return False, choice
        occupant = self.slots.get((schedule_id, slot_id))
        if occupant is not None and occupant != order_id:
            return False, "SLOT_TAKEN"
        fee = self.world.schedules[schedule_id].fee_fen
        order = HisOrder(order_id, f"HA-{order_id}", schedule_id, slot_id, body["patient_id"], fee,
                         now + timedelta(seconds=900))
        self.orders[order_id] = order
        self.slots[(schedule_id, slot_id)] = order_id
        return True, {"appointment_id": order.his_id, "order_id": order_id, "status": "locked", "fee_fen": fee,
                      "lock_expires_at": order.lock_expires_at.astimezone(SHANGHAI).isoformat(),
                      "status_version": order.version}

    def _confirm(self, request: HisRequest, choice: str, now: datetime) -> tuple[bool, Any]:
        body = request.body or {}
        order = self.orders.get(body["order_id"])
        if order is None:
            return False, "NOT_FOUND"
        paid = (body.get("payment") or {}).get("amount_fen", 0)
        if choice == "AMOUNT_MISMATCH" or paid != order.fee_fen:
            return False, "AMOUNT_MISMATCH"
        late = False
        if order.status == "expired":
            taken = self.slots.get((order.schedule_id, order.slot_id)) not in (None, order.order_id)
            if taken or choice == "LOCK_EXPIRED":  # someone (a counter, another order) has the slot now
                return False, "LOCK_EXPIRED"
            late = True
        elif order.status != "locked":
            return False, "INVALID_STATE"
        order.paid_fen = paid
        self._change(order, "confirmed", None)
        return True, {"appointment_id": order.his_id, "order_id": order.order_id, "status": "confirmed",
                      "late_confirm": late, "status_version": order.version}

    def _cancel(self, request: HisRequest, choice: str, now: datetime) -> tuple[bool, Any]:
        body = request.body or {}
        order = self.orders.get(body["order_id"])
        if order is None:
            return False, "NOT_FOUND"
        if order.status == "locked":
            self._change(order, "cancelled", "caller_cancelled")
            return True, {"appointment_id": order.his_id, "status": "cancelled", "refund": None,
                          "status_version": order.version}
        if order.status == "confirmed":
            deadline = self.world.schedules[order.schedule_id].cancel_deadline
            if choice == "CANCEL_DEADLINE_PASSED" or now >= deadline:
                return False, "CANCEL_DEADLINE_PASSED"
            if order.paid_fen:
                order.refund = {"his_refund_id": f"HR{next(self.refund_ids):06d}",
                                "refund_request_no": body.get("refund_request_no"), "refund_amount_fen": order.paid_fen,
                                "initiated_by": "caller", "created_at": now.isoformat()}
            self._change(order, "cancelled", "caller_cancelled")
            return True, {"appointment_id": order.his_id, "status": "cancelled", "refund": order.refund,
                          "status_version": order.version}
        if order.status in ("cancelled", "expired"):  # returned unchanged (§7.5.4)
            return True, {"appointment_id": order.his_id, "status": order.status, "refund": order.refund,
                          "status_version": order.version}
        return False, "INVALID_STATE"

    def hospital(self, order: HisOrder, action: str, now: datetime) -> None:
        """A change made at the hospital (counter, kiosk, nurse station, a stop): §7.5.5."""
        if action in ("counter_cancelled", "schedule_stopped"):
            if order.paid_fen:
                order.refund = {"his_refund_id": f"HR{next(self.refund_ids):06d}", "refund_request_no": None,
                                "refund_amount_fen": order.paid_fen, "initiated_by": "hospital",
                                "created_at": now.isoformat()}
            self._change(order, "cancelled", action)
        else:
            self._change(order, {"check_in": "checked_in", "no_show": "no_show", "complete": "completed"}[action],
                         {"check_in": "checked_in", "no_show": "no_show", "complete": "visit_completed"}[action])

    def hospital_actions(self, order: HisOrder, now: datetime) -> list[str]:
        """Check-in opens 60 min before the slot (§7.6); a no-show is declared when the session has ended."""
        s = self.world.schedules[order.schedule_id]
        slot_start = next(x.start_time for x in slots_of(s) if x.slot_id == order.slot_id)
        actions = {"confirmed": ["counter_cancelled", "schedule_stopped"], "checked_in": ["complete"]}.get(order.status, [])
        if order.status == "confirmed" and slot_start - timedelta(minutes=60) <= now < s.end_time:
            actions.append("check_in")
        if order.status == "confirmed" and now >= s.end_time:
            actions.append("no_show")
        return actions

    def undelivered(self) -> list[HisOrder]:
        return [o for o in self.orders.values() if o.version > self.delivered.get(o.order_id, 0)]


class BookingSaga(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = BookingWorld()
        self.his = SimulatedHis(self.world)
        self.results: list[HisResult] = []  # on the way back over SQS
        self.applied: list[HisResult] = []  # applied at least once (may come again)
        self.answered: set[str] = set()  # request ids the HIS has processed
        self.payments: dict[str, PaymentProof] = {}  # appointment id -> the one WeChat Pay order's payment
        self.received: dict[str, set[str]] = {}  # appointment id -> transaction ids notified to booking
        self.txn = itertools.count(4200000001)

    @property
    def ctx(self) -> booking.BookingContext:
        return self.world.context()

    @initialize()
    def setup(self) -> None:
        w = self.world
        w.schedules["PAID1"] = schedule("PAID1", **SCHEDULES["PAID1"])
        tomorrow = w.now.date() + timedelta(days=1)
        w.schedules["FREE1"] = schedule("FREE1", visit_day=tomorrow, **SCHEDULES["FREE1"])
        for s in w.schedules.values():  # the pools are made ahead of the rush
            w.pool.prepare(SlotPoolSnapshot(s, tuple(slots_of(s)), w.now))
        w.bind(USERS[0], "P1")
        w.bind(USERS[0], "P2")
        w.bind(USERS[1], "P3")
        w.bind(USERS[2], "P4")

    # ---- the patient's side -------------------------------------------------------------------------------
    @rule(user=st.sampled_from(USERS), patient=st.sampled_from(PATIENTS))
    def bind(self, user: str, patient: str) -> None:
        self.world.bind(user, patient)

    @rule(data=st.data(), user=st.sampled_from(USERS), sched=st.sampled_from(sorted(SCHEDULES)),
          key=st.sampled_from(KEYS), pick_slot=st.booleans(), stranger=st.integers(0, 9))
    def book(self, data: st.DataObject, user: str, sched: str, key: str, pick_slot: bool, stranger: int) -> None:
        """Mostly one of the user's own patients (now and then someone else's: refused)."""
        own = sorted(b.patient_id for b in self.world.bindings.patients_of(user))
        patient = data.draw(st.sampled_from(own if own and stranger else PATIENTS))
        slot_id = f"{sched}-01" if pick_slot else None
        try:
            a = booking.book(self.ctx, user, BookSlot(sched, patient, key, slot_id))
        except BookingError as exc:
            assert exc.status in (404, 409, 429, 503), exc.code
            return
        assert a.openid == user

    @precondition(lambda self: any(not a.final for a in self.world.appointments.items.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        items = sorted(i for i, a in self.world.appointments.items.items() if not a.final)
        a = self.world.appointments.items[data.draw(st.sampled_from(items))]
        try:
            booking.cancel(self.ctx, a.openid, a.appointment_id)
        except BookingError as exc:
            assert exc.status == 409, exc.code

    @rule(user=st.sampled_from(USERS), patient=st.sampled_from(PATIENTS), sched=st.sampled_from(sorted(SCHEDULES)))
    def join_waitlist(self, user: str, patient: str, sched: str) -> None:
        try:
            waitlist.join(self.ctx, user, sched, patient)
        except BookingError as exc:
            assert exc.status in (404, 409), exc.code

    @precondition(lambda self: bool(self.world.waitlist.entries_))
    @rule(data=st.data())
    def leave_waitlist(self, data: st.DataObject) -> None:
        entries = sorted(self.world.waitlist.entries_)
        e = self.world.waitlist.entries_[data.draw(st.sampled_from(entries))]
        waitlist.leave(self.ctx, e.openid, e.schedule_id, e.patient_id)

    @precondition(lambda self: any(e.offer for e in self.world.waitlist.entries_.values()))
    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def claim_offer(self, data: st.DataObject, key: str) -> None:
        offered = sorted(k for k, e in self.world.waitlist.entries_.items() if e.offer is not None)
        e = self.world.waitlist.entries_[data.draw(st.sampled_from(offered))]
        assert e.offer is not None
        try:
            waitlist.claim(self.ctx, e.openid, e.offer.offer_id, key)
        except BookingError as exc:
            assert exc.status in (404, 409, 429, 503), exc.code

    # ---- WeChat Pay -------------------------------------------------------------------------------------------
    @precondition(lambda self: any(a.state is State.AWAITING_PAYMENT and i not in self.payments
                                   for i, a in self.world.appointments.items.items()))
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        """The patient pays the amount ``payable`` gives, while it gives one (WeChat Pay closes at ``pay_by``)."""
        open_ = sorted(i for i, a in self.world.appointments.items.items()
                       if a.state is State.AWAITING_PAYMENT and i not in self.payments)
        a = self.world.appointments.items[data.draw(st.sampled_from(open_))]
        try:
            payable = booking.payable(self.ctx, a.openid, a.appointment_id)
        except BookingError:
            return
        self.payments[a.appointment_id] = PaymentProof(str(next(self.txn)), payable.order_id, payable.amount_fen,
                                                       self.world.now, "1900000001")

    @precondition(lambda self: bool(self.payments))
    @rule(data=st.data())
    def payment_notified(self, data: st.DataObject) -> None:
        """WeChat Pay's notification (or query) reaches booking: late, or again."""
        appointment_id = data.draw(st.sampled_from(sorted(self.payments)))
        proof = self.payments[appointment_id]
        booking.registration_paid(self.ctx, appointment_id, proof)
        self.received.setdefault(appointment_id, set()).add(proof.transaction_id)

    # ---- the hospital -----------------------------------------------------------------------------------------
    @precondition(lambda self: any(r.request_id not in self.answered for r in self.world.requests.sent))
    @rule(data=st.data(), deliver_now=st.booleans(),
          lock_answer=LOCK_ANSWERS, confirm_answer=CONFIRM_ANSWERS, cancel_answer=CANCEL_ANSWERS)
    def his_processes_a_request(self, data: st.DataObject, deliver_now: bool, lock_answer: str, confirm_answer: str,
                                cancel_answer: str) -> None:
        pending = [r for r in self.world.requests.sent if r.request_id not in self.answered]
        request = data.draw(st.sampled_from(pending))
        self.answered.add(request.request_id)
        choice = {"lockAppointment": lock_answer, "confirmAppointment": confirm_answer,
                  "cancelAppointment": cancel_answer}[request.operation]
        result = self.his.process(request, choice, self.world.now)
        self.results.append(result)
        if deliver_now:
            self._apply(len(self.results) - 1)

    @precondition(lambda self: bool(self.results) or len(self.answered) < len(self.world.requests.sent))
    @rule(lock_answer=LOCK_ANSWERS, confirm_answer=CONFIRM_ANSWERS, cancel_answer=CANCEL_ANSWERS)
    def his_and_queue_catch_up(self, lock_answer: str, confirm_answer: str, cancel_answer: str) -> None:
        """The HIS answers everything pending (one answer kind per operation) and every result arrives."""
        for request in [r for r in self.world.requests.sent if r.request_id not in self.answered]:
            self.answered.add(request.request_id)
            choice = {"lockAppointment": lock_answer, "confirmAppointment": confirm_answer,
                      "cancelAppointment": cancel_answer}[request.operation]
            self.results.append(self.his.process(request, choice, self.world.now))
        while self.results:
            self._apply(0)

    @precondition(lambda self: bool(self.results))
    @rule(data=st.data())
    def result_arrives(self, data: st.DataObject) -> None:
        self._apply(data.draw(st.integers(0, len(self.results) - 1)))

    @precondition(lambda self: bool(self.applied))
    @rule(data=st.data())
    def result_redelivered(self, data: st.DataObject) -> None:
        booking.apply_his_result(data.draw(st.sampled_from(self.applied)), self.ctx)

    def _apply(self, index: int) -> None:
        result = self.results.pop(index)
        booking.apply_his_result(result, self.ctx)
        self.applied.append(result)

    @precondition(lambda self: any(self.his.hospital_actions(o, self.world.now) for o in self.his.orders.values()))
    @rule(data=st.data())
    def hospital_changes_an_appointment(self, data: st.DataObject) -> None:
        self.his.tick(self.world.now)
        choices = sorted((o.order_id, action) for o in self.his.orders.values()
                         for action in self.his.hospital_actions(o, self.world.now))
        order_id, action = data.draw(st.sampled_from(choices))
        self.his.hospital(self.his.orders[order_id], action, self.world.now)

    @precondition(lambda self: bool(self.his.orders))
    @rule(data=st.data())
    def status_event_arrives(self, data: st.DataObject) -> None:
        """``appointment.status_changed`` (the newest version; older ones are stale). As ``his_events`` does:
        a hospital-initiated refund is recorded as an obligation, then booking is told."""
        self.his.tick(self.world.now)
        owed = sorted(o.order_id for o in self.his.undelivered())
        if not owed:
            return
        order = self.his.orders[data.draw(st.sampled_from(owed))]
        self.his.delivered[order.order_id] = order.version
        refund = order.refund
        if refund is not None and refund["initiated_by"] == "hospital":
            self.world.refunds.record(RefundObligation(
                out_refund_no=refund["his_refund_id"], business_type=BusinessType.REGISTRATION,
                his_trade_id=order.his_id, caller_ref=order.order_id, amount_fen=refund["refund_amount_fen"],
                patient_id=order.patient_id, source=RefundSource.HOSPITAL, reason=order.reason or "",
                created_at=self.world.now, his_refund_id=refund["his_refund_id"]))
        booking.on_his_status(self.ctx, order.his_id, order.status, order.reason, order.version)

    # ---- time ---------------------------------------------------------------------------------------------------
    @rule(minutes=st.sampled_from([1, 2, 3, 10, 16, 30, 120, 600]))
    def time_passes_and_the_sweep_runs(self, minutes: int) -> None:
        self.world.now += timedelta(minutes=minutes)
        self.his.tick(self.world.now)
        booking.sweep(self.ctx)

    # ---- invariants -------------------------------------------------------------------------------------------
    def _appointments(self) -> list[Appointment]:
        return list(self.world.appointments.items.values())

    @invariant()
    def the_pool_adds_up_and_no_slot_is_sold_twice_or_leaked(self) -> None:
        w = self.world
        if not w.schedules:
            return
        offers = {f"offer:{e.offer.offer_id}": (e.schedule_id, e.offer.slot_id)
                  for e in w.waitlist.entries_.values() if e.state is EntryState.OFFERED and e.offer is not None}
        for sched, s in w.schedules.items():
            counts = w.pool.counts(sched)
            assert counts[FREE] + counts[HELD] + counts[BLOCKED] == s.capacity, counts
            held = {slot_id: holder for (sch, slot_id), (state, holder) in w.pool.slots.items()
                    if sch == sched and state == HELD}
            for slot_id, holder in held.items():
                if holder in offers:
                    assert offers[holder] == (sched, slot_id)
                    continue
                a = w.appointments.get(holder or "")
                assert a is not None and (a.occupies_slot or a.state in CONSUMED) and a.slot.slot_id == slot_id, (
                    f"slot {sched}/{slot_id} leaked: held by {holder} in state {a.state if a else None}")
            legit = sum(1 for slot_id, holder in held.items() if holder in offers or (
                (a := w.appointments.get(holder or "")) is not None and (a.occupies_slot or a.state in CONSUMED)))
            assert legit == counts[HELD]
            for holder, (osched, slot_id) in offers.items():
                if osched == sched:
                    assert held.get(slot_id) == holder, f"offer {holder} does not hold {slot_id}"
        for a in self._appointments():
            if a.state in MUST_HOLD:
                holder = w.pool.holder_of(a.visit.schedule_id, a.slot.slot_id)
                assert holder == a.appointment_id, (
                    f"{a.appointment_id} is {a.state} but its slot {a.slot.slot_id} is held by {holder}")

    @invariant()
    def one_occupying_appointment_per_patient_per_schedule(self) -> None:
        seen: dict[tuple[str, str], str] = {}
        for a in sorted(self._appointments(), key=lambda x: x.appointment_id):
            if a.occupies_slot:
                key = (a.patient_id, a.visit.schedule_id)
                assert key not in seen, f"{key} occupied by {seen.get(key)} ({a.state}) and {a.appointment_id}"
                seen[key] = a.appointment_id

    @invariant()
    def money_taken_is_kept_only_while_served_and_otherwise_owed_back_once(self) -> None:
        refunds = list(self.world.refunds.items.values())
        for a in self._appointments():
            received = sum(self.payments[a.appointment_id].amount_fen
                           for _ in self.received.get(a.appointment_id, set()))
            # A payment that reached a booking being given up is owed back at once (``refund_owed_fen``).
            kept = a.payment.amount_fen if a.payment and a.state in KEEPS_MONEY and not a.refund_owed_fen else 0
            owed = sum(r.amount_fen for r in refunds if r.caller_ref == a.appointment_id)
            # The hospital cancelled while our step was at the HIS (the event waits for the step's answer): if the
            # HIS had taken the payment, its own refund is already owed, else ours follows the step's answer.
            hospital_cancel_waiting = a.pending_his_status == "cancelled" and a.pending_his_reason != "caller_cancelled"
            allowed = {received - kept} | ({received} if hospital_cancel_waiting else set())
            assert owed in allowed, (
                f"{a.appointment_id} {a.state}: received {received}, kept {kept}, refunds recorded {owed}")
            if a.payment is not None and a.state not in KEEPS_MONEY:
                assert owed >= a.payment.amount_fen, f"{a.appointment_id} {a.state} paid but no refund recorded"
            if a.state is State.CANCELLED and a.payment is not None:
                assert owed == a.payment.amount_fen

    @invariant()
    def no_notice_id_is_sent_twice(self) -> None:
        ids = [nid for _, nid in self.world.notices]
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


BookingSaga.TestCase.settings = settings(max_examples=500, stateful_step_count=50, deadline=None, report_multiple_bugs=False,
                                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_booking_saga = BookingSaga.TestCase


# ---- deterministic reproductions --------------------------------------------------------------------------------
@pytest.fixture
def world() -> BookingWorld:
    w = BookingWorld()
    w.schedules["PAID1"] = schedule("PAID1", capacity=3, fee_fen=5000)
    w.bind(USERS[0], "P1")
    return w

# Each reproduces one failure the machine above finds, in the fewest steps.
def _book(w: BookingWorld, patient: str = "P1", openid: str = USERS[0], key: str = "req-repro-01") -> Appointment:
    return booking.book(w.context(), openid, BookSlot("PAID1", patient, key))


def _last(w: BookingWorld, operation: str) -> HisRequest:
    return w.sent(operation)[-1]


def _locked(w: BookingWorld) -> Appointment:
    req = _last(w, "lockAppointment")
    body = req.body or {}
    expires = (w.now + timedelta(seconds=900)).astimezone(SHANGHAI).isoformat()
    a = booking.apply_his_result(result_ok(req, {"appointment_id": f"HA-{body['order_id']}", "status": "locked",
                                                 "fee_fen": 5000, "lock_expires_at": expires}, w.now), w.context())
    assert a is not None and a.state is State.AWAITING_PAYMENT
    return a


def _paid(w: BookingWorld, a: Appointment, paid_at: datetime | None = None) -> PaymentProof:
    proof = PaymentProof("4200000001", a.appointment_id, 5000, paid_at or w.now, "1900000001")
    booking.registration_paid(w.context(), a.appointment_id, proof)
    return proof


def _refunded(w: BookingWorld, a: Appointment) -> int:
    return sum(o.amount_fen for o in w.refunds.items.values() if o.caller_ref == a.appointment_id)


def test_a_lapse_event_overtaking_a_paid_confirm_waits_for_its_answer(world: BookingWorld) -> None:
    """Paid at once, the confirm is queued behind a busy HIS; the HIS's lock lapses and it emits
    ``appointment.status_changed`` → expired (§7.5.1, §8.3) before the confirm's answer. The event waits for the
    answer (it used to move CONFIRMING → EXPIRED and the answer was then ignored: paid, expired, no refund); the
    answer LOCK_EXPIRED fails the booking and the fee is owed back in full."""
    _book(world)
    a = _locked(world)
    _paid(world, a)
    world.now += timedelta(minutes=16)
    booking.on_his_status(world.context(), "HA-" + a.appointment_id, "expired", "lock_expired")
    booking.apply_his_result(result_error(_last(world, "confirmAppointment"), "LOCK_EXPIRED", world.now), world.context())
    after = world.appointments.get(a.appointment_id)
    assert after is not None and after.payment is not None
    assert after.state is State.FAILED and _refunded(world, a) == 5000, (
        f"{after.state}: paid 5000, refunds recorded {_refunded(world, a)}")


def test_the_echo_of_our_own_cancel_overtaking_its_result_keeps_the_refund_owed(world: BookingWorld) -> None:
    """The HIS emits ``appointment.status_changed`` for the integrator's own calls too (§8.3), on a path
    independent of the SQS result. The echo (cancelled, caller_cancelled) arriving first waits for the cancel's
    answer, which carries the refund (``his_events`` records only hospital-initiated refunds), so the 50 元 is
    owed back exactly once."""
    _book(world)
    a = _locked(world)
    _paid(world, a)
    confirm = _last(world, "confirmAppointment")
    booking.apply_his_result(result_ok(confirm, {"appointment_id": "HA-" + a.appointment_id, "status": "confirmed"},
                                       world.now), world.context())
    cancelling = booking.cancel(world.context(), USERS[0], a.appointment_id)
    req = _last(world, "cancelAppointment")
    refund = {"his_refund_id": "HR1", "refund_request_no": cancelling.refund_request_no, "refund_amount_fen": 5000,
              "initiated_by": "caller", "created_at": world.now.isoformat()}
    booking.on_his_status(world.context(), "HA-" + a.appointment_id, "cancelled", "caller_cancelled")  # the echo
    booking.apply_his_result(result_ok(req, {"status": "cancelled", "refund": refund}, world.now), world.context())
    after = world.appointments.get(a.appointment_id)
    assert after is not None and after.state is State.CANCELLED
    assert _refunded(world, a) == 5000


def test_a_late_payment_after_the_patient_rebooked_the_session_is_no_second_booking(world: BookingWorld) -> None:
    """A late payment (§7.5.3) takes the patient's place in the session back before confirming; the patient, who
    booked the session again meanwhile, keeps exactly one appointment in it (the late one is refunded)."""
    first = _book(world)
    _locked(world)
    paid_at = world.now
    world.now += timedelta(minutes=17)
    booking.sweep(world.context())  # the lock lapsed: the place and the slot were given back
    assert world.appointments.get(first.appointment_id).state is State.EXPIRED
    again = _book(world, key="req-repro-02")
    _paid(world, first, paid_at)  # paid in time; WeChat Pay's notification came late
    occupying = [x.appointment_id for x in world.appointments.items.values()
                 if x.occupies_slot and x.patient_id == "P1" and x.visit.schedule_id == "PAID1"]
    assert occupying == [again.appointment_id] or occupying == [first.appointment_id], occupying


def test_a_late_payment_for_a_slot_rebooked_meanwhile_is_refunded_not_confirmed(world: BookingWorld) -> None:
    """The lock lapsed and the slot went to another booking before WeChat Pay's late notification: the late
    payment must not ask the HIS to re-take that slot (the HIS might give it to us and then refuse the other
    booking, leaving our pool wrong); it is refunded in full at once, and the other booking keeps the slot."""
    world.bind(USERS[1], "P3")
    first = booking.book(world.context(), USERS[0], BookSlot("PAID1", "P1", "req-repro-01", "PAID1-01"))
    _locked(world)
    paid_at = world.now
    world.now += timedelta(minutes=17)
    booking.sweep(world.context())
    other = booking.book(world.context(), USERS[1], BookSlot("PAID1", "P3", "req-repro-03", "PAID1-01"))
    _paid(world, first, paid_at)
    assert world.sent("confirmAppointment") == []
    after = world.appointments.get(first.appointment_id)
    assert after is not None and after.state is State.EXPIRED and _refunded(world, first) == 5000
    assert world.pool.holder_of("PAID1", "PAID1-01") == other.appointment_id


def test_claiming_an_offer_with_a_used_request_key_is_refused_and_the_offer_stays(world: BookingWorld) -> None:
    """With a request key the user already used, ``book`` returns that earlier appointment without touching the
    offer; the claim is refused (it used to mark the entry CLAIMED, leaving the slot held by ``offer:<id>`` for
    ever), the offer stays open and a fresh key claims it."""
    world.bind(USERS[0], "P2")
    world.bind(USERS[1], "P3")
    world.bind(USERS[2], "P4")
    ctx = world.context()
    for u, p in ((USERS[0], "P1"), (USERS[1], "P3"), (USERS[2], "P4")):
        booking.book(ctx, u, BookSlot("PAID1", p, f"req-full-{p}"))
    waitlist.join(ctx, USERS[0], "PAID1", "P2")
    booking.apply_his_result(result_error(world.sent("lockAppointment")[1], "PATIENT_RESTRICTED", world.now), ctx)
    entry = world.waitlist.get("PAID1", "P2")
    assert entry is not None and entry.offer is not None
    with pytest.raises(BookingError) as refused:
        waitlist.claim(ctx, USERS[0], entry.offer.offer_id, "req-full-P1")  # the key of P1's booking
    assert refused.value.code == "REQUEST_KEY_USED"
    assert world.waitlist.get("PAID1", "P2").state is EntryState.OFFERED  # still offered, still claimable
    assert world.pool.holder_of("PAID1", entry.offer.slot_id) == f"offer:{entry.offer.offer_id}"
    claimed = waitlist.claim(ctx, USERS[0], entry.offer.offer_id, "req-claim-P2")
    assert claimed.offer_id == entry.offer.offer_id and claimed.patient_id == "P2"
