"""Changes made by the hospital (§7.3 notices, §7.5.5): stopping a schedule (停诊), changing it (替诊, room), and
counter cancellations. Each emits the spec's events; schedule events go to every configured app, appointment
events to the apps the patient is linked to. Hospital-initiated refunds have ``initiated_by: hospital`` and no
``refund_request_no`` (the integrator refunds with ``out_refund_no = his_refund_id``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .appointments import _change as change_status
from .appointments import _ledger as ledger_entry
from .appointments import _release_slot as release_slot
from .clock import fmt, parse_local_datetime
from .errors import HisError, not_found, validation_error
from .events import emit
from .state import Appointment, HisState, Location, RegistrationRefund, Schedule, ScheduleChange, ScheduleNotice

REASON_CODES = ("doctor_leave", "emergency_duty", "conference", "facility", "other")
CHANGE_HANDLING = ("kept_free_cancellation", "kept")


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    return body


def _require_schedule(state: HisState, schedule_id: str) -> Schedule:
    schedule = state.schedules.get(schedule_id)
    if schedule is None:
        raise not_found("schedule", schedule_id)
    return schedule


def _notice_text(body: dict[str, Any], problems: dict[str, str]) -> tuple[str, str]:
    reason = body.get("reason_code", "other")
    if reason not in REASON_CODES:
        problems["reason_code"] = "must be one of " + ", ".join(REASON_CODES)
    message = body.get("public_message")
    if not isinstance(message, str) or not message.strip():
        problems["public_message"] = "required: the text shown to patients"
        message = ""
    return reason, message.strip()


def _new_notice(state: HisState, schedule: Schedule, kind: str, reason: str, message: str, handling: str,
                now: datetime) -> ScheduleNotice:
    notice = ScheduleNotice(
        notice_id=f"N{schedule.date:%Y%m%d}{state.next_number('N' + schedule.date.isoformat()):04d}",
        type=kind,
        schedule_id=schedule.schedule_id,
        date=schedule.date,
        session=schedule.session,
        department_id=schedule.department_id,
        doctor_id=schedule.doctor_id,
        reason_code=reason,
        public_message=message,
        handling=handling,
        published_at=now,
    )
    state.notices[notice.notice_id] = notice
    return notice


def _affected(state: HisState, schedule: Schedule, statuses: tuple[str, ...]) -> list[Appointment]:
    return sorted(
        (a for a in state.appointments.values() if a.schedule_id == schedule.schedule_id and a.status in statuses),
        key=lambda a: a.appointment_id,
    )


def _schedule_event_data(notice: ScheduleNotice, schedule: Schedule, affected: int) -> dict[str, Any]:
    return {
        "schedule_id": schedule.schedule_id,
        "notice_id": notice.notice_id,
        "date": schedule.date.isoformat(),
        "session": schedule.session,
        "department_id": schedule.department_id,
        "doctor_id": schedule.doctor_id,
        "version": schedule.version,
        "affected_appointments": affected,
    }


def _emit_to_apps(
    state: HisState, app_ids: Sequence[str], event_type: str, data_for: Any, affected: list[Appointment], now: datetime
) -> None:
    for app_id in app_ids:
        emit(state, app_id, event_type, data_for(sum(a.app_id == app_id for a in affected)), now)


def _hospital_refund(state: HisState, appt: Appointment, now: datetime) -> None:
    """Full refund of a paid registration fee, started by the hospital; a REFUND line for the app's ledger."""
    if appt.fee_fen == 0:
        return
    refund_id = f"HR{now:%Y%m%d}{state.next_number('HR' + now.date().isoformat()):04d}"
    appt.refund = RegistrationRefund(refund_id, None, appt.fee_fen, "hospital", now)
    if appt.payment is not None and appt.app_id is not None:
        state.ledger.append(ledger_entry(appt, "REFUND", appt.fee_fen, now, refund_id, None))


def _cancel(state: HisState, appt: Appointment, reason: str, now: datetime) -> None:
    if appt.status == "confirmed":
        _hospital_refund(state, appt, now)
    release_slot(state, appt)
    appt.cancelled_at = now
    change_status(state, appt, "cancelled", reason, now)


def stop_schedule(state: HisState, schedule_id: str, body: Any, app_ids: Sequence[str], now: datetime
                  ) -> tuple[ScheduleNotice, list[Appointment]]:
    """停诊: a ``stopped`` notice and ``schedule.stopped``, then every locked or confirmed appointment is cancelled
    (``schedule_stopped``; confirmed ones with a full hospital refund), one ``appointment.status_changed`` each."""
    body = _object(body)
    schedule = _require_schedule(state, schedule_id)
    problems: dict[str, str] = {}
    reason, message = _notice_text(body, problems)
    if problems:
        raise validation_error(problems)
    if schedule.stopped:
        raise HisError("INVALID_STATE", details={"current_status": "stopped", "stop_notice_id": schedule.stop_notice_id})
    if now >= schedule.end_time:
        raise HisError("INVALID_STATE", "the session is over", {"current_status": "closed"})
    notice = _new_notice(state, schedule, "stopped", reason, message, "auto_cancelled_full_refund", now)
    affected = _affected(state, schedule, ("locked", "confirmed"))
    notice.affected_appointments = sum(a.app_id == (app_ids[0] if app_ids else None) for a in affected)
    schedule.stop_notice_id = notice.notice_id
    schedule.version += 1
    schedule.updated_at = now

    def data(count: int) -> dict[str, Any]:
        return _schedule_event_data(notice, schedule, count) | {
            "reason_code": reason, "public_message": message, "handling": notice.handling}

    _emit_to_apps(state, app_ids, "schedule.stopped", data, affected, now)
    for appt in affected:
        _cancel(state, appt, "schedule_stopped", now)
    return notice, affected


