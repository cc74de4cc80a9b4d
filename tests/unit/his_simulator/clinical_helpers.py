"""Fixtures for the clinical tests (reports, check-in and queue, visits, hospital drivers): the app with the clinical
blueprints mounted and the time-driven sweeps run on every tick, as the simulator wires them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from devstack.his_simulator import queueing, reports, views
from devstack.his_simulator.routes.admin_clinical import bp as admin_clinical_bp
from devstack.his_simulator.routes.clinical import bp as clinical_bp
from devstack.his_simulator.server import create_app
from devstack.his_simulator.simulator import Simulator

from .booking_helpers import LI_SI, confirm, lock, lock_body
from .conftest import MONDAY_9AM, ZHANG_IDENTITY, SignedClient, frozen_simulator
from .contract import assert_schema


def clinical_app(sim: Simulator) -> Flask:
    """``create_app`` plus the two clinical blueprints (unless the routes package registers them already), with
    ``release_due`` and ``mark_no_shows`` in ``tick``."""
    app = create_app(sim)
    if clinical_bp.name not in app.blueprints:
        app.register_blueprint(clinical_bp, url_prefix="/v1")
    if admin_clinical_bp.name not in app.blueprints:
        app.register_blueprint(admin_clinical_bp, url_prefix="/_sim")
    original = sim.tick

    def tick() -> None:
        original()
        now = sim.now()
        reports.release_due(sim.state, now)
        queueing.mark_no_shows(sim.state, now)

    sim.tick = tick  # type: ignore[method-assign]
    return app


@contextmanager
def clinical_client(sim: Simulator) -> Iterator[tuple[SignedClient, FlaskClient]]:
    """(signed /v1 client, plain client for /_sim)."""
    with clinical_app(sim).test_client() as client:
        yield SignedClient(client, sim), client


@contextmanager
def monday(link_zhang: bool = True) -> Iterator[tuple[Simulator, SignedClient, FlaskClient]]:
    """Frozen on Monday 2025-06-16 09:00; 张三 linked."""
    sim = frozen_simulator(MONDAY_9AM)
    with clinical_client(sim) as (api, admin):
        if link_zhang:
            assert api.post("/v1/patients/lookup", ZHANG_IDENTITY).status_code == 200
        yield sim, api, admin


def book_li_si(api: SignedClient, slot: int = 5, order_id: str = "WXO20250616090000001",
               patient_id: str = "P000123456", transaction_id: str = "4200000000202506161234567890") -> dict[str, Any]:
    """A confirmed (paid) appointment on 李四's Monday 2025-06-23 morning: slot 5 is 08:40-08:50."""
    body = lock_body(order_id, slot_id=f"{LI_SI}-{slot:02d}") | {"patient_id": patient_id}
    locked = lock(api, body)
    assert locked.status_code == 201, locked.get_json()
    confirmed = confirm(api, locked.get_json(), transaction_id=transaction_id)
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert isinstance(body, dict)
    return body


def at_visit_day(sim: Simulator, hhmm: str) -> None:
    hour, minute = (int(p) for p in hhmm.split(":"))
    sim.set_now(datetime(2025, 6, 23, hour, minute, tzinfo=MONDAY_9AM.tzinfo))


def events_of(sim: Simulator, event_type: str, schema: str | None = None) -> list[dict[str, Any]]:
    """Envelopes of one type in log order, each checked against the spec's event schema when given."""
    found = [views.event(e) for e in sim.state.events if e.event_type == event_type]
    for envelope in found:
        if schema:
            assert_schema(schema, envelope)
    return found


NEAR_C01 = {"latitude": 30.123456, "longitude": 120.123456, "coordinate_system": "GCJ-02"}  # examples/08
FAR_AWAY = {"latitude": 30.2, "longitude": 120.2, "coordinate_system": "GCJ-02"}


def check_in(api: SignedClient, appt: dict[str, Any], location: dict[str, Any] | None = NEAR_C01,
             key: str | None = None) -> Any:
    body = {"order_id": appt["order_id"], "location": location}
    return api.post(f"/v1/appointments/{appt['appointment_id']}/check-in", body,
                    idempotency_key=key or f"{appt['order_id']}:checkin")
