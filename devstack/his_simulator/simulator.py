"""The simulator object: configuration, clock, the in-memory HIS and the stores around it, the rate limiter and the
event deliverer, with a Python API for tests and the local stack (the same operations as the ``/_sim`` admin API).

Call ``close()`` (``server.shutdown()`` does) to stop the event deliverer."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from . import appointments, billing, patients, policy, queueing, reference, reports
from .auth import NonceStore, Verifier
from .clock import SimClock, at
from .config import TEST_APP_ID, TEST_APP_SECRET, TEST_EVENT_SECRET, RateLimits, SimConfig
from .faults import Fault, FaultBook
from .idempotency import IdempotencyStore
from .policy import MAINTENANCE_END, MAINTENANCE_START
from .push import Deliverer
from .ratelimit import RateLimiter, Refusal
from .seed import build_state
from .state import Department, HisState


class Simulator:
    def __init__(
        self,
        app_id: str = TEST_APP_ID,
        app_secret: str = TEST_APP_SECRET,
        event_secret: str = TEST_EVENT_SECRET,
        *,
        config: SimConfig | None = None,
        clock: SimClock | None = None,
    ) -> None:
        self.config = config or SimConfig(app_id=app_id, app_secret=app_secret, event_secret=event_secret)
        self.clock = clock or SimClock()
        self.lock = threading.RLock()
        self.nonces = NonceStore(self.config.nonce_ttl_seconds)
        self.idempotency = IdempotencyStore(self.config.idempotency_retention_hours)
        self.faults = FaultBook(self.config.seed)
        self.rate_limiter = RateLimiter(self.config.rate_limits, self.fine_time)
        self.verifier = Verifier(
            self.config.app_id,
            [self.config.app_secret, *self.config.previous_app_secrets],
            self.clock,
            self.nonces,
            self.config.timestamp_window_seconds,
        )
        self._requests: deque[dict[str, Any]] = deque(maxlen=self.config.request_log_size)
        self._requests_lock = threading.Lock()
        self.state: HisState = self._seed()
        self.push = Deliverer(self, self.fine_time)
        if self.config.push_url:
            self.push.start()

    def close(self) -> None:
        """Stop the event deliverer (waits for deliveries in flight)."""
        self.push.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------ clock

    def now(self) -> datetime:
        return self.clock.now()

    def set_clock_offset(self, seconds: float) -> None:
        self.clock.set_offset(seconds)

    def set_now(self, target: datetime) -> None:
        """Make ``now()`` return ``target`` (timezone-aware) from this instant on; time keeps running."""
        self.clock.set_now(target)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def fine_time(self) -> float:
        """Seconds on a sub-second scale that moves with the clock offset (rate limits, push schedules)."""
        return time.monotonic() + self.clock.offset_seconds

    # ------------------------------------------------------------ data

    def _seed(self) -> HisState:
        now = self.clock.now()
        return build_state(now.date(), now, self.config.seed)

    def reset(self) -> None:
        """Reseed relative to the current simulated date and forget links, keys, nonces, faults, rate-limit counts,
        event deliveries and the log (switches, rate limits and the push URL stay)."""
        with self.lock:
            self.state = self._seed()
            self.idempotency.clear()
            self.nonces.clear()
            self.faults.clear()
            self.clear_requests()
            self.rate_limiter.clear()
            self.push.reset()

    def update_department(self, department_id: str, **changes: Any) -> Department:
        with self.lock:
            return reference.update_department(self.state, department_id, changes, self.now())

    def link_patient(self, patient_id: str, app_id: str | None = None) -> None:
        """Link a patient without a lookup (test shortcut)."""
        with self.lock:
            patients.require_patient(self.state, patient_id)
            patients.link(self.state, app_id or self.config.app_id, patient_id)

    # ------------------------------------------------------------ faults

    def inject_fault(self, **fields: Any) -> Fault:
        fault = Fault(**fields)
        self.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------ rate limits (§5.4)

    def configure_rate_limits(self, **changes: Any) -> RateLimits:
        """Change limits (``RateLimits`` fields) live; ``enforce_rate_limits`` still switches them on."""
        limits = self.config.rate_limits
        unknown = set(changes) - set(asdict(limits))
        if unknown:
            raise ValueError(f"unknown rate limits: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            whole = isinstance(getattr(limits, name), int)
            if not isinstance(value, int if whole else int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive {'integer' if whole else 'number'}")
        for name, value in changes.items():
            setattr(limits, name, value)
        return limits

    def rate_limited(self, app_id: str, operation_id: str, view_args: dict[str, Any] | None = None) -> Refusal | None:
        """Count a request against the §5.4 limits when they are enforced; the refusal when one is exceeded."""
        if not self.config.enforce_rate_limits:
            return None
        return self.rate_limiter.check(app_id, operation_id, view_args)

    # ------------------------------------------------------------ event push (§8.1)

    def configure_push(self, **changes: Any) -> dict[str, Any]:
        """``url`` (None: off), ``retry_delays``, ``repeat_delay_seconds``, ``give_up_after_seconds``,
        ``ack_timeout_seconds``, ``parallel``, ``background``; faults ``duplicate``, ``reorder``, ``reorder_batch``,
        ``fail_next``; ``event_secret`` (rotation). Returns the push status."""
        self.push.configure(changes)
        return self.push.status()

    def push_status(self) -> dict[str, Any]:
        """URL, settings, faults and per-event delivery status."""
        return self.push.status()

    def flush_push(self) -> list[dict[str, Any]]:
        """Deliver every event due now, synchronously; the attempts made."""
        return self.push.flush()

    def rotate_event_secret(self, new_secret: str) -> None:
        """Sign pushes with ``new_secret`` from now on; the old one is kept as previous (§4.1 overlap)."""
        self.push.configure({"event_secret": new_secret})

    # ------------------------------------------------------------ request log (no bodies, no personal data)

    def record_request(self, entry: dict[str, Any]) -> None:
        with self._requests_lock:
            self._requests.append(entry)

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The most recent requests, oldest first."""
        with self._requests_lock:
            items = list(self._requests)
        return items[-limit:] if limit else items

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    # ------------------------------------------------------------ time-driven changes

    def tick(self) -> None:
        """Apply what the passing of time does (lock expiry, reports becoming viewable, no-shows, settlement and
        charge expiry); called before every operation, under the lock."""
        now = self.now()
        appointments.expire_locks(self.state, now)
        reports.release_due(self.state, now)
        queueing.mark_no_shows(self.state, now)
        billing.expire_billing(self.state, now)

    def lock_expiry(self, now: datetime) -> datetime:
        """now + lock TTL; with the maintenance window enforced, expiries inside it move to 00:45 (§5.5)."""
        expiry = now + timedelta(seconds=policy.LOCK_TTL_SECONDS)
        inside, _, end = self.maintenance_window(expiry)
        if self.config.enforce_maintenance and inside:
            return end + timedelta(minutes=15)
        return expiry

    # ------------------------------------------------------------ maintenance and throttling

    def maintenance_window(self, now: datetime | None = None) -> tuple[bool, datetime, datetime]:
        """(inside the nightly window, its start, its end): the current window, or the next one."""
        now = now or self.now()
        today_start = at(now.date(), MAINTENANCE_START)
        today_end = at(now.date(), MAINTENANCE_END)
        if now < today_end:
            return True, today_start - timedelta(days=1), today_end
        if now >= today_start:
            return True, today_start, today_end + timedelta(days=1)
        return False, today_start, today_end + timedelta(days=1)

    def lookup_throttled(self, end_user: str | None) -> int | None:
        """Seconds to wait when ``end_user`` has used up its failed lookups for the hour, else None."""
        if not self.config.enforce_rate_limits:
            return None
        return self.rate_limiter.lookup_throttled(end_user, self.now())

    def record_failed_lookup(self, end_user: str | None) -> None:
        self.rate_limiter.record_failed_lookup(end_user, self.now())
