"""Booking use cases: hold a slot fairly, lock and confirm it at the HIS, pay (or not), cancel, reschedule,
remind, and follow what the hospital changes.

The hold is ours and synchronous (a conditional write on one slot item, after the fairness checks), so
at the 08:00 release every patient gets an answer at once without the middleware seeing the rush. The
HIS steps go through the bridge over SQS; their results come back to ``apply_his_result``. Every step is
keyed: the request key of the page (double taps), the appointment id as the HIS ``order_id``, an
``Idempotency-Key`` per step, the appointment's version for our own writes. A step the HIS has not
answered is sent again by a timer (``sweep``) under the same key, so a lost message resumes the saga.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import booking as bk
from chalicelib.domain.booking import Appointment, BookingError, PaymentProof, SlotRef, State, View, Visit
from chalicelib.domain.his_messages import OUTCOME_OK, HisRequest, HisResult, end_user_pseudonym
from chalicelib.domain.patients import PatientBinding, Relation, addressed
from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource
from chalicelib.domain.schedules import (
    SESSION_NAMES,
    Schedule,
    ScheduleFormatError,
    Slot,
    in_booking_pause,
    schedule_from_his,
    slots_from_his,
)
from chalicelib.domain.timers import Timer, TimerKind
from chalicelib.domain.wechat import Notice, NoticeKind
from chalicelib.observability import get_logger
from chalicelib.services.live_reads import HisRefusedError, LiveReadUnavailableError, live_read
from chalicelib.services.ports import (
    AppointmentRepository,
    BlobStore,
    BookingLimits,
    Clock,
    HisLiveReader,
    HisRequestQueue,
    LiveCopies,
    PatientBindings,
    RefundObligations,
    ScheduleNotices,
    SlotPool,
    SlotPoolSnapshot,
    TimerStore,
    WaitlistRepository,
)

log = get_logger("booking")

PURPOSE = "booking"
SNAPSHOT_REFRESH = timedelta(minutes=5)
CANDIDATES_PER_ROUND = 8
ROUNDS = 3
SAVE_ATTEMPTS = 5
EFFECTS_CHECK = timedelta(minutes=2)


@dataclass(frozen=True)
class BookingContext:
    """The ports and settings the booking use cases need (built by ``bootstrap``)."""

    appointments: AppointmentRepository
    pool: SlotPool
    limits: BookingLimits
    timers: TimerStore
    waitlist: WaitlistRepository
    bindings: PatientBindings
    requests: HisRequestQueue
    stops: ScheduleNotices
    refunds: RefundObligations
    read_schedule: Callable[[str], tuple[Schedule, list[Slot]]]  # live: raises ``ScheduleUnavailableError``
    send_notice: Callable[[Notice, str], object]
    page_url: Callable[[str], str]
    clock: Clock
    new_hex: Callable[[], str]
    shuffle: Callable[[list[str]], list[str]]
    end_user_key: bytes
    requests_per_minute: int = 20
    daily_cap_per_user: int = 6
    daily_cap_per_patient: int = 3
    reminder_offsets_minutes: tuple[int, ...] = (1440, 120)
    waitlist_offer_minutes: int = 15

    def user(self, openid: str) -> str:
        """The pseudonym we key a user's counters and audits by (never the openid itself)."""
        return end_user_pseudonym(openid, self.end_user_key)


class ScheduleUnknownError(Exception):
    """The HIS has no such schedule."""


class ScheduleUnavailableError(Exception):
    """The HIS could not be asked about the schedule now."""


@dataclass(frozen=True)
class BookSlot:
    schedule_id: str
    patient_id: str
    request_key: str
    slot_id: str | None = None


@dataclass(frozen=True)
class PayableRegistration:
    """What the payments side charges for a registration: from our record, never from the page."""

    appointment_id: str
    order_id: str
    patient_id: str
    openid: str
    amount_fen: int
    description: str
    pay_by: datetime


