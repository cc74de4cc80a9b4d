"""Booking a slot (预约挂号) as a saga: hold → HIS lock → payment (or none) → HIS confirm → notice.

Pure Python. An ``Appointment`` is our record of one booking attempt; its ``appointment_id`` is also the
``order_id`` we give the middleware (spec §7.5), so the HIS can always be asked about it by business key.
Every step is a transition here, decided from the current state and an input; the service persists the
result with a version check, so a redelivered or raced input applies once.

States::

    holding ──lock ok, fee 0──► confirming ──confirm ok──► confirmed ──► checked_in ──► completed
       │    ──lock ok, fee>0──► awaiting_payment ──paid──┘      │   └──► no_show
       │                         │   └─ lock elapsed ─► expired  └─ cancel ─► cancelling ─► cancelled
       └─ lock refused ─► failed  └─ abandoned ─► cancelling          (refused: back to confirmed)
    confirming ─ confirm refused ─► failed (paid: a refund is owed)
    expired ─ late payment ─► confirming (the HIS re-takes the slot, or refuses: failed, refunded)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.reference import Location, format_fen
from chalicelib.domain.refusals import RefusalError
from chalicelib.domain.schedules import SHANGHAI, Schedule, Slot

REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOCK_GRACE = timedelta(seconds=60)  # we call a lock lapsed this long after the HIS's lock_expires_at
PAY_MARGIN = timedelta(minutes=2)  # spec §7.5.2: payment must close 2 minutes before the lock lapses
RESEND_AFTER = timedelta(seconds=90)  # a step with no HIS answer by then is asked again (same key)


class State(StrEnum):
    HOLDING = "holding"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


STATE_TEXT = {
    State.HOLDING: "正在为您向医院锁定号源…",
    State.AWAITING_PAYMENT: "号源已锁定，请在规定时间内完成支付",
    State.CONFIRMING: "正在向医院确认预约…",
    State.CONFIRMED: "预约成功",
    State.CANCELLING: "正在取消预约…",
    State.CANCELLED: "预约已取消",
    State.EXPIRED: "未在规定时间内支付，号源已释放",
    State.FAILED: "预约未成功",
    State.CHECKED_IN: "已签到",
    State.COMPLETED: "已就诊",
    State.NO_SHOW: "已爽约",
}
FINAL = frozenset({State.CANCELLED, State.EXPIRED, State.FAILED, State.COMPLETED, State.NO_SHOW})
# The slot is ours (held at the HIS or about to be) in these states.
# The middleware refused our lock because the slot is not free there: keep it out of our pool.
SLOT_GONE_CODES = frozenset({"SLOT_TAKEN"})
BLOCKED_HOLDER = "his:unavailable"
# A step of ours is at the HIS; its answer decides, and hospital events wait for it (they may overtake it).
STEP_PENDING = frozenset({State.HOLDING, State.CONFIRMING, State.CANCELLING})
OCCUPYING = frozenset({State.HOLDING, State.AWAITING_PAYMENT, State.CONFIRMING, State.CONFIRMED,
                       State.CANCELLING, State.CHECKED_IN})

# Messages for the patient, by the middleware's error code (spec §6, §7.5).
LOCK_REFUSALS = {
    "SLOT_TAKEN": "该号源刚被他人预约，请选择其他时段",
    "SCHEDULE_FULL": "该时段号源已约满，可加入候补",
    "SLOT_NOT_RELEASED": "该时段尚未放号，请在放号时间后预约",
    "SCHEDULE_STOPPED": "该时段医生停诊，请选择其他时段",
    "INVALID_STATE": "该时段已停止预约",
    "PATIENT_LIMIT_REACHED": "该就诊人已达到医院的预约数量限制（每人每天3个，同一科室每天1个）",
    "PATIENT_RESTRICTED": "该就诊人因多次爽约，暂停线上预约，请到窗口咨询",
    "PATIENT_NOT_ELIGIBLE": "该科室对就诊人年龄或性别有要求，该就诊人不符合",
    "PATIENT_NOT_LINKED": "就诊卡绑定需要更新，请重新绑定就诊卡后再预约",
    "AMOUNT_MISMATCH": "挂号费已调整，请刷新后重新预约",
}
CONFIRM_REFUSALS = {
    "LOCK_EXPIRED": "支付时号源锁定已过期，号源已被占用，挂号费将原路退回",
    "SCHEDULE_STOPPED": "医生停诊，预约未成功，挂号费将原路退回",
    "AMOUNT_MISMATCH": "支付金额与挂号费不一致，预约未成功，款项将原路退回",
}
CANCEL_REFUSALS = {
    "CANCEL_DEADLINE_PASSED": "已过退号截止时间，无法在线取消，请到窗口办理",
    "INVALID_STATE": "该预约当前状态不能取消（可能已签到或已就诊）",
}
GENERIC_REFUSAL = "医院系统未能完成预约，请稍后重试"


class BookingError(RefusalError):
    """A booking refusal the page shows (see ``RefusalError``)."""


def not_found() -> BookingError:
    return BookingError(404, "NOT_FOUND", "没有找到该预约")


@dataclass(frozen=True)
class SlotRef:
    slot_id: str
    seq_no: int
    start_time: datetime
    end_time: datetime

    @classmethod
    def of(cls, slot: Slot) -> SlotRef:
        return cls(slot.slot_id, slot.seq_no, slot.start_time, slot.end_time)

    def window_text(self) -> str:
        return f"{self.start_time.astimezone(SHANGHAI):%H:%M}-{self.end_time.astimezone(SHANGHAI):%H:%M}"


@dataclass(frozen=True)
class Visit:
    """What the patient booked, copied from the schedule when booking (shown even if the HIS is down)."""

    schedule_id: str
    department_id: str
    department_name: str
    doctor_id: str | None
    doctor_name: str | None
    doctor_title_name: str | None
    reg_type: str
    date: date
    session: str
    start_time: datetime
    end_time: datetime
    location: Location
    cancel_deadline: datetime
    fee_fen: int

    @classmethod
    def of(cls, s: Schedule) -> Visit:
        return cls(s.schedule_id, s.department_id, s.department_name, s.doctor_id, s.doctor_name,
                   s.doctor_title_name, s.reg_type, s.date, s.session, s.start_time, s.end_time, s.location,
                   s.cancel_deadline, s.fee_fen)


@dataclass(frozen=True)
class PaymentProof:
    """What WeChat Pay confirmed for a registration fee (the middleware's ``payment`` object, §7.5.3)."""

    transaction_id: str
    out_trade_no: str
    amount_fen: int
    paid_at: datetime
    mch_id: str | None = None

    def to_his(self) -> dict[str, Any]:
        return {"channel": "wechat_pay", "transaction_id": self.transaction_id, "out_trade_no": self.out_trade_no,
                "amount_fen": self.amount_fen, "paid_at": self.paid_at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                "mch_id": self.mch_id}


@dataclass(frozen=True)
class Appointment:
    appointment_id: str  # ours; also the HIS order_id
    openid: str
    patient_id: str
    patient_label: str
    relation: str
    visit: Visit
    slot: SlotRef
    state: State
    created_at: datetime
    updated_at: datetime
    version: int = 0
    his_appointment_id: str | None = None
    lock_expires_at: datetime | None = None
    payment: PaymentProof | None = None
    refund_request_no: str | None = None
    refund_owed_fen: int = 0
    message: str = ""
    reason: str = ""  # the middleware's error code of a refusal, e.g. SLOT_TAKEN
    # A status the hospital reported while one of our steps was waiting for its answer: applied after it.
    pending_his_status: str = ""
    pending_his_reason: str = ""
    pending_his_version: int = 0
    his_status_version: int = 0  # the middleware's ``status_version`` we last applied (older news is stale)
    replaces: str | None = None  # the appointment this one reschedules (cancelled once this one is confirmed)
    offer_id: str | None = None  # booked through a waitlist offer
    history: tuple[tuple[str, str], ...] = field(default=())  # (time, state) for the detail page and audits

    @property
    def fee_fen(self) -> int:
        return self.visit.fee_fen

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def occupies_slot(self) -> bool:
        return self.state in OCCUPYING

    @property
    def needs_payment(self) -> bool:
        return self.state is State.AWAITING_PAYMENT

    @property
    def pay_by(self) -> datetime | None:
        """WeChat Pay's ``time_expire``: two minutes before the HIS lock lapses (spec §7.5.2)."""
        return self.lock_expires_at - PAY_MARGIN if self.lock_expires_at else None

    def cancellable(self, now: datetime) -> bool:
        if self.state is State.AWAITING_PAYMENT:
            return True
        return self.state is State.CONFIRMED and now < self.visit.cancel_deadline

    def state_text(self) -> str:
        return STATE_TEXT[self.state]

    def moved(self, state: State, now: datetime, message: str = "", **changes: Any) -> Appointment:
        return replace(self, state=state, updated_at=now, message=message, version=self.version + 1,
                       history=(*self.history, (now.isoformat(), state.value)), **changes)


# ---- the identifiers we give the middleware and WeChat Pay (CallerRef: 6-32 of [A-Za-z0-9_-]) --------------
def new_appointment_id(now: datetime, random_hex: str) -> str:
    """``WXO`` + Shanghai time to the second + 15 random hex: unique, sortable, a valid ``order_id`` and
    WeChat Pay ``out_trade_no`` (≤ 32 characters)."""
    return f"WXO{now.astimezone(SHANGHAI):%y%m%d%H%M%S}{random_hex[:15]}"


def refund_request_no(appointment_id: str) -> str:
    return f"{appointment_id[:30]}RF"


def idempotency_key(appointment_id: str, step: str) -> str:
    return f"{appointment_id}:{step}"


# ---- transitions -------------------------------------------------------------------------------------------
def after_lock(a: Appointment, ok: bool, body: dict[str, Any] | None, error_code: str, now: datetime) -> Appointment:
    """The HIS answered our lock (§7.5.2)."""
    if a.state is not State.HOLDING:
        return a  # a redelivered answer: already applied
    if not ok or body is None:
        return a.moved(State.FAILED, now, LOCK_REFUSALS.get(error_code, GENERIC_REFUSAL), reason=error_code)
    expires = _time(body.get("lock_expires_at"))
    version = _status_version(a, body)
    fee = body.get("fee_fen")
    his_id = str(body.get("appointment_id") or "")
    fee_fen = fee if isinstance(fee, int) and not isinstance(fee, bool) and fee >= 0 else a.visit.fee_fen
    visit = replace(a.visit, fee_fen=fee_fen)
    if fee_fen == 0:
        return a.moved(State.CONFIRMING, now, his_appointment_id=his_id, lock_expires_at=expires, visit=visit,
                       his_status_version=version)
    return _then_pending(a.moved(State.AWAITING_PAYMENT, now, "请在支付截止时间前完成支付，逾期号源将自动释放",
                                 his_appointment_id=his_id, lock_expires_at=expires, visit=visit,
                                 his_status_version=version), now)


def after_payment(a: Appointment, proof: PaymentProof, now: datetime, slot_kept: bool = True) -> Appointment:
    """WeChat Pay confirmed the fee. A payment is never dropped: in any state but awaiting payment (or a
    lapsed lock, which the HIS may still re-take if our slot and the patient's place are still free:
    ``slot_kept``) it becomes a refund owed."""
    if a.payment is not None and a.payment.transaction_id == proof.transaction_id:
        return a  # the same payment again
    payable = a.state is State.AWAITING_PAYMENT or (a.state is State.EXPIRED and slot_kept)
    if payable and a.payment is None and proof.amount_fen == a.fee_fen:
        return a.moved(State.CONFIRMING, now, "已支付，正在向医院确认预约…", payment=proof)
    if a.payment is None:
        # Unexpected money (cancelled meanwhile, or a wrong amount): keep the proof and refund it in full.
        return a.moved(a.state, now, "预约已失效，款项将原路退回", payment=proof, refund_owed_fen=proof.amount_fen,
                       refund_request_no=refund_request_no(a.appointment_id))
    return a


def after_confirm(a: Appointment, ok: bool, body: dict[str, Any] | None, error_code: str, now: datetime) -> Appointment:
    """The HIS answered our confirm (§7.5.3). A refusal after payment means a full refund (the spec's MUST)."""
    if a.state is not State.CONFIRMING:
        return a
    if ok:
        return _then_pending(a.moved(State.CONFIRMED, now, "预约成功，请按时就诊", lock_expires_at=None,
                                     his_appointment_id=(body or {}).get("appointment_id") or a.his_appointment_id,
                                     his_status_version=_status_version(a, body)), now)
    message = CONFIRM_REFUSALS.get(error_code, "医院未能确认预约" + ("，挂号费将原路退回" if a.payment else ""))
    if a.payment is not None:
        return _then_pending(a.moved(State.FAILED, now, message, refund_owed_fen=a.payment.amount_fen, reason=error_code,
                                     refund_request_no=refund_request_no(a.appointment_id)), now)
    return _then_pending(a.moved(State.FAILED, now, message, reason=error_code), now)


def start_cancel(a: Appointment, now: datetime) -> Appointment:
    if a.state is State.CANCELLING:
        return a
    if not a.cancellable(now):
        if a.state is State.CONFIRMED:
            raise BookingError(409, "CANCEL_DEADLINE_PASSED", CANCEL_REFUSALS["CANCEL_DEADLINE_PASSED"])
        raise BookingError(409, "INVALID_STATE", f"该预约{a.state_text()}，不能取消")
    rr = refund_request_no(a.appointment_id) if a.state is State.CONFIRMED and a.payment is not None else None
    return a.moved(State.CANCELLING, now, "", refund_request_no=rr)


def after_cancel(a: Appointment, ok: bool, body: dict[str, Any] | None, error_code: str, now: datetime) -> Appointment:
    """The HIS answered our cancel (§7.5.4)."""
    if a.state is not State.CANCELLING:
        return a
    if not ok:
        # Back to where the cancel started from (confirmed, or an unpaid lock).
        before = next((State(h[1]) for h in reversed(a.history) if h[1] != State.CANCELLING.value), State.CONFIRMED)
        back = before if before in (State.CONFIRMED, State.AWAITING_PAYMENT) else State.CONFIRMED
        return _then_pending(a.moved(back, now, CANCEL_REFUSALS.get(error_code, "取消未成功，请稍后重试")), now)
    refund = (body or {}).get("refund") or {}
    owed = refund.get("refund_amount_fen") if isinstance(refund, dict) else None
    owed_fen = owed if isinstance(owed, int) and not isinstance(owed, bool) and owed > 0 and a.payment else 0
    refund_no = a.refund_request_no
    if owed_fen and isinstance(refund, dict) and refund.get("initiated_by") == "hospital" and refund.get("his_refund_id"):
        # The hospital cancelled it first: the refund is owed under the hospital's id (§7.5.5), the key its
        # event records it under too, so it is owed once whichever of us records it first.
        refund_no = str(refund["his_refund_id"])
    owed_fen = max(owed_fen, a.refund_owed_fen)  # a payment that came in while cancelling is refunded too
    message = f"预约已取消，挂号费{format_fen(owed_fen)}元将原路退回" if owed_fen else "预约已取消"
    return _then_pending(a.moved(State.CANCELLED, now, message, refund_owed_fen=owed_fen, refund_request_no=refund_no,
                                 his_status_version=_status_version(a, body)), now)


def lapse(a: Appointment, now: datetime) -> Appointment:
    """The HIS lock elapsed without payment: the slot goes back (the HIS released it too)."""
    if a.state is not State.AWAITING_PAYMENT or a.lock_expires_at is None or now < a.lock_expires_at + LOCK_GRACE:
        return a
    return a.moved(State.EXPIRED, now, STATE_TEXT[State.EXPIRED])


HIS_STATUS = {
    "checked_in": State.CHECKED_IN, "completed": State.COMPLETED, "no_show": State.NO_SHOW, "cancelled": State.CANCELLED,
    "expired": State.EXPIRED, "confirmed": State.CONFIRMED,
}
HOSPITAL_CANCEL_TEXT = {
    "schedule_stopped": "医生停诊，医院已取消该预约，挂号费将全额退回",
    "counter_cancelled": "该预约已在医院窗口取消",
}


def _status_version(a: Appointment, body: dict[str, Any] | None) -> int:
    """The ``status_version`` an answer carries (the appointment as the HIS now has it), never going back."""
    value = (body or {}).get("status_version")
    return max(a.his_status_version, value) if isinstance(value, int) and not isinstance(value, bool) else \
        a.his_status_version


def _his_target(a: Appointment, status: str, reason: str | None) -> tuple[State, str] | None:
    target = HIS_STATUS.get(status)
    if target is None or target is a.state or a.final:
        return None
    return target, HOSPITAL_CANCEL_TEXT.get(reason or "", "") if target is State.CANCELLED else ""


def after_his_status(a: Appointment, status: str, reason: str | None, now: datetime,
                     version: int | None = None) -> Appointment:
    """A change the hospital made (an ``appointment.status_changed`` event, §7.5.5; ``version`` its
    ``status_version``: news older than what we applied is stale). While a step of ours waits for its
    answer the event may have overtaken it (the echo of our own cancel, a lapse a late confirm undoes): it
    is kept and applied after the answer unless the answer is newer, so no answer (and no refund) is lost."""
    if version is not None and version <= a.his_status_version:
        return a
    hospital_cancel = status == "cancelled" and (reason or "") in HOSPITAL_CANCEL_TEXT
    if a.state is State.CANCELLING and hospital_cancel:
        # The hospital cancelled it first (and owes the refund under its own id): our cancel is moot.
        return a.moved(State.CANCELLED, now, HOSPITAL_CANCEL_TEXT[reason or ""],
                       his_status_version=version or a.his_status_version)
    if a.state in STEP_PENDING:
        if version is not None and version <= a.pending_his_version:
            return a
        if (a.pending_his_status, a.pending_his_reason, a.pending_his_version) == (status, reason or "", version or 0):
            return a
        return a.moved(a.state, now, a.message, pending_his_status=status, pending_his_reason=reason or "",
                       pending_his_version=version or 0)
    found = _his_target(a, status, reason)
    if found is None:
        return a if version is None else replace(a, his_status_version=version, version=a.version + 1)
    return a.moved(found[0], now, found[1], his_status_version=version or a.his_status_version)


def _then_pending(a: Appointment, now: datetime) -> Appointment:
    """After a step's answer (already one version up), what the hospital reported meanwhile applies, unless
    the answer itself is newer news."""
    if not a.pending_his_status or a.state in STEP_PENDING:
        return a
    cleared = replace(a, pending_his_status="", pending_his_reason="", pending_his_version=0)
    if a.pending_his_version and a.pending_his_version <= a.his_status_version:
        return cleared
    found = _his_target(a, a.pending_his_status, a.pending_his_reason)
    if found is None:
        return cleared
    return replace(cleared, state=found[0], message=found[1] or cleared.message,
                   his_status_version=max(a.his_status_version, a.pending_his_version),
                   history=(*a.history, (now.isoformat(), found[0].value)))


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


# ---- views -------------------------------------------------------------------------------------------------
class View(StrEnum):
    UPCOMING = "upcoming"
    PAST = "past"
    CANCELLED = "cancelled"


def in_view(a: Appointment, view: View, now: datetime) -> bool:
    if a.state in (State.CANCELLED, State.EXPIRED, State.FAILED):
        return view is View.CANCELLED
    past = a.state in (State.COMPLETED, State.NO_SHOW) or a.visit.end_time <= now
    return view is (View.PAST if past else View.UPCOMING)


def booking_notice_text(a: Appointment) -> str:
    v = a.visit
    who = v.doctor_name or "普通门诊"
    if v.doctor_name and v.doctor_title_name:
        who = f"{v.doctor_name}（{v.doctor_title_name}）"
    where = " ".join(p for p in (v.location.campus_name or "", v.location.display()) if p)
    return (f"预约成功：{v.department_name} {who}，{v.date:%m月%d日} {a.slot.window_text()}，第{a.slot.seq_no}号，"
            f"地点：{where}。请于就诊当天提前到院签到。")


def reminder_text(a: Appointment, minutes_before: int) -> str:
    v = a.visit
    when = "明天" if minutes_before >= 12 * 60 else f"{minutes_before // 60}小时后" if minutes_before >= 60 else "即将"
    where = " ".join(p for p in (v.location.campus_name or "", v.location.display()) if p)
    return (f"就诊提醒：您{when}（{v.date:%m月%d日} {a.slot.window_text()}）在{v.department_name}就诊，第{a.slot.seq_no}号，"
            f"地点：{where}。如不能按时就诊，请在退号截止前取消预约。")


def shanghai_day(at: datetime) -> str:
    return at.astimezone(SHANGHAI).date().isoformat()
