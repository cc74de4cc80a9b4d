"""Appointments (§7.5): lock, confirm, cancel, queries."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from .. import appointments, views
from ..pagination import paginate
from ..validation import Params
from ..web import PATIENT_READ, WRITE, json_body, json_response, operation, sim

bp = Blueprint("appointments", __name__)

STATUSES = ("locked", "confirmed", "cancelled", "expired", "checked_in", "completed", "no_show")


@bp.post("/appointments")
@operation("lockAppointment", WRITE, idempotent=True)
def lock() -> Response:
    simulator = sim()
    now = simulator.now()
    appt = appointments.lock(simulator.state, g.app_id, json_body(), now, simulator.lock_expiry(now))
    return json_response(views.appointment(simulator.state, appt), 201)


@bp.post("/appointments/<appointment_id>/confirm")
@operation("confirmAppointment", WRITE, idempotent=True)
def confirm(appointment_id: str) -> Response:
    simulator = sim()
    appt = appointments.confirm(simulator.state, g.app_id, appointment_id, json_body(), simulator.now())
    return json_response(views.appointment(simulator.state, appt))


@bp.post("/appointments/<appointment_id>/cancel")
@operation("cancelAppointment", WRITE, idempotent=True)
def cancel(appointment_id: str) -> Response:
    simulator = sim()
    appt = appointments.cancel(simulator.state, g.app_id, appointment_id, json_body(), simulator.now())
    return json_response(views.appointment(simulator.state, appt))


@bp.get("/appointments")
@operation("queryAppointments", PATIENT_READ)
def query() -> Response:
    params = Params(request.args)
    order_id = params.string("order_id", max_length=32)
    patient_id = params.string("patient_id")
    date_from = params.local_date("date_from")
    date_to = params.local_date("date_to")
    params.date_range(date_from, date_to, None, ("date_from", "date_to"))
    status = params.enum("status", STATUSES)
    offset, size = params.page()
    if bool(order_id) == bool(patient_id):
        params.problems["order_id"] = params.problems["patient_id"] = "exactly one of order_id, patient_id is required"
    params.check()
    state = sim().state
    if order_id:
        found = appointments.by_order_id(state, g.app_id, order_id)
    else:
        assert patient_id is not None
        found = appointments.of_patient(state, g.app_id, patient_id, date_from, date_to, status)
    page, next_cursor = paginate(found, offset, size, request.args)
    return json_response({"items": [views.appointment(state, a) for a in page], "next_cursor": next_cursor})


@bp.get("/appointments/<appointment_id>")
@operation("getAppointment", PATIENT_READ)
def get(appointment_id: str) -> Response:
    state = sim().state
    return json_response(views.appointment(state, appointments.get(state, g.app_id, appointment_id)))