def his_schedule_reader(reader: HisLiveReader, copies: LiveCopies, clock: Clock, new_id: Callable[[], str],
                        blobs: BlobStore | None = None) -> Callable[[str], tuple[Schedule, list[Slot]]]:
    """Reads a schedule and all its slots (also before release: the pool is made ahead of the rush)
    through the bridge's live reads, with the kept copy as fallback."""

    def read(schedule_id: str) -> tuple[Schedule, list[Slot]]:
        def get(operation: str, key: str) -> Any:
            request = HisRequest(new_id(), operation, clock(), path_params={"schedule_id": schedule_id},
                                 context={"purpose": "live_read"})
            return live_read(key, request, reader, copies, clock, blobs).body

        try:
            schedule = schedule_from_his(get("getSchedule", f"schedule#{schedule_id}"))
            slots = slots_from_his(get("listSlots", f"poolslots#{schedule_id}"))
        except HisRefusedError as exc:
            if exc.status == 404:
                raise ScheduleUnknownError(schedule_id) from exc
            raise ScheduleUnavailableError(exc.code) from exc
        except (LiveReadUnavailableError, ScheduleFormatError) as exc:
            raise ScheduleUnavailableError(str(exc)) from exc
        return schedule, slots

    return read


def parse_book(body: Any) -> BookSlot:
    if not isinstance(body, dict):
        raise BookingError(400, "BAD_REQUEST", "请求格式不正确")
    schedule_id, patient_id, key = body.get("schedule_id"), body.get("patient_id"), body.get("request_key")
    slot_id = body.get("slot_id")
    if not isinstance(schedule_id, str) or not bk.ID.match(schedule_id):
        raise BookingError(400, "BAD_REQUEST", "请选择要预约的时段")
    if not isinstance(patient_id, str) or not bk.ID.match(patient_id):
        raise BookingError(400, "BAD_REQUEST", "请选择就诊人")
    if not isinstance(key, str) or not bk.REQUEST_KEY.match(key):
        raise BookingError(400, "BAD_REQUEST", "请求缺少有效的预约编号，请刷新页面后重试")
    if slot_id is not None and (not isinstance(slot_id, str) or not bk.ID.match(slot_id)):
        raise BookingError(400, "BAD_REQUEST", "所选号源无效，请重新选择")
    return BookSlot(schedule_id, patient_id, key, slot_id)


# ---- reading ---------------------------------------------------------------------------------------------
def appointment_of(ctx: BookingContext, openid: str, appointment_id: str) -> Appointment:
    """The user's own appointment; any other id is "not found" and the attempt is audited."""
    found = ctx.appointments.get(appointment_id) if bk.ID.match(appointment_id) else None
    if found is None or found.openid != openid:
        if found is not None:
            log.warning("audit: appointment of another user requested",
                        extra={"user": ctx.user(openid), "appointment_id": appointment_id})
        raise bk.not_found()
    return found


def my_appointments(ctx: BookingContext, openid: str, view: View) -> list[Appointment]:
    now = ctx.clock()
    items = [a for a in ctx.appointments.of_user(openid) if bk.in_view(a, view, now)]
    newest_first = view is not View.UPCOMING
    return sorted(items, key=lambda a: (a.visit.start_time, a.created_at), reverse=newest_first)


