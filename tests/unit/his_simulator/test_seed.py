"""The demo hospital: sizes, realism rules and internal consistency of the seed."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from devstack.his_simulator.identity import age_on, resident_id_problems
from devstack.his_simulator.simulator import Simulator
from devstack.his_simulator.state import EXTERNAL_HOLDER

from .contract import assert_schema


def test_sizes(sim: Simulator) -> None:
    state = sim.state
    assert len(state.campuses) >= 2
    assert sum(d.bookable for d in state.departments.values()) >= 15
    assert len(state.doctors) >= 40
    today = sim.now().date()
    assert {s.date for s in state.schedules.values()} >= {today + timedelta(days=d) for d in range(14)}


def test_ids_follow_the_spec_style(sim: Simulator) -> None:
    state = sim.state
    assert all(re.fullmatch(r"C\d{2}", c) for c in state.campuses)
    assert all(re.fullmatch(r"D\d{4}", d) for d in state.departments)
    assert all(re.fullmatch(r"DR\d{5}", d) for d in state.doctors)
    assert all(re.fullmatch(r"P\d{9}", p) for p in state.patients)
    assert all(re.fullmatch(r"S\d{8}D\d{4}(DR\d{5}|POOL)(AM|PM|EV)", s) for s in state.schedules)
    assert all(len(i) <= 40 for i in [*state.schedules, *state.appointments, *state.reports, *state.charges])


def test_titles_and_departments_are_realistic(sim: Simulator) -> None:
    titles = Counter(d.title_code for d in sim.state.doctors.values())
    assert set(titles) == {"chief_physician", "associate_chief_physician", "attending_physician",
                           "resident_physician"}
    for doctor in sim.state.doctors.values():
        assert all(sim.state.departments[d].bookable for d in doctor.department_ids)
    names = Counter((d.campus_id, d.name) for d in sim.state.departments.values())
    assert max(names.values()) == 1  # names are unique within a campus
    both = {name for campus, name in names if campus == "C01"} & {name for campus, name in names if campus == "C02"}
    assert {"心血管内科", "骨科", "中医科"} <= both


def test_every_bookable_department_has_doctors_and_schedules(sim: Simulator) -> None:
    staffed = {d for doc in sim.state.doctors.values() for d in doc.department_ids}
    scheduled = {s.department_id for s in sim.state.schedules.values()}
    for dept in sim.state.departments.values():
        if dept.bookable:
            assert dept.department_id in staffed and dept.department_id in scheduled, dept.name


def test_slot_holders_are_consistent(sim: Simulator) -> None:
    for schedule in sim.state.schedules.values():
        assert all(1 <= seq <= schedule.capacity for seq in schedule.taken)
        for holder in schedule.taken.values():
            assert holder == EXTERNAL_HOLDER or sim.state.appointments[holder].schedule_id == schedule.schedule_id


def test_demo_patients(sim: Simulator) -> None:
    state = sim.state
    today = sim.now().date()
    for patient in state.patients.values():
        if patient.id_type == "resident_id":
            assert patient.id_number is not None
            assert resident_id_problems(patient.id_number, patient.gender, patient.birth_date) == []
        assert re.fullmatch(r"1\d{10}", patient.phone)
    child = state.patients["P000345678"]
    assert age_on(child.birth_date, today) < 14 and child.guardian is not None
    assert state.patients["P000666001"].restricted_until is not None


def test_clinical_history(sim: Simulator) -> None:
    reports = [r for r in sim.state.reports.values() if r.patient_id == "P000123456"]
    lab = next(r for r in reports if r.category == "lab" and r.status == "final")
    assert [i.flag for i in lab.items].count("H") + [i.flag for i in lab.items].count("L") == 1
    exam = next(r for r in reports if r.category == "exam")
    assert exam.findings and exam.conclusion
    assert any(r.status == "pending" for r in reports)
    charges = [c for c in sim.state.charges.values() if c.status == "unpaid"]
    assert {c.type for c in charges if c.payable_online} >= {"prescription", "lab"}
    assert all(c.total_fen == sum(i.amount_fen for i in c.items) and c.items for c in charges)
    visit = next(v for v in sim.state.visits.values() if v.patient_id == "P000123456")
    assert visit.status == "completed" and visit.diagnosis_categories[0].primary


def test_seeded_resources_conform_to_the_contract(sim: Simulator) -> None:
    from devstack.his_simulator import views

    state = sim.state
    now = sim.now()
    for appt in state.appointments.values():
        assert_schema("Appointment", views.appointment(state, appt))
    for visit in state.visits.values():
        assert_schema("Visit", views.visit(state, visit))
    for charge in state.charges.values():
        assert_schema("Charge", views.charge(charge))
    for notice in state.notices.values():
        assert_schema("ScheduleNotice", views.notice(notice))
    for schedule in list(state.schedules.values())[::25]:
        assert_schema("Schedule", views.schedule(state, schedule, now))
