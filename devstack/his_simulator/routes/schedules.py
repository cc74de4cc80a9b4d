"""Schedules and slot pools (§7.3)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from .. import schedules, views
from ..errors import not_found
from ..pagination import paginate
from ..validation import Params
from ..web import REFERENCE, json_response, operation, sim

bp = Blueprint("schedules", __name__)

REG_TYPES = ("general", "expert", "special_needs")


@bp.get("/schedules")
@operation("listSchedules", REFERENCE)
def list_schedules() -> Response:
    params = Params(request.args)
    department_id = params.string("department_id")
    doctor_id = params.string("doctor_id")
    campus_id = params.string("campus_id")
    reg_type = params.enum("reg_type", REG_TYPES)
    date_from = params.local_date("date_from", required=True)
    date_to = params.local_date("date_to", required=True)
    params.date_range(date_from, date_to, schedules.MAX_RANGE_DAYS, ("date_from", "date_to"))
    params.require_one_of("department_id", "doctor_id")
    offset, size = params.page()
    params.check()
    assert date_from is not None and date_to is not None
    simulator = sim()
    found = schedules.query(simulator.state, date_from, date_to, department_id, doctor_id, campus_id, reg_type)
    page, next_cursor = paginate(found, offset, size, request.args)
    now = simulator.now()
    return json_response(
        {"items": [views.schedule(simulator.state, s, now) for s in page], "next_cursor": next_cursor}
    )


@bp.get("/schedules/<schedule_id>")
@operation("getSchedule", REFERENCE)
def get_schedule(schedule_id: str) -> Response:
    simulator = sim()
    found = simulator.state.schedules.get(schedule_id)
    if found is None:
        raise not_found("schedule", schedule_id)
    return json_response(views.schedule(simulator.state, found, simulator.now()))


@bp.get("/schedules/<schedule_id>/slots")
@operation("listSlots", REFERENCE)
def list_slots(schedule_id: str) -> Response:
    simulator = sim()
    found = simulator.state.schedules.get(schedule_id)
    if found is None:
        raise not_found("schedule", schedule_id)
    now = simulator.now()
    return json_response(
        {"schedule_id": schedule_id, "items": [views.slot(found, seq, now) for seq in range(1, found.capacity + 1)]}
    )


@bp.get("/schedule-notices")
@operation("listScheduleNotices", REFERENCE)
def list_notices() -> Response:
    params = Params(request.args)
    date_from = params.local_date("date_from", required=True)
    date_to = params.local_date("date_to", required=True)
    params.date_range(date_from, date_to, None, ("date_from", "date_to"))
    department_id = params.string("department_id")
    doctor_id = params.string("doctor_id")
    offset, size = params.page()
    params.check()
    assert date_from is not None and date_to is not None
    found = schedules.query_notices(sim().state, date_from, date_to, department_id, doctor_id)
    page, next_cursor = paginate(found, offset, size, request.args)
    return json_response({"items": [views.notice(n) for n in page], "next_cursor": next_cursor})