# ---- booking -----------------------------------------------------------------------------------------------
def book(ctx: BookingContext, openid: str, cmd: BookSlot, *, replaces: str | None = None,
         offer: tuple[str, str] | None = None) -> Appointment:
    """Hold a slot for one of the user's patients and start the saga. ``offer`` = (offer id, slot id)
    books the slot a waitlist offer keeps for this patient."""
    now = ctx.clock()
    user = ctx.user(openid)
    binding = _binding(ctx, openid, cmd.patient_id)
    if not ctx.limits.throttle(user, now, ctx.requests_per_minute):
        raise BookingError(429, "TOO_MANY_REQUESTS", "操作太频繁，请稍后再试", retry_after=max(1, 60 - now.second))
    snapshot = _snapshot(ctx, cmd.schedule_id, now)
    schedule = snapshot.schedule
    _check_bookable(ctx, schedule, now)
    appointment_id = bk.new_appointment_id(now, ctx.new_hex())
    first = ctx.limits.claim_request(user, cmd.request_key, appointment_id, now)
    if first != appointment_id:  # the same request again
        earlier = ctx.appointments.get(first)
        if earlier is None:
            raise BookingError(409, "IN_PROGRESS", "您的预约正在处理，请稍候刷新", retry_after=1)
        return earlier
    undo: list[Callable[[], None]] = [lambda: ctx.limits.release_request(user, cmd.request_key, appointment_id)]
    try:
        holder = ctx.limits.claim_patient_schedule(binding.patient_id, schedule.schedule_id, appointment_id)
        if holder is not None:
            raise BookingError(409, "ALREADY_BOOKED", "该就诊人已预约该时段，同一时段只能预约一个号", appointment_id=holder)
        undo.append(lambda: ctx.limits.release_patient_schedule(binding.patient_id, schedule.schedule_id, appointment_id))
        day = bk.shanghai_day(now)
        if not ctx.limits.take_daily(f"patient#{binding.patient_id}", day, ctx.daily_cap_per_patient):
            raise BookingError(409, "DAILY_LIMIT", f"该就诊人今天已预约{ctx.daily_cap_per_patient}次，请明天再约")
        undo.append(lambda: ctx.limits.give_back_daily(f"patient#{binding.patient_id}", day))
        if not ctx.limits.take_daily(f"user#{user}", day, ctx.daily_cap_per_user):
            raise BookingError(409, "DAILY_LIMIT", f"您今天已预约{ctx.daily_cap_per_user}次，请明天再约")
        undo.append(lambda: ctx.limits.give_back_daily(f"user#{user}", day))
        slot_id = _hold(ctx, snapshot, appointment_id, cmd.slot_id, offer)
        undo.append(lambda: _unhold(ctx, schedule.schedule_id, slot_id, appointment_id, offer))
        slot = next(s for s in snapshot.slots if s.slot_id == slot_id)
        appointment = Appointment(
            appointment_id=appointment_id, openid=openid, patient_id=binding.patient_id, patient_label=binding.label,
            relation=binding.relation.value, visit=Visit.of(schedule), slot=SlotRef.of(slot), state=State.HOLDING,
            created_at=now, updated_at=now, replaces=replaces, offer_id=offer[0] if offer else None,
            history=((now.isoformat(), State.HOLDING.value),))
        # The timer first: from the moment the appointment exists, a lost lock request is sent again.
        _timer(ctx, TimerKind.RESEND, appointment_id, now + bk.RESEND_AFTER, "lock")
        _store(ctx, appointment)
    except Exception as exc:
        # Nothing half-done stays behind: the slot, the patient's place, the counters and the request key go back.
        for step in reversed(undo):
            step()
        if isinstance(exc, BookingError):
            raise
        log.exception("booking could not be stored; everything taken was given back")
        raise BookingError(503, "TRY_AGAIN", "系统繁忙，请稍后重试", retry_after=2) from exc
    try:
        _send_lock(ctx, appointment)
    except Exception:  # the RESEND timer sends it in a minute and a half
        log.exception("lock request not queued; the timer sends it again")
    log.info("slot held", extra={"appointment_id": appointment_id, "schedule_id": schedule.schedule_id})
    return appointment


def _store(ctx: BookingContext, appointment: Appointment) -> None:
    """Add the appointment; a write that failed though it was stored (a lost answer) counts as stored."""
    try:
        ctx.appointments.add(appointment)
    except Exception:
        if ctx.appointments.get(appointment.appointment_id) is None:
            raise


def _unhold(ctx: BookingContext, schedule_id: str, slot_id: str, holder: str, offer: tuple[str, str] | None) -> None:
    """Give a slot held for a booking that could not be stored back to where it came from."""
    ctx.pool.transfer(schedule_id, slot_id, holder, f"offer:{offer[0]}" if offer else None)


