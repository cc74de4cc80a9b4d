"""Check-in and the queue (§7.6), the no-show sweep (§7.5.1), and the nurse station's queue actions.

One queue per schedule. Numbers (``A006``) are given in check-in order; patients who check in after their slot's
end are ``late`` and queued behind every on-time patient. ``people_ahead`` counts waiting patients before this one
(called, missed and finished ones are not ahead). ``queue.approaching`` is pushed once when ``people_ahead`` first
falls to the threshold, never for a patient already within it at check-in, and again after a re-queue;
``queue.called`` on every call.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from . import policy, schemas
from . import schedules as sched
from .appointments import _change as change_status
from .clock import fmt
from .errors import HisError, not_found, validation_error
from .events import emit_for_patient
from .patients import require_linked
from .state import Appointment, HisState, QueueEntry, Schedule, Visit
from .views import location

MINUTES_PER_PATIENT = 6  # for estimated_wait_minutes
EARTH_RADIUS_M = 6_371_000.0
QUEUE_LETTERS = {"morning": "A", "afternoon": "B", "evening": "C"}
_LAST_CALLED = "queue.last_called:"  # counters key per schedule: position of the last entry called
WAITING = "waiting"
# SimConfig switch for the §7.6 geofence; on unless the config says otherwise (the policy has geofence_meters).
GEOFENCE_SWITCH = "enforce_geofence"


# ---------------------------------------------------------------- queue arithmetic


def entries(state: HisState, schedule_id: str) -> list[Visit]:
    """Visits in the schedule's queue, in calling order (on-time before late, then by position)."""
    found = [v for v in state.visits.values() if v.schedule_id == schedule_id and v.queue is not None]
    return sorted(found, key=_order)


def _order(visit: Visit) -> tuple[bool, int]:
    assert visit.queue is not None
    return visit.queue.late, visit.queue.position


def people_ahead(state: HisState, visit: Visit) -> int:
    if visit.queue is None or visit.queue.status != WAITING or visit.schedule_id is None:
        return 0
    mine = _order(visit)
    return sum(
        1
        for other in entries(state, visit.schedule_id)
        if other.queue is not None and other.queue.status == WAITING and _order(other) < mine
    )


def estimated_wait_minutes(state: HisState, visit: Visit) -> int | None:
    if visit.queue is None or visit.queue.status == "missed":
        return None
    if visit.queue.status != WAITING:
        return 0
    return people_ahead(state, visit) * MINUTES_PER_PATIENT


def current_called_no(state: HisState, schedule_id: str) -> str | None:
    position = state.counters.get(_LAST_CALLED + schedule_id)
    for visit in entries(state, schedule_id):
        if visit.queue is not None and visit.queue.position == position:
            return visit.queue.queue_no
    return None


def _schedule(state: HisState, visit: Visit) -> Schedule:
    if visit.schedule_id is None or visit.queue is None:
        raise not_found("queue", visit.visit_id)
    return state.schedules[visit.schedule_id]


def status_json(state: HisState, visit: Visit) -> dict[str, Any]:
    """``QueueStatus`` of a checked-in visit."""
    schedule = _schedule(state, visit)
    entry = visit.queue
    assert entry is not None
    doctor = state.doctors.get(schedule.doctor_id) if schedule.doctor_id else None
    return {
        "visit_id": visit.visit_id,
        "appointment_id": visit.appointment_id,
        "patient_id": visit.patient_id,
        "queue_no": entry.queue_no,
        "status": entry.status,
        "current_called_no": current_called_no(state, schedule.schedule_id),
        "people_ahead": people_ahead(state, visit),
        "estimated_wait_minutes": estimated_wait_minutes(state, visit),
        "call_count": entry.call_count,
        "late": entry.late,
        "doctor_id": schedule.doctor_id,
        "doctor_name": doctor.name if doctor else None,
        "room": location(state, schedule.location),
        "updated_at": fmt(entry.updated_at),
    }


def push_approaching(state: HisState, schedule_id: str, now: datetime) -> list[str]:
    """``queue.approaching`` for every waiting patient who has just come within the threshold; their visit ids."""
    pushed = []
    for visit in entries(state, schedule_id):
        entry = visit.queue
        if entry is None or entry.status != WAITING or entry.approaching_sent:
            continue
        ahead = people_ahead(state, visit)
        if ahead > policy.QUEUE_APPROACHING_THRESHOLD:
            continue
        entry.approaching_sent = True
        status = status_json(state, visit)
        data = {k: status[k] for k in ("visit_id", "appointment_id", "patient_id", "queue_no", "current_called_no",
                                      "people_ahead", "estimated_wait_minutes", "room")}
        emit_for_patient(state, visit.patient_id, "queue.approaching", data, now)
        pushed.append(visit.visit_id)
    return pushed


