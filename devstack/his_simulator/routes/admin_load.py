"""Unsigned setup drivers for load tests and benchmarks (``/_sim``; never part of the contract): an extra session
with a chosen capacity and release time, and fictitious patients linked to the app (``load.py``)."""

from __future__ import annotations

from flask import Blueprint, Response

from .. import load, views
from ..errors import validation_error
from ..web import json_body, json_response, sim

bp = Blueprint("sim_admin_load", __name__)


@bp.post("/schedules")
def add_schedule() -> Response:
    body = json_body()
    simulator = sim()
    with simulator.lock:
        simulator.tick()
        now = simulator.now()
        schedule = load.add_schedule(simulator.state, body, now)
        return json_response(views.schedule(simulator.state, schedule, now), 201)


@bp.post("/patients")
def add_patients() -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    simulator = sim()
    with simulator.lock:
        made = load.add_patients(simulator.state, simulator.config.app_id, body.get("count"), simulator.now())
    return json_response({"items": [{"patient_id": p.patient_id, "gender": p.gender} for p in made]}, 201)
