"""Flask blueprints, one per tag of the contract, plus the unsigned ``/_sim`` admin API (and its hospital-side
drivers for clinical and billing data)."""

from __future__ import annotations

from flask import Flask

from .admin import bp as admin_bp
from .admin_billing import bp as admin_billing_bp
from .admin_clinical import bp as admin_clinical_bp
from .admin_load import bp as admin_load_bp
from .appointments import bp as appointments_bp
from .billing import bp as billing_bp
from .clinical import bp as clinical_bp
from .events import bp as events_bp
from .patients import bp as patients_bp
from .reference import bp as reference_bp
from .schedules import bp as schedules_bp
from .system import bp as system_bp

V1_BLUEPRINTS = (system_bp, reference_bp, schedules_bp, patients_bp, appointments_bp, clinical_bp, billing_bp, events_bp)
ADMIN_BLUEPRINTS = (admin_bp, admin_clinical_bp, admin_billing_bp, admin_load_bp)


def register(app: Flask) -> None:
    for blueprint in V1_BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/v1")
    for blueprint in ADMIN_BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/_sim")
