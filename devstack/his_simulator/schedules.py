"""Schedules and slot pools (§7.3): construction, clock-dependent status, slots, queries."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from . import policy
from .clock import at
from .seed_data import SESSION_TIMES
from .state import SESSION_CODES, SESSION_ORDER, Department, HisState, Location, Schedule, ScheduleNotice

SLOT_MINUTES = 10
MAX_RANGE_DAYS = 14


def fee_for(state: HisState, reg_type: str, title_code: str | None, campus_id: str) -> int:
    """The registration fee of a schedule: the most specific matching fee-schedule entry."""
    best: tuple[int, int] | None = None
    for entry in state.fee_schedule:
        if entry.reg_type != reg_type:
            continue
        if entry.campus_id not in (None, campus_id) or entry.title_code not in (None, title_code):
            continue
        score = (entry.campus_id is not None) + (entry.title_code is not None)
        if best is None or score > best[0]:
            best = (score, entry.fee_fen)
    if best is None:
        raise LookupError(f"no fee for {reg_type}/{title_code}/{campus_id}")
    return best[1]


def make_schedule(
    state: HisState,
    day: date,
    session: str,
    department_id: str,
    doctor_id: str | None,
    reg_type: str,
    capacity: int,
    room: str | None,
    updated_at: datetime,
) -> Schedule:
    """A schedule with the hospital's policies: release at 08:00 seven days ahead, cancel until 18:00 the day before."""
    dept = state.departments[department_id]
    start_hhmm, end_hhmm = SESSION_TIMES[session]
    if reg_type == "special_needs":
        floor = "5F" if dept.campus_id == "C01" else dept.location.floor
        location = Location(dept.campus_id, dept.location.building, floor, room, "特需门诊区，请至特需服务台报到")
    elif doctor_id is None:
        location = Location(dept.campus_id, dept.location.building, dept.location.floor, None, _triage_desk(dept))
    else:
        location = Location(dept.campus_id, dept.location.building, dept.location.floor, room, dept.location.description)
    title = state.doctors[doctor_id].title_code if doctor_id else None
    fee_title = None if reg_type == "special_needs" else title
    start = at(day, start_hhmm)
    end = at(day, end_hhmm)
    if doctor_id is not None:
        capacity = min(capacity, window_count(start, end))
    return Schedule(
        schedule_id=f"S{day:%Y%m%d}{department_id}{doctor_id or 'POOL'}{SESSION_CODES[session]}",
        date=day,
        session=session,
        start_time=start,
        end_time=end,
        department_id=department_id,
        doctor_id=doctor_id,
        reg_type=reg_type,
        fee_fen=fee_for(state, reg_type, fee_title, dept.campus_id),
        capacity=capacity,
        release_at=at(day - timedelta(days=policy.SLOT_RELEASE_DAYS_AHEAD), policy.SLOT_RELEASE_TIME),
        cancel_deadline=at(day - timedelta(days=policy.CANCEL_DEADLINE_DAYS_BEFORE), policy.CANCEL_DEADLINE_TIME),
        location=location,
        version=1,
        updated_at=updated_at,
    )


def _triage_desk(dept: Department) -> str:
    """Where a department pool's patients go: the zone named in the wayfinding text, else the department."""
    zones = [part for part in (dept.location.description or "").split("，") if dept.name in part]
    return (zones[0] if zones else dept.name) + "分诊台"


def window_count(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // (SLOT_MINUTES * 60))


# ---------------------------------------------------------------- status


def remaining(schedule: Schedule) -> int:
    return max(schedule.capacity - len(schedule.taken), 0)


def status(schedule: Schedule, now: datetime) -> str:
    """``stopped`` > ``closed`` (session started) > ``not_released`` > ``full`` > ``open``."""
    if schedule.stopped:
        return "stopped"
    if now >= schedule.start_time:
        return "closed"
    if now < schedule.release_at:
        return "not_released"
    if remaining(schedule) == 0:
        return "full"
    return "open"


def slot_id(schedule: Schedule, seq_no: int) -> str:
    return f"{schedule.schedule_id}-{seq_no:02d}"


def seq_of(schedule: Schedule, slot: str) -> int | None:
    """The seq_no of one of the schedule's slot ids, or None."""
    prefix = schedule.schedule_id + "-"
    if not slot.startswith(prefix) or not slot[len(prefix) :].isdigit():
        return None
    seq = int(slot[len(prefix) :])
    return seq if 1 <= seq <= schedule.capacity and slot == slot_id(schedule, seq) else None


def slot_window(schedule: Schedule, seq_no: int) -> tuple[datetime, datetime]:
    """10-minute windows from the session start; when capacity exceeds the windows, slots share them evenly."""
    windows = max(window_count(schedule.start_time, schedule.end_time), 1)
    index = (seq_no - 1) if schedule.capacity <= windows else (seq_no - 1) * windows // schedule.capacity
    start = schedule.start_time + timedelta(minutes=SLOT_MINUTES * index)
    return start, start + timedelta(minutes=SLOT_MINUTES)


def slot_status(schedule: Schedule, seq_no: int, now: datetime) -> str:
    current = status(schedule, now)
    if current == "not_released":
        return "not_released"
    if current in ("stopped", "closed") or seq_no in schedule.taken:
        return "unavailable"
    return "available"


# ---------------------------------------------------------------- queries


def sort_key(schedule: Schedule) -> tuple[date, int, str, str]:
    return (schedule.date, SESSION_ORDER[schedule.session], schedule.department_id, schedule.doctor_id or "")


def query(
    state: HisState,
    date_from: date,
    date_to: date,
    department_id: str | None = None,
    doctor_id: str | None = None,
    campus_id: str | None = None,
    reg_type: str | None = None,
) -> list[Schedule]:
    """Schedules ordered by date, session, department, doctor."""
    found = []
    for schedule in state.schedules.values():
        if not date_from <= schedule.date <= date_to:
            continue
        if department_id and schedule.department_id != department_id:
            continue
        if doctor_id and schedule.doctor_id != doctor_id:
            continue
        if campus_id and schedule.location.campus_id != campus_id:
            continue
        if reg_type and schedule.reg_type != reg_type:
            continue
        found.append(schedule)
    return sorted(found, key=sort_key)


def query_notices(
    state: HisState,
    date_from: date,
    date_to: date,
    department_id: str | None = None,
    doctor_id: str | None = None,
) -> list[ScheduleNotice]:
    """Notices about visits in the date range, newest first. ``doctor_id`` matches the old or the new doctor."""
    found = []
    for notice in state.notices.values():
        if not date_from <= notice.date <= date_to:
            continue
        if department_id and notice.department_id != department_id:
            continue
        if doctor_id and not _mentions_doctor(notice, doctor_id):
            continue
        found.append(notice)
    return sorted(found, key=lambda n: (n.published_at, n.notice_id), reverse=True)


def _mentions_doctor(notice: ScheduleNotice, doctor_id: str) -> bool:
    if notice.doctor_id == doctor_id:
        return True
    return any(c.field == "doctor_id" and doctor_id in (c.old_value, c.new_value) for c in notice.changes)



def checkin_opens_at(schedule: Schedule, seq_no: int) -> datetime:
    """Check-in opens 60 minutes before the slot (§7.6)."""
    return slot_window(schedule, seq_no)[0] - timedelta(minutes=policy.CHECKIN_OPENS_MINUTES_BEFORE_SLOT)
