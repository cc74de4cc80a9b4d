"""Hospital policies (§7.1): the values the simulator enforces and ``GET /policies`` reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import fmt

SLOT_RELEASE_DAYS_AHEAD = 7
SLOT_RELEASE_TIME = "08:00"
LOCK_TTL_SECONDS = 900
CANCEL_DEADLINE_DAYS_BEFORE = 1
CANCEL_DEADLINE_TIME = "18:00"
MAX_PER_PATIENT_PER_DAY = 3
MAX_PER_PATIENT_PER_DEPARTMENT_PER_DAY = 1
MAX_OPEN_LOCKS_PER_PATIENT = 1
NO_SHOW_LIMIT = {"count": 3, "window_days": 90, "suspension_days": 90}
CHECKIN_OPENS_MINUTES_BEFORE_SLOT = 60
GEOFENCE_METERS = 1000
QUEUE_APPROACHING_THRESHOLD = 3
SETTLEMENT_LOCK_TTL_SECONDS = 900
UNPAID_CHARGE_VALIDITY_HOURS = 72
MAINTENANCE_START = "23:30"
MAINTENANCE_END = "00:30"
# rule_code -> (category, delay in minutes from finalization to online release, viewable online at all)
REPORT_RELEASE_RULES: dict[str, tuple[str, int, bool]] = {
    "lab_default": ("lab", 0, True),
    "exam_default": ("exam", 120, True),
    "pathology": ("exam", 0, False),
    "hiv_confirmatory": ("lab", 0, False),
    "genetic": ("lab", 0, False),
}


def as_json(updated_at: datetime, idempotency_retention_hours: int) -> dict[str, Any]:
    return {
        "timezone": "Asia/Shanghai",
        "slot_release": {"days_ahead": SLOT_RELEASE_DAYS_AHEAD, "time": SLOT_RELEASE_TIME},
        "appointment": {
            "lock_ttl_seconds": LOCK_TTL_SECONDS,
            "cancel_deadline_days_before": CANCEL_DEADLINE_DAYS_BEFORE,
            "cancel_deadline_time": CANCEL_DEADLINE_TIME,
            "max_per_patient_per_day": MAX_PER_PATIENT_PER_DAY,
            "max_per_patient_per_department_per_day": MAX_PER_PATIENT_PER_DEPARTMENT_PER_DAY,
            "no_show_limit": dict(NO_SHOW_LIMIT),
        },
        "checkin": {
            "opens_minutes_before_slot": CHECKIN_OPENS_MINUTES_BEFORE_SLOT,
            "on_time_minutes_after_slot_end": 0,
            "geofence_meters": GEOFENCE_METERS,
        },
        "queue": {"approaching_threshold": QUEUE_APPROACHING_THRESHOLD},
        "report_release": {
            "rules": [
                {"category": category, "rule_code": code, "delay_minutes": delay, "online": online}
                for code, (category, delay, online) in REPORT_RELEASE_RULES.items()
            ],
            "hold_critical_until_acknowledged": True,
        },
        "billing": {
            "settlement_lock_ttl_seconds": SETTLEMENT_LOCK_TTL_SECONDS,
            "self_pay_only": True,
            "unpaid_charge_validity_hours": UNPAID_CHARGE_VALIDITY_HOURS,
        },
        "maintenance_window": {"start": MAINTENANCE_START, "end": MAINTENANCE_END},
        "rate_limit": {"requests_per_second": 50, "burst": 100},
        "idempotency_retention_hours": idempotency_retention_hours,
        "updated_at": fmt(updated_at),
    }
