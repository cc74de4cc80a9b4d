"""System (§7.1): health and policies."""

from __future__ import annotations

from flask import Blueprint, Response

from .. import policy
from ..clock import fmt
from ..config import API_VERSION
from ..web import SYSTEM, json_response, operation, sim

bp = Blueprint("system", __name__)

COMPONENTS = ("his_core", "lis", "pacs", "queue", "e_receipt")


@bp.get("/health")
@operation("getHealth", SYSTEM)
def health() -> Response:
    simulator = sim()
    now = simulator.now()
    inside, start, end = simulator.maintenance_window(now)
    in_window = inside and simulator.config.enforce_maintenance
    if inside and not simulator.config.enforce_maintenance:  # the window is not enforced: show the next one
        _, start, end = simulator.maintenance_window(end)
    return json_response(
        {
            "status": "maintenance" if in_window else "ok",
            "server_time": fmt(now),
            "server_epoch": int(now.timestamp()),
            "api_version": API_VERSION,
            "components": dict.fromkeys(COMPONENTS, "maintenance" if in_window else "up"),
            "maintenance": {"in_window": in_window, "next_start": fmt(start), "next_end": fmt(end)},
        }
    )


@bp.get("/policies")
@operation("getPolicies", SYSTEM)
def policies() -> Response:
    simulator = sim()
    return json_response(policy.as_json(simulator.state.policies_updated_at, simulator.config.idempotency_retention_hours))