def _binding(ctx: BookingContext, openid: str, patient_id: str) -> PatientBinding:
    binding = next((b for b in ctx.bindings.patients_of(openid) if b.patient_id == patient_id), None)
    if binding is None:
        log.warning("audit: booking for a patient not bound to the user", extra={"user": ctx.user(openid)})
        raise BookingError(404, "PATIENT_NOT_FOUND", "未找到该就诊人，请先绑定就诊卡")
    return binding


def _snapshot(ctx: BookingContext, schedule_id: str, now: datetime) -> SlotPoolSnapshot:
    snapshot = ctx.pool.snapshot(schedule_id)
    if snapshot is not None and now - snapshot.refreshed_at < SNAPSHOT_REFRESH:
        return snapshot
    if not ctx.pool.start_preparing(schedule_id, now):
        if snapshot is not None:
            return snapshot  # someone else is refreshing it: this copy is a few minutes old at most
        raise BookingError(503, "SLOTS_PREPARING", "号源正在准备中，请稍候", retry_after=1)
    try:
        schedule, slots = ctx.read_schedule(schedule_id)
    except ScheduleUnknownError as exc:
        raise BookingError(404, "NOT_FOUND", "没有找到该出诊时段，可能已调整") from exc
    except ScheduleUnavailableError as exc:
        if snapshot is not None:
            return snapshot
        raise BookingError(503, "HIS_UNAVAILABLE", "医院系统暂时无法访问，请稍后再试", retry_after=5) from exc
    if snapshot is None:
        fresh = SlotPoolSnapshot(schedule, tuple(slots), now)
        ctx.pool.prepare(fresh)
        return fresh
    ctx.pool.refresh(schedule, now)
    return replace(snapshot, schedule=schedule, refreshed_at=now)


def _check_bookable(ctx: BookingContext, schedule: Schedule, now: datetime) -> None:
    if not schedule.released(now):
        raise BookingError(409, "NOT_RELEASED", "该时段尚未放号，请在放号时间后预约",
                           release_at=schedule.release_at.isoformat())
    if schedule.stopped or ctx.stops.stop_of(schedule.schedule_id) is not None:
        raise BookingError(409, "SCHEDULE_STOPPED", "该时段医生停诊，请选择其他时段")
    if schedule.status == "closed" or now >= schedule.start_time:
        raise BookingError(409, "SCHEDULE_CLOSED", "该时段已停止预约")
    if in_booking_pause(now):
        raise BookingError(409, "BOOKING_PAUSED", "每晚23:15至次日0:30医院系统维护，暂停预约，请稍后再来")


def _hold(ctx: BookingContext, snapshot: SlotPoolSnapshot, holder: str, wanted: str | None,
          offer: tuple[str, str] | None) -> str:
    schedule_id = snapshot.schedule.schedule_id
    if offer is not None:
        offer_id, slot_id = offer
        if not ctx.pool.transfer(schedule_id, slot_id, f"offer:{offer_id}", holder):
            raise BookingError(409, "OFFER_EXPIRED", "为您保留的号源已过期")
        return slot_id
    if wanted is not None:
        if all(s.slot_id != wanted for s in snapshot.slots):
            raise BookingError(404, "NOT_FOUND", "所选号源不存在，请重新选择")
        if ctx.pool.hold(schedule_id, holder, [wanted]) is None:
            raise BookingError(409, "SLOT_TAKEN", "该时段号源刚被预约，请选择其他时段")
        return wanted
    for _ in range(ROUNDS):
        free = ctx.pool.free_slots(schedule_id)
        if not free:
            break
        got = ctx.pool.hold(schedule_id, holder, ctx.shuffle(free)[:CANDIDATES_PER_ROUND])
        if got is not None:
            return got
    raise BookingError(409, "SCHEDULE_FULL", "该时段号源已约满，可加入候补，有号源释放时会通知您", waitlist_open=True)


