"""Two-phase booking (§7.5): lock, confirm, cancel, queries, and lazy lock expiry.

Every status change bumps ``status_version`` and records an ``appointment.status_changed`` event (§8.3).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from . import policy, schemas, views
from . import schedules as sched
from .errors import HisError, not_found, validation_error
from .events import emit_for_patient
from .identity import age_on
from .patients import require_linked
from .state import Appointment, HisState, LedgerEntry, Patient, Payment, RegistrationRefund, Schedule

ACTIVE = ("locked", "confirmed", "checked_in")


def _refs(state: HisState, app_id: str, kind: str, ref: str) -> str | None:
    return state.business_refs.get((app_id, kind, ref))


def _claim(state: HisState, app_id: str, kind: str, ref: str, owner: str) -> None:
    state.business_refs[(app_id, kind, ref)] = owner


def _change(state: HisState, appt: Appointment, status: str, reason: str | None, now: datetime) -> None:
    old = appt.status
    appt.status = status
    appt.status_reason = reason
    appt.status_version += 1
    appt.updated_at = now
    emit_for_patient(
        state,
        appt.patient_id,
        "appointment.status_changed",
        {
            "appointment_id": appt.appointment_id,
            "order_id": appt.order_id,
            "patient_id": appt.patient_id,
            "old_status": old,
            "new_status": status,
            "status_reason": reason,
            "status_version": appt.status_version,
            "changed_at": now.isoformat(timespec="seconds"),
            "refund": views.registration_refund(appt.refund),
        },
        now,
    )


def _release_slot(state: HisState, appt: Appointment) -> None:
    schedule = state.schedules[appt.schedule_id]
    if schedule.taken.get(appt.seq_no) == appt.appointment_id:
        del schedule.taken[appt.seq_no]


def expire_locks(state: HisState, now: datetime) -> None:
    """Locks past ``lock_expires_at`` become ``expired`` and give their slot back."""
    for appt in state.appointments.values():
        if appt.status == "locked" and appt.lock_expires_at is not None and now > appt.lock_expires_at:
            _release_slot(state, appt)
            _change(state, appt, "expired", "lock_expired", now)


# ---------------------------------------------------------------- lock


def lock(state: HisState, app_id: str, body: Any, now: datetime, lock_until: datetime | None = None) -> Appointment:
    problems = schemas.field_errors("AppointmentLockRequest", body)
    if problems:
        raise validation_error(problems)
    existing = _refs(state, app_id, "order_id", body["order_id"])
    if existing is not None:
        raise HisError("DUPLICATE_REQUEST", details={"existing_id": existing, "order_id": body["order_id"]})
    patient = require_linked(state, app_id, body["patient_id"])
    if patient.restricted_until is not None and patient.restricted_until > now:
        raise HisError("PATIENT_RESTRICTED", details={"until": patient.restricted_until.isoformat(timespec="seconds")})
    schedule = state.schedules.get(body["schedule_id"])
    if schedule is None:
        raise not_found("schedule", body["schedule_id"])
    _check_eligible(state, patient, schedule)
    _check_schedule_state(schedule, now)
    expected = body.get("expected_fee_fen")
    if expected is not None and expected != schedule.fee_fen:
        raise HisError("AMOUNT_MISMATCH", details={"expected_fen": schedule.fee_fen, "received_fen": expected})
    _check_limits(state, patient, schedule)
    seq = _pick_slot(schedule, body.get("slot_id"))
    appointment_id = f"A{schedule.date:%Y%m%d}{state.next_number('A' + schedule.date.isoformat(), 100):04d}"
    schedule.taken[seq] = appointment_id
    appt = Appointment(
        appointment_id=appointment_id,
        app_id=app_id,
        order_id=body["order_id"],
        channel="wechat",
        status="locked",
        status_version=1,
        status_reason=None,
        patient_id=patient.patient_id,
        schedule_id=schedule.schedule_id,
        seq_no=seq,
        fee_fen=schedule.fee_fen,
        created_at=now,
        updated_at=now,
        lock_expires_at=lock_until or now + timedelta(seconds=policy.LOCK_TTL_SECONDS),
    )
    state.appointments[appointment_id] = appt
    _claim(state, app_id, "order_id", appt.order_id or "", appointment_id)
    return appt


def _check_eligible(state: HisState, patient: Patient, schedule: Schedule) -> None:
    dept = state.departments[schedule.department_id]
    if dept.gender_restriction not in ("any", patient.gender):
        raise HisError("PATIENT_NOT_ELIGIBLE", details={"reason": "gender", "gender_restriction": dept.gender_restriction})
    age = age_on(patient.birth_date, schedule.date)
    if (dept.min_age_years is not None and age < dept.min_age_years) or (
        dept.max_age_years is not None and age > dept.max_age_years
    ):
        raise HisError(
            "PATIENT_NOT_ELIGIBLE",
            details={"reason": "age", "min_age_years": dept.min_age_years, "max_age_years": dept.max_age_years},
        )


def _check_schedule_state(schedule: Schedule, now: datetime) -> None:
    current = sched.status(schedule, now)
    if current == "not_released":
        raise HisError("SLOT_NOT_RELEASED", details={"release_at": schedule.release_at.isoformat(timespec="seconds")})
    if current == "stopped":
        raise HisError("SCHEDULE_STOPPED", details={"schedule_id": schedule.schedule_id,
                                                    "stop_notice_id": schedule.stop_notice_id})
    if current == "closed":
        raise HisError("INVALID_STATE", details={"schedule_id": schedule.schedule_id, "current_status": "closed"})


def _check_limits(state: HisState, patient: Patient, schedule: Schedule) -> None:
    active = [a for a in state.appointments.values() if a.patient_id == patient.patient_id and a.status in ACTIVE]
    same_day = [a for a in active if state.schedules[a.schedule_id].date == schedule.date]
    if len(same_day) >= policy.MAX_PER_PATIENT_PER_DAY:
        raise HisError("PATIENT_LIMIT_REACHED", details={"limit": "max_per_patient_per_day",
                                                         "max": policy.MAX_PER_PATIENT_PER_DAY})
    if any(state.schedules[a.schedule_id].department_id == schedule.department_id for a in same_day):
        raise HisError("PATIENT_LIMIT_REACHED", details={"limit": "max_per_patient_per_department_per_day",
                                                         "max": policy.MAX_PER_PATIENT_PER_DEPARTMENT_PER_DAY})
    if sum(a.status == "locked" for a in active) >= policy.MAX_OPEN_LOCKS_PER_PATIENT:
        raise HisError("PATIENT_LIMIT_REACHED", details={"limit": "max_open_locks_per_patient",
                                                         "max": policy.MAX_OPEN_LOCKS_PER_PATIENT})


def _pick_slot(schedule: Schedule, slot: str | None) -> int:
    if slot:
        seq = sched.seq_of(schedule, slot)
        if seq is None:
            raise not_found("slot", slot)
        if seq in schedule.taken:
            raise HisError("SLOT_TAKEN", details={"schedule_id": schedule.schedule_id, "slot_id": slot,
                                                  "remaining": sched.remaining(schedule)})
        return seq
    for seq in range(1, schedule.capacity + 1):
        if seq not in schedule.taken:
            return seq
    raise HisError("SCHEDULE_FULL", details={"schedule_id": schedule.schedule_id, "remaining": 0})


# ---------------------------------------------------------------- confirm and cancel


def _own(state: HisState, app_id: str, appointment_id: str, order_id: str) -> Appointment:
    appt = state.appointments.get(appointment_id)
    if appt is None:
        raise not_found("appointment", appointment_id)
    require_linked(state, app_id, appt.patient_id)
    if appt.app_id != app_id or appt.order_id != order_id:
        raise validation_error({"order_id": "does not belong to this appointment"})
    return appt


def confirm(state: HisState, app_id: str, appointment_id: str, body: Any, now: datetime) -> Appointment:
    problems = schemas.field_errors("AppointmentConfirmRequest", body)
    if problems:
        raise validation_error(problems)
    appt = _own(state, app_id, appointment_id, body["order_id"])
    raw_payment = body.get("payment")
    if raw_payment is None and appt.fee_fen > 0:
        raise validation_error({"payment": "required when fee_fen is not 0"})
    if raw_payment is not None and raw_payment["amount_fen"] != appt.fee_fen:
        raise HisError("AMOUNT_MISMATCH", details={"expected_fen": appt.fee_fen, "received_fen": raw_payment["amount_fen"]})
    transaction_id = raw_payment["transaction_id"] if raw_payment else None
    if transaction_id:
        owner = _refs(state, app_id, "transaction_id", transaction_id)
        if owner is not None and owner != appt.appointment_id:
            raise HisError("DUPLICATE_REQUEST", details={"existing_id": owner, "transaction_id": transaction_id})
    if appt.status == "confirmed" and appt.payment is not None and appt.payment.transaction_id == transaction_id:
        return appt  # the same confirmation again under a new key
    if appt.status not in ("locked", "expired"):
        raise HisError("INVALID_STATE", details={"current_status": appt.status})
    schedule = state.schedules[appt.schedule_id]
    if schedule.stopped:
        raise HisError("SCHEDULE_STOPPED", details={"schedule_id": schedule.schedule_id,
                                                    "stop_notice_id": schedule.stop_notice_id})
    if appt.status == "expired":  # late confirmation: only if the same slot can be taken again
        if appt.seq_no in schedule.taken or sched.status(schedule, now) == "closed":
            raise HisError("LOCK_EXPIRED", details={"appointment_id": appt.appointment_id,
                                                    "lock_expires_at": _iso(appt.lock_expires_at)})
        schedule.taken[appt.seq_no] = appt.appointment_id
        appt.late_confirm = True
    if raw_payment is not None:
        appt.payment = Payment(
            channel=raw_payment["channel"],
            transaction_id=raw_payment["transaction_id"],
            out_trade_no=raw_payment["out_trade_no"],
            amount_fen=raw_payment["amount_fen"],
            paid_at=datetime.fromisoformat(raw_payment["paid_at"]),
            mch_id=raw_payment.get("mch_id"),
        )
        _claim(state, app_id, "transaction_id", raw_payment["transaction_id"], appt.appointment_id)
        state.ledger.append(_ledger(appt, "PAYMENT", appt.fee_fen, now, None, None))
    appt.confirmed_at = now
    _change(state, appt, "confirmed", None, now)
    return appt


def cancel(state: HisState, app_id: str, appointment_id: str, body: Any, now: datetime) -> Appointment:
    problems = schemas.field_errors("AppointmentCancelRequest", body)
    if problems:
        raise validation_error(problems)
    appt = _own(state, app_id, appointment_id, body["order_id"])
    if appt.status in ("cancelled", "expired"):
        return appt
    if appt.status in ("checked_in", "completed", "no_show"):
        raise HisError("INVALID_STATE", details={"current_status": appt.status})
    if appt.status == "confirmed":
        refund_no = body.get("refund_request_no")
        if not refund_no:
            raise validation_error({"refund_request_no": "required for a confirmed appointment"})
        owner = _refs(state, app_id, "refund_request_no", refund_no)
        if owner is not None:
            raise HisError("DUPLICATE_REQUEST", details={"existing_id": owner, "refund_request_no": refund_no})
        schedule = state.schedules[appt.schedule_id]
        free_until = schedule.free_cancel_until
        if now > schedule.cancel_deadline and not (free_until is not None and now <= free_until):
            raise HisError("CANCEL_DEADLINE_PASSED", details={"cancel_deadline": _iso(schedule.cancel_deadline)})
        refund_id = f"HR{now:%Y%m%d}{state.next_number('HR' + now.date().isoformat()):04d}"
        appt.refund = RegistrationRefund(refund_id, refund_no, appt.fee_fen, "caller", now)
        _claim(state, app_id, "refund_request_no", refund_no, refund_id)
        if appt.payment is not None:
            state.ledger.append(_ledger(appt, "REFUND", appt.fee_fen, now, refund_id, refund_no))
    _release_slot(state, appt)
    appt.cancelled_at = now
    _change(state, appt, "cancelled", "caller_cancelled", now)
    return appt


def _ledger(
    appt: Appointment, record_type: str, amount: int, now: datetime, refund_id: str | None, refund_no: str | None
) -> LedgerEntry:
    assert appt.payment is not None and appt.app_id is not None
    return LedgerEntry(
        record_type=record_type,
        business_type="REGISTRATION",
        his_trade_id=appt.appointment_id,
        his_refund_id=refund_id,
        caller_ref=appt.order_id,
        refund_request_no=refund_no,
        transaction_id=appt.payment.transaction_id,
        out_trade_no=appt.payment.out_trade_no,
        amount_fen=amount,
        accounted_at=now,
        patient_id=appt.patient_id,
        app_id=appt.app_id,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


# ---------------------------------------------------------------- queries


def get(state: HisState, app_id: str, appointment_id: str) -> Appointment:
    appt = state.appointments.get(appointment_id)
    if appt is None:
        raise not_found("appointment", appointment_id)
    require_linked(state, app_id, appt.patient_id)
    return appt


def by_order_id(state: HisState, app_id: str, order_id: str) -> list[Appointment]:
    return [a for a in state.appointments.values() if a.app_id == app_id and a.order_id == order_id]


def of_patient(
    state: HisState,
    app_id: str,
    patient_id: str,
    date_from: date | None,
    date_to: date | None,
    status: str | None,
) -> list[Appointment]:
    """A linked patient's appointments from all channels, by visit time."""
    require_linked(state, app_id, patient_id)
    found = []
    for appt in state.appointments.values():
        visit_date = state.schedules[appt.schedule_id].date
        if appt.patient_id != patient_id or (status and appt.status != status):
            continue
        if (date_from and visit_date < date_from) or (date_to and visit_date > date_to):
            continue
        found.append(appt)
    return sorted(found, key=lambda a: (sched.slot_window(state.schedules[a.schedule_id], a.seq_no)[0],
                                        a.appointment_id))