def _requested_changes(
    state: HisState, schedule: Schedule, body: dict[str, Any], problems: dict[str, str]
) -> tuple[list[ScheduleChange], str | None, Location | None]:
    """The doctor and room changes asked for, as ``changes[]`` entries."""
    changes: list[ScheduleChange] = []
    new_doctor = body.get("doctor_id")
    if new_doctor is not None:
        doctor = state.doctors.get(new_doctor) if isinstance(new_doctor, str) else None
        if doctor is None or schedule.department_id not in doctor.department_ids:
            problems["doctor_id"] = "must be a doctor of the schedule's department"
        elif new_doctor == schedule.doctor_id:
            problems["doctor_id"] = "is already the schedule's doctor"
        else:
            changes.append(ScheduleChange("doctor_id", schedule.doctor_id, new_doctor))
    new_location = None
    if body.get("room") is not None:
        old = schedule.location
        if not isinstance(body["room"], str) or not body["room"].strip():
            problems["room"] = "must be a room name such as 319诊室"
        else:
            description = body.get("location_description", old.description)
            new_location = Location(old.campus_id, old.building, old.floor, body["room"].strip(), description)
            changes.append(ScheduleChange("location", _location_dict(old), _location_dict(new_location)))
    return changes, new_doctor, new_location


def change_schedule(state: HisState, schedule_id: str, body: Any, app_ids: Sequence[str], now: datetime
                    ) -> ScheduleNotice:
    """替诊 or a room change: a ``changed`` notice and ``schedule.changed``. Body: ``doctor_id`` and/or ``room``
    (and optional ``location_description``), ``handling`` (``kept_free_cancellation`` default for a doctor change,
    else ``kept``), ``free_cancel_until`` (default the session start), ``reason_code``, ``public_message``."""
    body = _object(body)
    schedule = _require_schedule(state, schedule_id)
    problems: dict[str, str] = {}
    reason, message = _notice_text(body, problems)
    changes, new_doctor, new_location = _requested_changes(state, schedule, body, problems)
    if not changes and "doctor_id" not in problems and "room" not in problems:
        problems["body"] = "give doctor_id and/or room"
    handling = body.get("handling") or ("kept_free_cancellation" if new_doctor is not None else "kept")
    if handling not in CHANGE_HANDLING:
        problems["handling"] = "must be one of " + ", ".join(CHANGE_HANDLING)
    free_until = None
    if handling == "kept_free_cancellation":
        raw = body.get("free_cancel_until")
        free_until = parse_local_datetime(raw) if raw is not None else schedule.start_time
        if free_until is None:
            problems["free_cancel_until"] = "must be an ISO 8601 date-time with the offset +08:00"
    if problems:
        raise validation_error(problems)
    if schedule.stopped:
        raise HisError("SCHEDULE_STOPPED", details={"schedule_id": schedule_id, "stop_notice_id": schedule.stop_notice_id})
    if new_doctor is not None:
        schedule.doctor_id = new_doctor
    if new_location is not None:
        schedule.location = new_location
    if free_until is not None:
        schedule.free_cancel_until = free_until
    schedule.version += 1
    schedule.updated_at = now
    notice = _new_notice(state, schedule, "changed", reason, message, handling, now)
    notice.changes = changes
    notice.free_cancel_until = free_until
    affected = _affected(state, schedule, ("locked", "confirmed"))
    notice.affected_appointments = sum(a.app_id == (app_ids[0] if app_ids else None) for a in affected)

    def data(count: int) -> dict[str, Any]:
        return _schedule_event_data(notice, schedule, count) | {
            "changes": [{"field": c.field, "old_value": c.old_value, "new_value": c.new_value} for c in changes],
            "handling": handling,
            "free_cancel_until": fmt(free_until),
        }

    _emit_to_apps(state, app_ids, "schedule.changed", data, affected, now)
    return notice


def _location_dict(location: Location) -> dict[str, str | None]:
    return {
        "campus_id": location.campus_id,
        "building": location.building,
        "floor": location.floor,
        "room": location.room,
        "description": location.description,
    }


def counter_cancel(state: HisState, appointment_id: str, now: datetime) -> Appointment:
    """退号 at a counter: a confirmed (full hospital refund) or locked appointment becomes ``counter_cancelled``."""
    appt = state.appointments.get(appointment_id)
    if appt is None:
        raise not_found("appointment", appointment_id)
    if appt.status not in ("locked", "confirmed"):
        raise HisError("INVALID_STATE", details={"current_status": appt.status})
    _cancel(state, appt, "counter_cancelled", now)
    return appt