# ---- the HIS steps -----------------------------------------------------------------------------------------
def _request(ctx: BookingContext, a: Appointment, operation: str, step: str, body: dict[str, Any],
             path: dict[str, str] | None = None, key_suffix: str = "") -> None:
    ctx.requests.send(HisRequest(
        request_id=f"{a.appointment_id}-{step}{key_suffix}-{ctx.new_hex()[:8]}", operation=operation,
        requested_at=ctx.clock(), path_params=path or {}, body=body,
        idempotency_key=bk.idempotency_key(a.appointment_id, step + key_suffix), end_user=ctx.user(a.openid),
        context={"purpose": PURPOSE, "step": step, "appointment_id": a.appointment_id}))


def _send_lock(ctx: BookingContext, a: Appointment) -> None:
    _request(ctx, a, "lockAppointment", "lock", {
        "order_id": a.appointment_id, "schedule_id": a.visit.schedule_id, "patient_id": a.patient_id,
        "slot_id": a.slot.slot_id, "expected_fee_fen": a.visit.fee_fen})


def _send_confirm(ctx: BookingContext, a: Appointment) -> None:
    payment = a.payment.to_his() if a.payment else None
    _request(ctx, a, "confirmAppointment", "confirm", {"order_id": a.appointment_id, "payment": payment},
             {"appointment_id": a.his_appointment_id or ""})


def _send_cancel(ctx: BookingContext, a: Appointment) -> None:
    reason = "payment_abandoned" if a.payment is None and a.fee_fen > 0 else "patient_request"
    _request(ctx, a, "cancelAppointment", "cancel",
             {"order_id": a.appointment_id, "reason_code": reason, "refund_request_no": a.refund_request_no},
             {"appointment_id": a.his_appointment_id or ""}, key_suffix=f"-{a.version}")


def apply_his_result(result: HisResult, ctx: BookingContext) -> Appointment | None:
    """A lock, confirm or cancel came back from the bridge (redeliveries apply once)."""
    appointment_id, step = result.context.get("appointment_id", ""), result.context.get("step", "")
    ok = result.outcome == OUTCOME_OK
    body = result.body if isinstance(result.body, dict) else None
    code = result.error.code if result.error else ""
    if not ok and result.error is not None and result.error.retryable and step in ("confirm", "cancel"):
        log.info("retryable HIS answer; the timer sends the step again", extra={"step": step, "code": code})
        return None
    decide: dict[str, Callable[[Appointment, datetime], Appointment]] = {
        "lock": lambda a, now: bk.after_lock(a, ok, body, code, now),
        "confirm": lambda a, now: bk.after_confirm(a, ok, body, code, now),
        "cancel": lambda a, now: bk.after_cancel(a, ok, body, code, now),
    }
    if step not in decide:
        log.warning("booking result with an unknown step dropped", extra={"step": step})
        return None
    return _advance(ctx, appointment_id, decide[step])


def _advance(ctx: BookingContext, appointment_id: str,
             decide: Callable[[Appointment, datetime], Appointment]) -> Appointment | None:
    """Apply a transition with an optimistic version check, then its effects (once: only the writer that
    moved the record performs them)."""
    for _ in range(SAVE_ATTEMPTS):
        current = ctx.appointments.get(appointment_id)
        if current is None:
            log.warning("result for an unknown appointment dropped", extra={"appointment_id": appointment_id})
            return None
        now = ctx.clock()
        moved = decide(current, now)
        if moved is current:
            return current
        # Set first: if this process dies after the save, the timer runs the effects (all idempotent).
        _timer(ctx, TimerKind.EFFECTS, moved.appointment_id, now + EFFECTS_CHECK, str(moved.version))
        if ctx.appointments.save(moved):
            _effects(ctx, current, moved, now)
            return moved
    raise RuntimeError(f"appointment {appointment_id} kept changing; the message is retried")