# ---------------------------------------------------------------- check-in


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine); both points GCJ-02, so no datum shift is needed."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _not_allowed(reason: str, **details: Any) -> HisError:
    return HisError("CHECKIN_NOT_ALLOWED", details={"reason": reason, **details})


def check_in(
    state: HisState, app_id: str, appointment_id: str, body: Any, now: datetime, geofence: bool = True
) -> tuple[Appointment, Visit]:
    """Check a confirmed appointment in: a visit in progress and a place in its schedule's queue.

    Repeating it returns the current result. Accepted from ``checkin_opens_at`` until the session ends; with the
    geofence on, the device must be within ``GEOFENCE_METERS`` of the campus.
    """
    problems = schemas.field_errors("CheckInRequest", body)
    if problems:
        raise validation_error(problems)
    appt = state.appointments.get(appointment_id)
    if appt is None:
        raise not_found("appointment", appointment_id)
    require_linked(state, app_id, appt.patient_id)
    if body["order_id"] != appt.order_id:
        raise validation_error({"order_id": "does not belong to this appointment (null for other channels)"})
    if appt.status == "checked_in" and appt.visit_id is not None:
        return appt, state.visits[appt.visit_id]
    schedule = state.schedules[appt.schedule_id]
    if appt.status == "no_show":  # the sweep got there first: the session is over
        raise _not_allowed("session_ended", session_end=fmt(schedule.end_time))
    if appt.status != "confirmed":
        raise HisError("INVALID_STATE", details={"current_status": appt.status})
    opens = sched.checkin_opens_at(schedule, appt.seq_no)
    if now < opens:
        raise _not_allowed("too_early", checkin_opens_at=fmt(opens))
    if now >= schedule.end_time:
        raise _not_allowed("session_ended", session_end=fmt(schedule.end_time))
    if geofence:
        _check_location(state, schedule, body.get("location"))
    slot_end = sched.slot_window(schedule, appt.seq_no)[1]
    visit = _join_queue(state, schedule, appt.patient_id, appt.appointment_id, late=now > slot_end, now=now)
    appt.visit_id = visit.visit_id
    change_status(state, appt, "checked_in", "checked_in", now)
    return appt, visit


def _check_location(state: HisState, schedule: Schedule, point: Any) -> None:
    if point is None:
        raise _not_allowed("location_required", geofence_meters=policy.GEOFENCE_METERS)
    campus = state.campuses[schedule.location.campus_id]
    distance = distance_m(point["latitude"], point["longitude"], campus.latitude, campus.longitude)
    if distance > policy.GEOFENCE_METERS:
        raise _not_allowed("not_on_site", geofence_meters=policy.GEOFENCE_METERS, distance_meters=round(distance))


def _join_queue(
    state: HisState, schedule: Schedule, patient_id: str, appointment_id: str | None, late: bool, now: datetime
) -> Visit:
    sid = schedule.schedule_id
    number = state.next_number("queue.no:" + sid)
    visit_id = f"V{now:%Y%m%d}{state.next_number('V' + now.date().isoformat(), 1001):05d}"
    visit = Visit(
        visit_id=visit_id,
        patient_id=patient_id,
        appointment_id=appointment_id,
        campus_id=schedule.location.campus_id,
        department_id=schedule.department_id,
        doctor_id=schedule.doctor_id,
        visit_type="outpatient",
        status="in_progress",
        started_at=now,
        completed_at=None,
        diagnosis_categories=[],
        followup_allowed=True,
        schedule_id=sid,
        queue=QueueEntry(
            queue_no=f"{QUEUE_LETTERS[schedule.session]}{number:03d}",
            position=state.next_number("queue.pos:" + sid),
            status=WAITING,
            late=late,
            updated_at=now,
        ),
        checked_in_at=now,
    )
    state.visits[visit_id] = visit
    assert visit.queue is not None
    # Already within the threshold at check-in: the response shows it, no push (§7.6).
    visit.queue.approaching_sent = people_ahead(state, visit) <= policy.QUEUE_APPROACHING_THRESHOLD
    return visit


def add_walk_ins(state: HisState, schedule_id: str, count: int, now: datetime) -> list[Visit]:
    """Patients of other channels (counter, kiosk) checked in to the schedule's queue: people ahead of ours.
    Their patient ids are outside the simulated population, so no events are emitted for them."""
    schedule = state.schedules.get(schedule_id)
    if schedule is None:
        raise not_found("schedule", schedule_id)
    if not 1 <= count <= 100:
        raise validation_error({"count": "must be an integer from 1 to 100"})
    visits = []
    for _ in range(count):
        patient_id = f"P000{state.next_number('walk-in patient', 900001):06d}"
        visit = _join_queue(state, schedule, patient_id, None, late=False, now=now)
        visits.append(visit)
    push_approaching(state, schedule_id, now)
    return visits


