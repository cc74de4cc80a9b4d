"""Flask blueprints, one per tag of the contract, plus the unsigned ``/_sim`` admin API."""

from __future__ import annotations

from flask import Flask

from .admin import bp as admin_bp
from .appointments import bp as appointments_bp
from .events import bp as events_bp
from .patients import bp as patients_bp
from .reference import bp as reference_bp
from .schedules import bp as schedules_bp
from .system import bp as system_bp

V1_BLUEPRINTS = (system_bp, reference_bp, schedules_bp, patients_bp, appointments_bp, events_bp)


def register(app: Flask) -> None:
    for blueprint in V1_BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/v1")
    app.register_blueprint(admin_bp, url_prefix="/_sim")