def _effects(ctx: BookingContext, before: Appointment, after: Appointment, now: datetime, rerun: bool = False) -> None:
    """What a transition does besides the record: idempotent each, so a re-run (``rerun``: from the EFFECTS
    timer, when the first run may have died) repeats nothing visible; a re-run leaves HIS steps to their
    RESEND timers."""
    if after.his_appointment_id and after.his_appointment_id != before.his_appointment_id:
        ctx.appointments.remember_his_id(after.his_appointment_id, after.appointment_id)
    if after.refund_owed_fen and not before.refund_owed_fen:
        _owe_refund(ctx, after, now)
    if after.state is before.state:
        return
    match after.state:
        case State.AWAITING_PAYMENT:
            if after.lock_expires_at:
                _timer(ctx, TimerKind.LOCK_LAPSE, after.appointment_id, after.lock_expires_at + bk.LOCK_GRACE)
        case State.CONFIRMING:
            _timer(ctx, TimerKind.RESEND, after.appointment_id, now + bk.RESEND_AFTER, "confirm")
            if not rerun:
                _send_confirm(ctx, after)
        case State.CONFIRMED:
            _confirmed(ctx, before, after, now)
        case State.CANCELLING:
            _timer(ctx, TimerKind.RESEND, after.appointment_id, now + bk.RESEND_AFTER, f"cancel-{after.version}")
            if not rerun:
                _send_cancel(ctx, after)
        case State.CANCELLED | State.EXPIRED | State.FAILED:
            _release(ctx, after, offer_to_waitlist=True)
            if after.state is State.CANCELLED and before.state is State.CANCELLING:
                _tell(ctx, after, NoticeKind.APPOINTMENT_CANCELLED, f"cancelled:{after.appointment_id}",
                      f"您已取消预约：{after.visit.department_name} {after.visit.date:%m月%d日} {after.slot.window_text()}。"
                      + (after.message.removeprefix("预约已取消") if after.refund_owed_fen else ""))
            if after.state is State.FAILED and before.state is State.CONFIRMING and after.payment is not None:
                _tell(ctx, after, NoticeKind.REFUND, f"booking_failed:{after.appointment_id}",
                      f"预约未成功：{after.message}")
        case _:
            pass


def _confirmed(ctx: BookingContext, before: Appointment, after: Appointment, now: datetime) -> None:
    if before.state is not State.CONFIRMED:
        ctx.pool.take_back(after.visit.schedule_id, after.slot.slot_id, after.appointment_id)
        if after.his_appointment_id:
            ctx.stops.remember_appointment(after.his_appointment_id, after.visit.schedule_id, after.patient_id, now)
        if before.state is State.CONFIRMING:
            _tell(ctx, after, NoticeKind.BOOKING_SUCCESS, f"booking_success:{after.appointment_id}",
                  bk.booking_notice_text(after))
            for minutes in ctx.reminder_offsets_minutes:
                due = after.visit.start_time - timedelta(minutes=minutes)
                if due > now:
                    ctx.timers.set(Timer(TimerKind.REMINDER, after.appointment_id, due, str(minutes)))
        if after.replaces:  # a reschedule: the new one is confirmed, so the old one goes
            try:
                cancel(ctx, after.openid, after.replaces)
            except BookingError as exc:
                log.warning("the rescheduled appointment could not be cancelled", extra={"code": exc.code})


def _timer(ctx: BookingContext, kind: TimerKind, subject: str, due: datetime, detail: str = "") -> None:
    """Set a timer, never in the past (a step answered late still gets its timer on the next sweep)."""
    ctx.timers.set(Timer(kind, subject, max(due, ctx.clock()), detail))


def _release(ctx: BookingContext, a: Appointment, offer_to_waitlist: bool) -> None:
    from chalicelib.services import waitlist

    ctx.limits.release_patient_schedule(a.patient_id, a.visit.schedule_id, a.appointment_id)
    if a.reason in bk.SLOT_GONE_CODES:
        ctx.pool.transfer(a.visit.schedule_id, a.slot.slot_id, a.appointment_id, bk.BLOCKED_HOLDER)
        return
    waitlist.slot_freed(ctx, a.visit.schedule_id, a.slot.slot_id, a.appointment_id, offer=offer_to_waitlist)


