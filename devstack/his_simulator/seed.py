"""Deterministic seed of the demo hospital, relative to the simulator's "today".

Same ``seed`` and ``today`` give the same data. Reference data (campuses, departments, doctors, fees) does not
depend on the date; schedules cover ``today`` .. ``today + 13`` with slots released at 08:00 seven days ahead;
patients and their clinical history sit in ``seed_patients``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from . import seed_data as data
from .clock import at
from .schedules import make_schedule
from .seed_patients import seed_patients
from .state import (
    EXTERNAL_HOLDER,
    TITLE_NAMES,
    Building,
    Campus,
    Department,
    Doctor,
    FeeComponent,
    FeeEntry,
    HisState,
    Location,
    Schedule,
    ScheduleChange,
    ScheduleNotice,
)

SCHEDULE_DAYS = 14

# Fixed weekly patterns (weekday 0 = Monday) for D0301 so that the spec's example 01 (Monday 2025-06-23 and
# Tuesday 2025-06-24) reads the same against the simulator.
_D0301_PATTERNS: dict[str, list[tuple[int, str, str]]] = {
    "DR10023": [(0, "morning", "D0301"), (3, "morning", "D1301")],
    "DR10088": [(1, "morning", "D0301"), (3, "afternoon", "D0301"), (4, "morning", "D0301")],
}
_D0301_OTHERS: list[list[tuple[int, str, str]]] = [
    [(2, "morning", "D0301"), (4, "afternoon", "D0301")],
    [(2, "afternoon", "D0301"), (3, "afternoon", "D0301"), (5, "morning", "D0301")],
]
_FIXED_IDS = {("D0301", 0): "DR10023", ("D0301", 1): "DR10088"}
_FIXED_NAMES = {"DR10023": "李四", "DR10088": "王五"}


@dataclass
class _Plan:
    doctor_id: str | None
    department_id: str
    weekday: int
    session: str
    reg_type: str
    capacity: int
    room: str | None


def build_state(today: date, now: datetime, seed: int) -> HisState:
    state = HisState(seed_date=today, policies_updated_at=at(today - timedelta(days=30), "09:00"))
    reference_time = at(today - timedelta(days=30), "09:00")
    _seed_campuses(state, reference_time)
    _seed_departments(state, reference_time)
    # independent streams, so that one part of the seed never shifts another
    plans = _seed_doctors(state, _rng(seed, "doctors"), reference_time)
    _seed_fee_schedule(state, today)
    _seed_schedules(state, _rng(seed, "schedules"), plans, today, now)
    _seed_notices(state, today, now)
    seed_patients(state, _rng(seed, "patients"), today, now)
    return state


def _rng(seed: int, part: str) -> random.Random:
    return random.Random(f"{seed}:{part}")  # noqa: S311 - demo data, not security


# ---------------------------------------------------------------- reference data


def _seed_campuses(state: HisState, updated_at: datetime) -> None:
    for raw in data.CAMPUSES:
        buildings = [Building(name, dict(floors)) for name, floors in raw["buildings"].items()]
        state.campuses[raw["campus_id"]] = Campus(
            campus_id=raw["campus_id"],
            name=raw["name"],
            short_name=raw["short_name"],
            address=raw["address"],
            latitude=raw["latitude"],
            longitude=raw["longitude"],
            phone=raw["phone"],
            transport=raw["transport"],
            buildings=buildings,
            status="active",
            updated_at=updated_at,
        )


def _parent_of(department_id: str) -> str:
    return department_id[:3] + "00"


def _seed_departments(state: HisState, updated_at: datetime) -> None:
    for dept_id, (campus_id, name, sort_order) in data.PARENT_DEPARTMENTS.items():
        building = "门诊楼" if campus_id == "C01" else "综合楼"
        state.departments[dept_id] = Department(
            department_id=dept_id,
            name=name,
            parent_id=None,
            campus_id=campus_id,
            location=Location(campus_id, building, "1F", None, "请按楼层指引前往各专科诊区"),
            intro=None,
            bookable=False,
            sort_order=sort_order,
            updated_at=updated_at,
        )
    for index, (dept_id, (name, building, floor, rooms, way, rules)) in enumerate(data.BOOKABLE_DEPARTMENTS.items()):
        parent_id = _parent_of(dept_id)
        campus_id = data.PARENT_DEPARTMENTS[parent_id][0]
        gender, min_age, max_age = rules
        room_span = f"{rooms[0]}-{rooms[-1]}" if len(rooms) > 1 else rooms[0]
        state.departments[dept_id] = Department(
            department_id=dept_id,
            name=name,
            parent_id=parent_id,
            campus_id=campus_id,
            location=Location(campus_id, building, floor, room_span.replace("诊室-", "-"), way),
            intro=data.DEPARTMENT_INTROS[name],
            bookable=True,
            gender_restriction=gender,
            min_age_years=min_age,
            max_age_years=max_age,
            sort_order=data.PARENT_DEPARTMENTS[parent_id][2] + index + 1,
            updated_at=updated_at,
            rooms=list(rooms),
        )


def _doctor_names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    taken = set(_FIXED_NAMES.values())
    while len(names) < count:
        name = rng.choice(data.SURNAMES) + rng.choice(data.GIVEN_NAMES)
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def _seed_doctors(state: HisState, rng: random.Random, updated_at: datetime) -> list[_Plan]:
    total = sum(len(titles) for titles in data.ROSTER.values())
    names = iter(_doctor_names(rng, total))
    next_number = 10001
    plans: list[_Plan] = []
    for dept_id, titles in data.ROSTER.items():
        dept = state.departments[dept_id]
        for position, title in enumerate(titles):
            doctor_id = _FIXED_IDS.get((dept_id, position))
            if doctor_id is None:
                while f"DR{next_number}" in _FIXED_NAMES:
                    next_number += 1
                doctor_id = f"DR{next_number}"
                next_number += 1
            name = _FIXED_NAMES.get(doctor_id) or next(names)
            department_ids = [dept_id]
            if position == 0 and dept_id in data.DUAL_CAMPUS:
                department_ids.append(data.DUAL_CAMPUS[dept_id])
            specialties = rng.sample(data.SPECIALTIES[dept.name], k=min(3, len(data.SPECIALTIES[dept.name])))
            academic = rng.choice(data.ACADEMIC_TITLES[title])
            years = rng.randint(*data.YEARS_BY_TITLE[title])
            intro = rng.choice(data.INTRO_TEMPLATES).format(
                name=name,
                title=TITLE_NAMES[title],
                academic=f"，{academic}" if academic and academic != TITLE_NAMES[title] else "",
                dept=dept.name,
                years=years,
                specialties="、".join(specialties),
            )
            state.doctors[doctor_id] = Doctor(
                doctor_id=doctor_id,
                name=name,
                title_code=title,
                academic_title=academic,
                department_ids=department_ids,
                specialties=specialties,
                intro=intro,
                photo_url=None,
                status="active",
                updated_at=updated_at,
            )
            room = dept.rooms[position % len(dept.rooms)]
            plans.extend(_doctor_plans(rng, state, doctor_id, dept_id, position, title, room))
    plans.extend(_pool_plans(rng, state))
    return plans


def _doctor_plans(
    rng: random.Random, state: HisState, doctor_id: str, dept_id: str, position: int, title: str, room: str
) -> list[_Plan]:
    reg_type = "expert" if title in ("chief_physician", "associate_chief_physician") else "general"
    capacity = {"chief_physician": 20, "associate_chief_physician": 20}.get(title, 24)
    if doctor_id == "DR10023":
        capacity = 24
    if dept_id == "D0301":
        pattern = _D0301_PATTERNS.get(doctor_id) or _D0301_OTHERS[position - 2]
    else:
        count = {"chief_physician": 2, "associate_chief_physician": 3}.get(title, 4)
        cells = [(weekday, session) for weekday in range(6) for session in ("morning", "afternoon")]
        chosen = sorted(rng.sample(cells, count))
        pattern = [(weekday, session, dept_id) for weekday, session in chosen]
        if position == 0 and dept_id in data.DUAL_CAMPUS:
            weekday, session, _ = pattern[-1]
            pattern[-1] = (weekday, session, data.DUAL_CAMPUS[dept_id])
    plans = []
    for weekday, session, sched_dept in pattern:
        plan_room = room if sched_dept == dept_id else state.departments[sched_dept].rooms[0]
        plans.append(_Plan(doctor_id, sched_dept, weekday, session, reg_type, capacity, plan_room))
    if position == 0 and dept_id in data.SPECIAL_NEEDS_DEPARTMENTS:
        used = {(p.weekday, p.session) for p in plans}
        special_dept = data.DUAL_CAMPUS[dept_id] if dept_id == "D0402" else dept_id  # one at the east campus
        if (5, "morning") not in used:
            plans.append(_Plan(doctor_id, special_dept, 5, "morning", "special_needs", 8, "特需诊室"))
    return plans


def _pool_plans(rng: random.Random, state: HisState) -> list[_Plan]:
    plans: list[_Plan] = []
    for dept_id in data.BOOKABLE_DEPARTMENTS:
        cells: list[tuple[int, str]]
        if dept_id == "D0301":
            cells = [(0, "afternoon"), (2, "afternoon"), (4, "afternoon"), (5, "afternoon")]
        elif dept_id == "D0601":
            cells = [(d, s) for d in range(7) for s in ("morning", "afternoon")] + [(d, "evening") for d in range(5)]
        elif dept_id == "D1601":
            cells = [(d, "morning") for d in range(7)]
        elif dept_id == "D0703":
            cells = [(d, "morning") for d in range(5)] + [(1, "evening"), (3, "evening")]
        elif state.departments[dept_id].campus_id == "C02":
            cells = [(d, "morning") for d in range(5)]
        else:
            cells = [(d, rng.choice(("morning", "morning", "afternoon"))) for d in range(5)]
            if rng.random() < 0.5:
                cells.append((5, "morning"))
        for weekday, session in cells:
            capacity = 20 if session == "evening" else rng.choice((30, 36, 40))
            if dept_id == "D0301":
                capacity = 40
            plans.append(_Plan(None, dept_id, weekday, session, "general", capacity, None))
    return plans


def _seed_fee_schedule(state: HisState, today: date) -> None:
    effective_from = date(today.year - 1, 1, 1)
    for raw in data.FEE_SCHEDULE:
        state.fee_schedule.append(
            FeeEntry(
                reg_type=raw["reg_type"],
                title_code=raw["title_code"],
                campus_id=raw["campus_id"],
                components=[FeeComponent(name, amount) for name, amount in raw["components"]],
                effective_from=effective_from,
                notes=raw["notes"],
            )
        )


def _seed_schedules(state: HisState, rng: random.Random, plans: list[_Plan], today: date, now: datetime) -> None:
    published = at(today - timedelta(days=1), "16:20")
    for offset in range(SCHEDULE_DAYS):
        day = today + timedelta(days=offset)
        for plan in plans:
            if plan.weekday != day.weekday():
                continue
            schedule = make_schedule(
                state, day, plan.session, plan.department_id, plan.doctor_id, plan.reg_type, plan.capacity,
                plan.room, min(published, now),
            )
            state.schedules[schedule.schedule_id] = schedule
    # Other channels and patients have booked part of what is released.
    candidates = []
    for schedule in sorted(state.schedules.values(), key=lambda s: s.schedule_id):
        # released by today's 08:00 whatever the time of day, so the data does not depend on the hour
        if schedule.date > today + timedelta(days=6) or schedule.doctor_id == "DR10023":
            continue
        for seq in rng.sample(range(1, schedule.capacity + 1), k=rng.randint(0, schedule.capacity * 3 // 5)):
            schedule.taken[seq] = EXTERNAL_HOLDER
        if schedule.doctor_id is not None:
            candidates.append(schedule)
    for schedule in rng.sample(candidates, k=min(2, len(candidates))):  # a couple of sold-out schedules
        schedule.taken = dict.fromkeys(range(1, schedule.capacity + 1), EXTERNAL_HOLDER)


def _first(state: HisState, today: date, department_id: str, first_day: int, doctor: bool = True) -> Schedule | None:
    for schedule in sorted(state.schedules.values(), key=lambda s: (s.date, s.schedule_id)):
        if (
            schedule.department_id == department_id
            and (schedule.doctor_id is not None) == doctor
            and schedule.reg_type != "special_needs"
            and schedule.date >= today + timedelta(days=first_day)
            and not schedule.stopped
            and schedule.version == 1
        ):
            return schedule
    return None


def _notice_id(state: HisState, day: date) -> str:
    return f"N{day:%Y%m%d}{state.next_number('N' + day.isoformat()):04d}"


def _seed_notices(state: HisState, today: date, now: datetime) -> None:
    stops = [
        ("D0303", 2, True, "doctor_leave",
         "因医生临时公务外出，本次门诊停诊。已预约的患者将由医院取消预约并全额退款，敬请谅解。", timedelta(hours=20)),
        ("D1401", 4, True, "emergency_duty",
         "因医生承担急诊抢救任务，本次门诊停诊。已预约的患者将由医院取消预约并全额退款。", timedelta(hours=3)),
    ]
    for dept_id, first_day, doctor, reason, message, age in stops:
        schedule = _first(state, today, dept_id, first_day, doctor)
        if schedule is None:
            continue
        published = now - age
        notice = ScheduleNotice(
            notice_id=_notice_id(state, schedule.date),
            type="stopped",
            schedule_id=schedule.schedule_id,
            date=schedule.date,
            session=schedule.session,
            department_id=schedule.department_id,
            doctor_id=schedule.doctor_id,
            reason_code=reason,
            public_message=message,
            handling="auto_cancelled_full_refund",
            published_at=published,
        )
        state.notices[notice.notice_id] = notice
        schedule.stop_notice_id = notice.notice_id
        schedule.version += 1
        schedule.updated_at = published
    _seed_substitution(state, today, now)
    _seed_room_change(state, today, now)


def _seed_substitution(state: HisState, today: date, now: datetime) -> None:
    schedule = _first(state, today, "D0302", 3)
    if schedule is None or schedule.doctor_id is None:
        return
    busy = {s.doctor_id for s in state.schedules.values() if s.date == schedule.date and s.session == schedule.session}
    substitutes = [d for d in state.doctors.values() if "D0302" in d.department_ids and d.doctor_id not in busy]
    if not substitutes:
        return
    substitute = substitutes[0]
    published = now - timedelta(hours=6)
    notice = ScheduleNotice(
        notice_id=_notice_id(state, schedule.date),
        type="changed",
        schedule_id=schedule.schedule_id,
        date=schedule.date,
        session=schedule.session,
        department_id=schedule.department_id,
        doctor_id=substitute.doctor_id,
        reason_code="conference",
        public_message=f"原出诊医生外出参加学术会议，本次门诊由{substitute.title_name}{substitute.name}替诊，"
        "挂号费不变。已预约的患者可继续就诊，如需退号可在就诊前免费取消。",
        handling="kept_free_cancellation",
        published_at=published,
        changes=[ScheduleChange("doctor_id", schedule.doctor_id, substitute.doctor_id)],
        free_cancel_until=schedule.start_time,
    )
    state.notices[notice.notice_id] = notice
    schedule.doctor_id = substitute.doctor_id
    schedule.free_cancel_until = schedule.start_time
    schedule.version += 1
    schedule.updated_at = published


def _seed_room_change(state: HisState, today: date, now: datetime) -> None:
    schedule = _first(state, today, "D0304", 2)
    if schedule is None:
        return
    old = schedule.location
    new = Location(old.campus_id, old.building, old.floor, "319诊室", "出电梯右转到底，神经内科D区临时诊室")
    published = now - timedelta(hours=1)
    notice = ScheduleNotice(
        notice_id=_notice_id(state, schedule.date),
        type="changed",
        schedule_id=schedule.schedule_id,
        date=schedule.date,
        session=schedule.session,
        department_id=schedule.department_id,
        doctor_id=schedule.doctor_id,
        reason_code="facility",
        public_message=f"因诊室设备检修，本次门诊调整至{new.building}{new.floor}{new.room}，就诊时间不变。",
        handling="kept",
        published_at=published,
        changes=[ScheduleChange("location", _location_dict(old), _location_dict(new))],
    )
    state.notices[notice.notice_id] = notice
    schedule.location = new
    schedule.version += 1
    schedule.updated_at = published


def _location_dict(location: Location) -> dict[str, str | None]:
    return {
        "campus_id": location.campus_id,
        "building": location.building,
        "floor": location.floor,
        "room": location.room,
        "description": location.description,
    }
