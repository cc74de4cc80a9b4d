"""Unsigned admin API for tests and the local stack (``/_sim``; never part of the contract)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, request

from .. import views
from ..clock import fmt, parse_local_datetime
from ..errors import HisError, validation_error
from ..push import PushConfigError
from ..web import json_body, json_response, sim

bp = Blueprint("sim_admin", __name__)

_SWITCHES = ("enforce_maintenance", "enforce_rate_limits", "enforce_geofence")


def _object_body() -> dict[str, Any]:
    body = json_body()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    return body


def _clock_json() -> dict[str, Any]:
    simulator = sim()
    now = simulator.now()
    return {"now": fmt(now), "epoch": int(now.timestamp()), "offset_seconds": simulator.clock.offset_seconds}


@bp.get("/health")
def health() -> Response:
    simulator = sim()
    state = simulator.state
    return json_response(
        {
            "status": "ok",
            "clock": _clock_json(),
            "seed_date": state.seed_date.isoformat(),
            "app_id": simulator.config.app_id,
            "switches": {name: getattr(simulator.config, name) for name in _SWITCHES},
            "push_url": simulator.config.push_url,
            "counts": {
                "campuses": len(state.campuses),
                "departments": len(state.departments),
                "doctors": len(state.doctors),
                "schedules": len(state.schedules),
                "patients": len(state.patients),
                "appointments": len(state.appointments),
                "links": len(state.links),
            },
        }
    )


@bp.post("/clock")
def set_clock() -> Response:
    body = _object_body()
    simulator = sim()
    if "now" in body:
        target = parse_local_datetime(body["now"])
        if target is None:
            raise validation_error({"now": "must be an ISO 8601 date-time with the offset +08:00"})
        simulator.set_now(target)
    elif isinstance(body.get("offset_seconds"), int | float) and not isinstance(body["offset_seconds"], bool):
        simulator.set_clock_offset(float(body["offset_seconds"]))
    elif isinstance(body.get("advance_seconds"), int | float) and not isinstance(body["advance_seconds"], bool):
        simulator.advance(float(body["advance_seconds"]))
    else:
        raise validation_error({"body": "give now (+08:00), offset_seconds or advance_seconds"})
    return json_response(_clock_json())


@bp.get("/clock")
def get_clock() -> Response:
    return json_response(_clock_json())


@bp.post("/reset")
def reset() -> Response:
    simulator = sim()
    simulator.reset()
    return json_response({"status": "reset", "seed_date": simulator.state.seed_date.isoformat(), "clock": _clock_json()})


@bp.get("/requests")
def list_requests() -> Response:
    raw = request.args.get("limit", "")
    if raw and not raw.isdigit():
        raise validation_error({"limit": "must be a positive integer"})
    return json_response({"items": sim().requests(int(raw) if raw else None)})


@bp.delete("/requests")
def clear_requests() -> Response:
    sim().clear_requests()
    return Response(status=204)


@bp.post("/departments/<department_id>")
def update_department(department_id: str) -> Response:
    simulator = sim()
    dept = simulator.update_department(department_id, **_object_body())
    return json_response(views.department(simulator.state, dept))


@bp.post("/patients/<patient_id>/link")
def link_patient(patient_id: str) -> Response:
    sim().link_patient(patient_id)
    return Response(status=204)


def _config_json() -> dict[str, Any]:
    config = sim().config
    return {name: getattr(config, name) for name in _SWITCHES} | {"rate_limits": asdict(config.rate_limits)}


@bp.get("/config")
def get_config() -> Response:
    return json_response(_config_json())


@bp.post("/config")
def configure() -> Response:
    """Switches (booleans) and ``rate_limits`` (a partial object of positive numbers)."""
    body = _object_body()
    simulator = sim()
    problems = {k: "unknown switch" for k in body if k not in (*_SWITCHES, "rate_limits")}
    problems.update({k: "must be a boolean" for k in _SWITCHES if k in body and not isinstance(body[k], bool)})
    limits = body.get("rate_limits", {})
    if not isinstance(limits, dict):
        problems["rate_limits"] = "must be an object"
    else:
        known = asdict(simulator.config.rate_limits)
        for name, value in limits.items():
            if name not in known:
                problems[f"rate_limits.{name}"] = "unknown limit"
            elif not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                problems[f"rate_limits.{name}"] = "must be a positive number"
            elif isinstance(known[name], int) and (not isinstance(value, int) or value < 1):
                problems[f"rate_limits.{name}"] = "must be a positive integer"
    if problems:
        raise validation_error(problems)
    for name in _SWITCHES:
        if name in body:
            setattr(simulator.config, name, body[name])
    simulator.configure_rate_limits(**limits)
    return json_response(_config_json())


@bp.get("/faults")
def list_faults() -> Response:
    return json_response({"items": sim().faults.active()})


@bp.post("/faults")
def add_fault() -> Response:
    try:
        fault = sim().inject_fault(**_object_body())
    except (TypeError, ValueError) as error:
        raise HisError("VALIDATION_ERROR", str(error)) from None
    return json_response(fault.as_json(), 201)


@bp.delete("/faults")
def clear_faults() -> Response:
    sim().clear_faults()
    return Response(status=204)


@bp.get("/push")
def push_status() -> Response:
    return json_response(sim().push_status())


@bp.post("/push")
def configure_push() -> Response:
    """``url``, settings, faults (``duplicate``, ``reorder``, ``reorder_batch``, ``fail_next``), ``event_secret``."""
    try:
        status = sim().configure_push(**_object_body())
    except PushConfigError as error:
        raise validation_error(error.problems) from None
    return json_response(status)


@bp.post("/push/flush")
def flush_push() -> Response:
    simulator = sim()
    attempts = simulator.flush_push()
    return json_response({"attempts": attempts, "held_for_maintenance": simulator.push.held_for_maintenance()})