def _owe_refund(ctx: BookingContext, a: Appointment, now: datetime) -> None:
    if a.refund_request_no is None or a.payment is None:
        return
    ours = a.refund_request_no == bk.refund_request_no(a.appointment_id)  # else the hospital's refund id
    ctx.refunds.record(RefundObligation(
        out_refund_no=a.refund_request_no, business_type=BusinessType.REGISTRATION,
        his_trade_id=a.his_appointment_id or a.appointment_id, caller_ref=a.appointment_id,
        amount_fen=a.refund_owed_fen, patient_id=a.patient_id,
        source=RefundSource.CALLER if ours else RefundSource.HOSPITAL, reason=a.state.value, created_at=now,
        his_refund_id=None if ours else a.refund_request_no))


def _tell(ctx: BookingContext, a: Appointment, kind: NoticeKind, notice_id: str, text: str) -> None:
    binding = PatientBinding(a.openid, a.patient_id, Relation(a.relation), a.patient_label, a.created_at)
    v = a.visit
    fields = {"keyword1": a.patient_label, "keyword2": f"{v.department_name} {v.doctor_name or ''}".strip(),
              "keyword3": f"{v.date:%Y-%m-%d} {a.slot.window_text()}", "keyword4": v.location.display()}
    url = ctx.page_url(f"appointment.html?id={a.appointment_id}")
    ctx.send_notice(Notice(kind, a.openid, addressed(text, binding), fields, url), notice_id)


# ---- the patient's actions ---------------------------------------------------------------------------------
def cancel(ctx: BookingContext, openid: str, appointment_id: str) -> Appointment:
    """Cancel (退号) before the deadline, or give up an unpaid lock so the slot returns at once."""
    appointment_of(ctx, openid, appointment_id)
    moved = _advance(ctx, appointment_id, bk.start_cancel)
    assert moved is not None
    return moved


def reschedule(ctx: BookingContext, openid: str, appointment_id: str, cmd: BookSlot) -> Appointment:
    """Book the new slot first; the old appointment is cancelled once the new one is confirmed."""
    old = appointment_of(ctx, openid, appointment_id)
    if old.state is not State.CONFIRMED or not old.cancellable(ctx.clock()):
        raise BookingError(409, "INVALID_STATE", "该预约当前不能改约（已过退号截止时间或尚未预约成功）")
    if cmd.patient_id != old.patient_id:
        raise BookingError(400, "BAD_REQUEST", "改约只能为同一位就诊人")
    return book(ctx, openid, cmd, replaces=old.appointment_id)


def payable(ctx: BookingContext, openid: str, appointment_id: str) -> PayableRegistration:
    """The fee to collect for an appointment waiting for payment (the payments side charges exactly this)."""
    a = appointment_of(ctx, openid, appointment_id)
    if a.state is not State.AWAITING_PAYMENT or a.pay_by is None:
        raise BookingError(409, "NOT_PAYABLE", "该预约当前无需支付")
    if ctx.clock() >= a.pay_by:
        raise BookingError(409, "PAYMENT_CLOSED", "已超过支付时间，号源将自动释放，请重新预约")
    v = a.visit
    return PayableRegistration(a.appointment_id, a.appointment_id, a.patient_id, a.openid, a.fee_fen,
                               f"挂号费-{v.department_name}-{v.date:%m月%d日}{SESSION_NAMES.get(v.session, '')}", a.pay_by)


def registration_paid(ctx: BookingContext, appointment_id: str, proof: PaymentProof) -> Appointment | None:
    """WeChat Pay confirmed the fee: confirm at the HIS (or, if the booking is gone, refund in full). A late
    payment (the lock lapsed) is confirmed only if our slot and the patient's place are still free: they
    are taken back first, so nobody else is sold that slot while the HIS is asked to re-take it."""
    current = ctx.appointments.get(appointment_id)
    kept = True
    if current is not None and current.state is State.EXPIRED and current.payment is None:
        kept = _take_back(ctx, current)
    return _advance(ctx, appointment_id, lambda a, now: bk.after_payment(a, proof, now, slot_kept=kept))


