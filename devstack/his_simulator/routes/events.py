"""Event log pull API (§8.1): the envelopes that would be pushed, kept 7 days."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from .. import events, views
from ..validation import Params
from ..web import PATIENT_READ, json_response, operation, sim

bp = Blueprint("events", __name__)


@bp.get("/events")
@operation("listEvents", PATIENT_READ)
def list_events() -> Response:
    params = Params(request.args)
    since = params.local_datetime("since")
    raw_after = params.string("after")
    after = events.decode_cursor(raw_after) if raw_after else None
    if raw_after and after is None:
        params.problems["after"] = "not a cursor returned by this API"
    raw_types = params.string("event_type")
    _, size = params.page()
    params.check()
    types = {t.strip() for t in raw_types.split(",") if t.strip()} if raw_types else None
    simulator = sim()
    found, cursor = events.page(simulator.state, g.app_id, simulator.now(), after, since, types, size)
    return json_response({"items": [views.event(e) for e in found], "next_cursor": cursor})
