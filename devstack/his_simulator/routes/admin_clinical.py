"""Unsigned hospital-side drivers for tests and the local stack (``/_sim``; never part of the contract): LIS/PACS
reports, the nurse station's queue, doctors completing visits, schedule stops and changes, counter cancellations,
and the time-driven sweeps. Each runs under the simulator's lock after the usual tick and emits the spec's events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, Response

from .. import hospital, queueing, reports, views, views_clinical, visits
from ..errors import validation_error
from ..simulator import Simulator
from ..web import json_body, json_response, sim

bp = Blueprint("sim_admin_clinical", __name__)

T = TypeVar("T")


def _apply(action: Callable[[Simulator, datetime], T]) -> T:
    """Run a driver under the lock at the simulated time; reports that became viewable are announced at once."""
    simulator = sim()
    with simulator.lock:
        simulator.tick()
        now = simulator.now()
        result = action(simulator, now)
        reports.release_due(simulator.state, now)
        return result


def _report(report_id: str) -> Response:
    simulator = sim()
    report = reports.require_report(simulator.state, report_id)
    return json_response(views_clinical.report_detail(report, simulator.now()))


def _visit(visit_id: str) -> Response:
    simulator = sim()
    visit = visits.require_visit(simulator.state, visit_id)
    body: dict[str, Any] = views.visit(simulator.state, visit)
    if visit.queue is not None:
        body["queue"] = views_clinical.queue_status(simulator.state, visit)
    return json_response(body)


# ---------------------------------------------------------------- reports (LIS / PACS)


@bp.post("/patients/<patient_id>/reports")
def create_report(patient_id: str) -> Response:
    body = json_body()
    report = _apply(lambda s, now: reports.create(s.state, patient_id, body, now))
    response = _report(report.report_id)
    response.status_code = 201
    return response


@bp.post("/reports/<report_id>/finalize")
def finalize_report(report_id: str) -> Response:
    body = json_body()
    _apply(lambda s, now: reports.finalize(s.state, report_id, body, now))
    return _report(report_id)


@bp.post("/reports/<report_id>/amend")
def amend_report(report_id: str) -> Response:
    body = json_body()
    _apply(lambda s, now: reports.amend(s.state, report_id, body, now))
    return _report(report_id)


@bp.post("/reports/<report_id>/acknowledge-critical")
def acknowledge_critical(report_id: str) -> Response:
    body = json_body()
    _apply(lambda s, now: reports.acknowledge_critical(s.state, report_id, body, now))
    return _report(report_id)


# ---------------------------------------------------------------- queue (nurse station) and visits (doctor)


@bp.post("/schedules/<schedule_id>/queue/call-next")
def call_next(schedule_id: str) -> Response:
    visit = _apply(lambda s, now: queueing.call_next(s.state, schedule_id, now))
    return _visit(visit.visit_id)


@bp.post("/schedules/<schedule_id>/queue/walk-ins")
def walk_ins(schedule_id: str) -> Response:
    body = json_body() or {}
    count = body.get("count", 1) if isinstance(body, dict) else None
    if not isinstance(count, int) or isinstance(count, bool):
        raise validation_error({"count": "must be an integer from 1 to 100"})
    added = _apply(lambda s, now: queueing.add_walk_ins(s.state, schedule_id, count, now))
    return json_response({"visit_ids": [v.visit_id for v in added],
                          "queue_nos": [v.queue.queue_no for v in added if v.queue is not None]}, 201)


_QUEUE_ACTIONS: dict[str, Callable[[Any, str, datetime], Any]] = {
    "call": queueing.call_again,
    "missed": queueing.mark_missed,
    "requeue": queueing.requeue,
    "start": queueing.start_consultation,
}


@bp.post("/visits/<visit_id>/queue/<action>")
def queue_action(visit_id: str, action: str) -> Response:
    handler = _QUEUE_ACTIONS.get(action)
    if handler is None:
        raise validation_error({"action": "must be one of " + ", ".join(_QUEUE_ACTIONS)})
    _apply(lambda s, now: handler(s.state, visit_id, now))
    return _visit(visit_id)


@bp.post("/visits/<visit_id>/complete")
def complete_visit(visit_id: str) -> Response:
    body = json_body()
    _apply(lambda s, now: visits.complete(s.state, visit_id, body, now))
    return _visit(visit_id)


@bp.post("/visits/<visit_id>/reopen")
def reopen_visit(visit_id: str) -> Response:
    _apply(lambda s, _now: visits.reopen(s.state, visit_id))
    return _visit(visit_id)


# ---------------------------------------------------------------- schedules and appointments


def _apps(simulator: Simulator) -> list[str]:
    return [simulator.config.app_id]


@bp.post("/schedules/<schedule_id>/stop")
def stop_schedule(schedule_id: str) -> Response:
    body = json_body()
    notice, cancelled = _apply(lambda s, now: hospital.stop_schedule(s.state, schedule_id, body, _apps(s), now))
    state = sim().state
    return json_response({
        "notice": views.notice(notice),
        "schedule": views.schedule(state, state.schedules[schedule_id], sim().now()),
        "cancelled": [views.appointment(state, a) for a in cancelled],
    })


@bp.post("/schedules/<schedule_id>/change")
def change_schedule(schedule_id: str) -> Response:
    body = json_body()
    notice = _apply(lambda s, now: hospital.change_schedule(s.state, schedule_id, body, _apps(s), now))
    state = sim().state
    return json_response({
        "notice": views.notice(notice),
        "schedule": views.schedule(state, state.schedules[schedule_id], sim().now()),
    })


@bp.post("/appointments/<appointment_id>/counter-cancel")
def counter_cancel(appointment_id: str) -> Response:
    appt = _apply(lambda s, now: hospital.counter_cancel(s.state, appointment_id, now))
    return json_response(views.appointment(sim().state, appt))


# ---------------------------------------------------------------- switches and sweeps


@bp.post("/checkin/geofence")
def set_geofence() -> Response:
    """``{"enforce_geofence": bool}``: the §7.6 check-in geofence (on by default, as the policy states)."""
    body = json_body()
    value = body.get("enforce_geofence") if isinstance(body, dict) else None
    if not isinstance(value, bool):
        raise validation_error({"enforce_geofence": "must be a boolean"})
    setattr(sim().config, queueing.GEOFENCE_SWITCH, value)
    return json_response({queueing.GEOFENCE_SWITCH: value})


@bp.post("/clinical/sweep")
def sweep() -> Response:
    """Run the time-driven changes now: report releases and the no-show sweep."""
    def run(s: Simulator, now: datetime) -> tuple[list[str], list[str]]:
        released = [r.report_id for r in reports.release_due(s.state, now)]
        return released, [a.appointment_id for a in queueing.mark_no_shows(s.state, now)]

    released, no_shows = _apply(run)
    return json_response({"released_reports": released, "no_shows": no_shows})
