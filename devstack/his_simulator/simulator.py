"""The simulator object: configuration, clock, the in-memory HIS and the stores around it, with a Python API for
tests and the local stack (the same operations as the ``/_sim`` admin API)."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from . import appointments, patients, policy, reference
from .auth import NonceStore, Verifier
from .clock import SimClock, at
from .config import TEST_APP_ID, TEST_APP_SECRET, TEST_EVENT_SECRET, SimConfig
from .faults import Fault, FaultBook
from .idempotency import IdempotencyStore
from .policy import MAINTENANCE_END, MAINTENANCE_START
from .seed import build_state
from .state import Department, HisState

FAILED_LOOKUPS_PER_HOUR = 10


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
        self.faults = FaultBook()
        self.verifier = Verifier(
            self.config.app_id,
            [self.config.app_secret, *self.config.previous_app_secrets],
            self.clock,
            self.nonces,
            self.config.timestamp_window_seconds,
        )
        self._requests: deque[dict[str, Any]] = deque(maxlen=self.config.request_log_size)
        self._requests_lock = threading.Lock()
        self._failed_lookups: dict[str, list[datetime]] = {}
        self.state: HisState = self._seed()

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

    # ------------------------------------------------------------ data

    def _seed(self) -> HisState:
        now = self.clock.now()
        return build_state(now.date(), now, self.config.seed)

    def reset(self) -> None:
        """Reseed relative to the current simulated date and forget links, keys, nonces, faults and the log."""
        with self.lock:
            self.state = self._seed()
            self.idempotency.clear()
            self.nonces.clear()
            self.faults.clear()
            self.clear_requests()
            self._failed_lookups.clear()

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
        """Apply what the passing of time does (lock expiry); called before every operation, under the lock."""
        appointments.expire_locks(self.state, self.now())

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
        if not self.config.enforce_rate_limits or not end_user:
            return None
        now = self.now()
        recent = [t for t in self._failed_lookups.get(end_user, []) if now - t < timedelta(hours=1)]
        self._failed_lookups[end_user] = recent
        if len(recent) < FAILED_LOOKUPS_PER_HOUR:
            return None
        return max(int((recent[0] + timedelta(hours=1) - now).total_seconds()), 1)

    def record_failed_lookup(self, end_user: str | None) -> None:
        if end_user:
            self._failed_lookups.setdefault(end_user, []).append(self.now())
