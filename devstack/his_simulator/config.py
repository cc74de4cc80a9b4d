"""Simulator configuration: test-environment credentials (spec examples/00), behaviour switches, rate limits (§5.4)
and event push (§8.1) settings."""

from __future__ import annotations

from dataclasses import dataclass, field

TEST_APP_ID = "wxoa-cloud-test"
TEST_APP_SECRET = "his-test-secret-NOT-FOR-PRODUCTION-0001"  # noqa: S105 - published test-only secret
TEST_EVENT_SECRET = "his-test-event-secret-NOT-FOR-PRODUCTION-0001"  # noqa: S105 - published test-only secret
API_VERSION = "1.0.0"

# §8.1: retry after 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, then hourly until 24 h after the first attempt.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (10, 30, 60, 300, 900, 1800)


@dataclass
class RateLimits:
    """§5.4, applied when ``SimConfig.enforce_rate_limits`` is on. Smaller values let tests reach them quickly."""

    app_per_second: float = 50.0  # token bucket per app, all signed endpoints
    app_burst: int = 100
    lookup_per_second: float = 10.0  # POST /patients/lookup per app, token bucket ...
    lookup_burst: int = 20  # ... of this size (§5.4 gives no burst for lookups: 2 s worth)
    failed_lookups_per_hour: int = 10  # per X-His-End-User
    queue_interval_seconds: float = 15.0  # GET /visits/{visit_id}/queue: one per interval per visit
    reconciliation_files_per_minute: int = 10  # GET /reconciliation/{date}/file per app


@dataclass
class PushSettings:
    """How the deliverer behaves (§8.1); the endpoint itself is ``SimConfig.push_url``."""

    retry_delays: list[float] = field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS))
    repeat_delay_seconds: float = 3600.0  # after the listed delays
    give_up_after_seconds: float = 24 * 3600.0  # counted from the first attempt; then the event is parked
    ack_timeout_seconds: float = 5.0  # a 2xx later than this is not an acknowledgement
    parallel: int = 10
    background: bool = True  # False: nothing is delivered except by ``flush`` (deterministic tests)
    poll_seconds: float = 0.2  # how often the deliverer looks for new or due events when nobody wakes it


@dataclass
class SimConfig:
    app_id: str = TEST_APP_ID
    app_secret: str = TEST_APP_SECRET
    # Secrets still accepted during a rotation overlap (§4.1).
    previous_app_secrets: list[str] = field(default_factory=list)
    event_secret: str = TEST_EVENT_SECRET
    # Event secrets the integrator's receiver should still accept (§4.1); pushes are signed with ``event_secret``.
    previous_event_secrets: list[str] = field(default_factory=list)
    seed: int = 20250602
    # §5.5 nightly window 23:30-00:30: off by default so that tests and the local stack work at any hour.
    enforce_maintenance: bool = False
    # §7.6 check-in within 1000 m of the campus (on, as the policy states; read by the check-in route).
    enforce_geofence: bool = True
    # §5.4 rate limits (``rate_limits``) and the failed-lookup throttle; off by default.
    enforce_rate_limits: bool = False
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # §8.1 event push endpoint (e.g. ``http://127.0.0.1:8000/his/events``); None: no push, pull API only.
    push_url: str | None = None
    push: PushSettings = field(default_factory=PushSettings)
    request_log_size: int = 500
    timestamp_window_seconds: int = 300
    nonce_ttl_seconds: int = 600
    idempotency_retention_hours: int = 72