def _take_back(ctx: BookingContext, a: Appointment) -> bool:
    holder = ctx.limits.claim_patient_schedule(a.patient_id, a.visit.schedule_id, a.appointment_id)
    if holder is not None:
        return False  # the patient booked this session again meanwhile
    if ctx.pool.take_back(a.visit.schedule_id, a.slot.slot_id, a.appointment_id):
        return True
    ctx.limits.release_patient_schedule(a.patient_id, a.visit.schedule_id, a.appointment_id)
    return False


def resume(ctx: BookingContext, appointment_id: str) -> bool:
    """The reconciliation found our payment for this booking unaccounted at the HIS: send the confirmation
    again under its key (or record the refund still owed). True if something was done."""
    a = ctx.appointments.get(appointment_id)
    if a is None or a.payment is None:
        return False
    if a.state is State.CONFIRMING:
        _send_confirm(ctx, a)
        return True
    if a.refund_owed_fen:
        _owe_refund(ctx, a, ctx.clock())  # keyed by out_refund_no: recorded once
        return True
    return False


def on_his_status(ctx: BookingContext, his_appointment_id: str, status: str, reason: str | None,
                  status_version: int | None = None) -> None:
    """The hospital changed one of our appointments (an ``appointment.status_changed`` event)."""
    found = ctx.appointments.by_his_id(his_appointment_id)
    if found is not None:
        _advance(ctx, found.appointment_id,
                 lambda a, now: bk.after_his_status(a, status, reason, now, status_version))


# ---- timers ------------------------------------------------------------------------------------------------
def sweep(ctx: BookingContext) -> dict[str, int]:
    """Fire the timers that are due (every minute): resend unanswered steps, let unpaid locks lapse,
    remind patients, move unclaimed waitlist offers on. Each action is idempotent."""
    from chalicelib.services import waitlist

    counts: dict[str, int] = {}
    now = ctx.clock()
    for timer in ctx.timers.due(now):
        if timer.kind is TimerKind.OFFER_EXPIRY:
            waitlist.expire_offer(ctx, timer.subject)
        else:
            _fire(ctx, timer, now)
        ctx.timers.done(timer)
        counts[timer.kind.value] = counts.get(timer.kind.value, 0) + 1
    return counts


def _fire(ctx: BookingContext, timer: Timer, now: datetime) -> None:
    a = ctx.appointments.get(timer.subject)
    if a is None:
        return
    match timer.kind:
        case TimerKind.LOCK_LAPSE:
            _advance(ctx, a.appointment_id, bk.lapse)
        case TimerKind.RESEND:
            step = timer.detail.split("-", 1)[0]
            if (step, a.state) in (("lock", State.HOLDING), ("confirm", State.CONFIRMING), ("cancel", State.CANCELLING)):
                {"lock": _send_lock, "confirm": _send_confirm, "cancel": _send_cancel}[step](ctx, a)
                _timer(ctx, TimerKind.RESEND, a.appointment_id, now + bk.RESEND_AFTER, timer.detail)
        case TimerKind.EFFECTS:
            earlier = next((State(h[1]) for h in reversed(a.history) if h[1] != a.state.value), None)
            if str(a.version) == timer.detail and earlier is not None:
                before = replace(a, state=earlier, his_appointment_id=None, refund_owed_fen=0)
                _effects(ctx, before, a, now, rerun=True)
        case TimerKind.REMINDER:
            if a.state is State.CONFIRMED:
                minutes = int(timer.detail or "0")
                _tell(ctx, a, NoticeKind.VISIT_REMINDER, f"visit_reminder:{a.appointment_id}:{minutes}",
                      bk.reminder_text(a, minutes))
        case _:
            pass
