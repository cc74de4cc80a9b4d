"""Simulator configuration: test-environment credentials (spec examples/00) and behaviour switches."""

from __future__ import annotations

from dataclasses import dataclass, field

TEST_APP_ID = "wxoa-cloud-test"
TEST_APP_SECRET = "his-test-secret-NOT-FOR-PRODUCTION-0001"  # noqa: S105 - published test-only secret
TEST_EVENT_SECRET = "his-test-event-secret-NOT-FOR-PRODUCTION-0001"  # noqa: S105 - published test-only secret
API_VERSION = "1.0.0"


@dataclass
class SimConfig:
    app_id: str = TEST_APP_ID
    app_secret: str = TEST_APP_SECRET
    # Secrets still accepted during a rotation overlap (§4.1).
    previous_app_secrets: list[str] = field(default_factory=list)
    event_secret: str = TEST_EVENT_SECRET
    seed: int = 20250602
    # §5.5 nightly window 23:30-00:30: off by default so that tests and the local stack work at any hour.
    enforce_maintenance: bool = False
    # §5.4 limit on failed patient lookups per X-His-End-User (10 per hour); off by default.
    enforce_rate_limits: bool = False
    request_log_size: int = 500
    timestamp_window_seconds: int = 300
    nonce_ttl_seconds: int = 600
    idempotency_retention_hours: int = 72