# ---------------------------------------------------------------- the nurse station


def require_queued(state: HisState, visit_id: str) -> Visit:
    visit = state.visits.get(visit_id)
    if visit is None:
        raise not_found("visit", visit_id)
    if visit.queue is None or visit.schedule_id is None:
        raise not_found("queue", visit_id)
    return visit


def _require_status(visit: Visit, *allowed: str) -> QueueEntry:
    entry = visit.queue
    assert entry is not None
    if entry.status not in allowed:
        raise HisError("INVALID_STATE", details={"current_status": entry.status, "allowed": list(allowed)})
    return entry


def _call(state: HisState, visit: Visit, now: datetime) -> None:
    entry = visit.queue
    assert entry is not None and visit.schedule_id is not None
    schedule = state.schedules[visit.schedule_id]
    entry.status = "called"
    entry.call_count += 1
    entry.updated_at = now
    state.counters[_LAST_CALLED + visit.schedule_id] = entry.position
    doctor = state.doctors.get(schedule.doctor_id) if schedule.doctor_id else None
    data = {
        "visit_id": visit.visit_id,
        "appointment_id": visit.appointment_id,
        "patient_id": visit.patient_id,
        "queue_no": entry.queue_no,
        "call_count": entry.call_count,
        "called_at": fmt(now),
        "doctor_name": doctor.name if doctor else None,
        "room": location(state, schedule.location),
    }
    emit_for_patient(state, visit.patient_id, "queue.called", data, now)
    push_approaching(state, visit.schedule_id, now)


def call_next(state: HisState, schedule_id: str, now: datetime) -> Visit:
    if schedule_id not in state.schedules:
        raise not_found("schedule", schedule_id)
    waiting = [v for v in entries(state, schedule_id) if v.queue is not None and v.queue.status == WAITING]
    if not waiting:
        raise HisError("INVALID_STATE", "nobody is waiting", {"reason": "queue_empty", "schedule_id": schedule_id})
    _call(state, waiting[0], now)
    return waiting[0]


def call_again(state: HisState, visit_id: str, now: datetime) -> Visit:
    """Call this number (again): ``call_count`` + 1 and ``queue.called``."""
    visit = require_queued(state, visit_id)
    _require_status(visit, WAITING, "called")
    _call(state, visit, now)
    return visit


def mark_missed(state: HisState, visit_id: str, now: datetime) -> Visit:
    """过号: called without response."""
    visit = require_queued(state, visit_id)
    entry = _require_status(visit, "called")
    entry.status = "missed"
    entry.updated_at = now
    return visit


def requeue(state: HisState, visit_id: str, now: datetime) -> Visit:
    """The nurse station puts a missed patient back, behind everyone queued so far; approaching is pushed again."""
    visit = require_queued(state, visit_id)
    entry = _require_status(visit, "missed")
    assert visit.schedule_id is not None
    entry.status = WAITING
    entry.position = state.next_number("queue.pos:" + visit.schedule_id)
    entry.approaching_sent = False
    entry.updated_at = now
    push_approaching(state, visit.schedule_id, now)
    return visit


def start_consultation(state: HisState, visit_id: str, now: datetime) -> Visit:
    visit = require_queued(state, visit_id)
    entry = _require_status(visit, "called")
    entry.status = "in_consultation"
    entry.updated_at = now
    visit.started_at = now
    return visit


# ---------------------------------------------------------------- no-shows


def mark_no_shows(state: HisState, now: datetime) -> list[Appointment]:
    """Confirmed appointments not checked in by the end of their session become ``no_show`` (fee kept); three in
    the policy window suspend the patient's online booking."""
    limit = policy.NO_SHOW_LIMIT
    window = timedelta(days=limit["window_days"])
    changed = []
    for appt in sorted(state.appointments.values(), key=lambda a: a.appointment_id):
        schedule = state.schedules[appt.schedule_id]
        if appt.status != "confirmed" or schedule.stopped or now < schedule.end_time:
            continue
        change_status(state, appt, "no_show", "no_show", now)
        changed.append(appt)
        patient = state.patients.get(appt.patient_id)
        if patient is None:
            continue
        patient.no_show_dates.append(schedule.date)
        recent = [d for d in patient.no_show_dates if schedule.date - d < window]
        if len(recent) >= limit["count"]:
            until = now + timedelta(days=limit["suspension_days"])
            if patient.restricted_until is None or patient.restricted_until < until:
                patient.restricted_until = until
    return changed
