"""Hospital-side setup for load tests and benchmarks (``/_sim``; never part of the contract): an extra session
published with a chosen capacity and release time (加开号源), and fictitious patients already linked to the app.

The release time is absolute: the app compares it with its own (real) clock, so a benchmark gives a real
near-future time here, whatever the simulated clock's offset.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from .clock import parse_local_date, parse_local_datetime
from .errors import HisError, validation_error
from .identity import make_resident_id
from .patients import FIRST_PATIENT_NUMBER, link
from .schedules import make_schedule
from .seed_data import SESSION_TIMES
from .state import Card, HisState, Patient, Schedule

MAX_CAPACITY = 500
MAX_PATIENTS_PER_CALL = 5000
REG_TYPES = ("general", "expert", "special_needs")


def add_schedule(state: HisState, body: Any, now: datetime) -> Schedule:
    """``{"date", "session", "department_id", "doctor_id"?, "reg_type"?, "capacity", "room"?, "release_at"?}``.
    A department pool when ``doctor_id`` is absent (its capacity is not bounded by the 10-minute windows);
    ``release_at`` defaults to the hospital's policy (D-7 08:00). An existing schedule id is refused."""
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    problems: dict[str, str] = {}
    raw_date = body.get("date")
    day = parse_local_date(raw_date) if isinstance(raw_date, str) else None
    if day is None:
        problems["date"] = "must be a date YYYY-MM-DD"
    session = body.get("session")
    if session not in SESSION_TIMES:
        problems["session"] = "must be one of " + ", ".join(SESSION_TIMES)
    dept = state.departments.get(body.get("department_id") or "")
    if dept is None or not dept.bookable:
        problems["department_id"] = "must be a bookable department"
    doctor_id = body.get("doctor_id")
    if doctor_id is not None:
        doctor = state.doctors.get(doctor_id) if isinstance(doctor_id, str) else None
        if doctor is None or dept is None or dept.department_id not in doctor.department_ids:
            problems["doctor_id"] = "must be a doctor of the department"
    reg_type = body.get("reg_type", "general")
    if reg_type not in REG_TYPES:
        problems["reg_type"] = "must be one of " + ", ".join(REG_TYPES)
    capacity = body.get("capacity")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= MAX_CAPACITY:
        problems["capacity"] = f"must be an integer from 1 to {MAX_CAPACITY}"
    raw_release = body.get("release_at")
    release_at = parse_local_datetime(raw_release) if isinstance(raw_release, str) else None
    if raw_release is not None and release_at is None:
        problems["release_at"] = "must be an ISO 8601 date-time with the offset +08:00"
    room = body.get("room")
    if room is not None and not isinstance(room, str):
        problems["room"] = "must be a string"
    if problems:
        raise validation_error(problems)
    assert isinstance(day, date) and dept is not None and isinstance(session, str) and isinstance(capacity, int)
    schedule = make_schedule(state, day, session, dept.department_id, doctor_id, reg_type, capacity, room, now)
    if release_at is not None:
        if release_at >= schedule.start_time:
            raise validation_error({"release_at": "must be before the session starts"})
        schedule.release_at = release_at
    if schedule.schedule_id in state.schedules:
        raise HisError("DUPLICATE_REQUEST", details={"existing_id": schedule.schedule_id})
    state.schedules[schedule.schedule_id] = schedule
    return schedule


def add_patients(state: HisState, app_id: str, count: Any, now: datetime) -> list[Patient]:
    """``count`` fictitious adults (测试患者, e-cards, well-formed invented resident IDs) linked to the app."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_PATIENTS_PER_CALL:
        raise validation_error({"count": f"must be an integer from 1 to {MAX_PATIENTS_PER_CALL}"})
    made = []
    for _ in range(count):
        number = state.next_number("patient", FIRST_PATIENT_NUMBER)
        gender = "male" if number % 2 else "female"
        birth = date(1960 + number % 40, 1 + number % 12, 1 + number % 28)
        patient = Patient(
            patient_id=f"P{number:09d}", name=f"测试患者{number}", gender=gender, birth_date=birth,
            id_type="resident_id", id_number=make_resident_id("110199", birth, number, gender),
            phone=f"139{number % 10**8:08d}", created_at=now, cards=[Card(f"E{now.year}{number:09d}", "e_card")],
        )
        state.patients[patient.patient_id] = patient
        link(state, app_id, patient.patient_id)
        made.append(patient)
    return made

