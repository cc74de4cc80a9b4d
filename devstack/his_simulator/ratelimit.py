"""Rate limits of §5.4, applied to signed requests when ``enforce_rate_limits`` is on; an excess request gets
``429 HIS_BUSY`` with ``details.reason: rate_limit`` and ``Retry-After``.

* every operation: a token bucket per app (50 requests/s sustained, burst 100);
* ``lookupPatient``: 10 requests/s per app (burst 20: the spec gives none), and 10 failed lookups per hour per
  ``X-His-End-User``;
* ``getQueueStatus``: one request per 15 s per visit;
* ``getReconciliationFile``: 10 requests per minute per app.

Per-second limits run on a fine-grained clock (``time_source``: monotonic seconds plus the simulated clock's offset,
so that ``Simulator.advance`` refills them); the failed-lookup hour runs on the simulated clock. A refused request
consumes nothing of the limit that refused it.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import RateLimits

APP_SCOPE = "app"


@dataclass(frozen=True)
class Refusal:
    scope: str  # app | lookupPatient | getQueueStatus | getReconciliationFile | failed_lookups
    retry_after: int  # whole seconds, at least 1


def _whole_seconds(wait: float) -> int:
    return max(math.ceil(wait - 1e-9), 1)


class _Buckets:
    """Token buckets by key; rate and capacity are read at each call so that they can be changed live."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, ...], tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: tuple[str, ...], rate: float, burst: float, now: float) -> float | None:
        """Take one token; None when granted, else the seconds until one is available."""
        tokens, then = self._state.get(key, (burst, now))
        tokens = min(burst, tokens + max(now - then, 0.0) * rate)
        if tokens >= 1:
            self._state[key] = (tokens - 1, now)
            return None
        self._state[key] = (tokens, now)
        return (1 - tokens) / rate if rate > 0 else 3600.0

    def clear(self) -> None:
        self._state.clear()


class _Windows:
    """At most ``limit`` requests per ``window`` seconds by key (a sliding log)."""

    def __init__(self) -> None:
        self._log: dict[tuple[str, ...], deque[float]] = {}

    def take(self, key: tuple[str, ...], limit: int, window: float, now: float) -> float | None:
        times = self._log.setdefault(key, deque())
        while times and not 0 <= now - times[0] < window:  # expired, or from before the clock was moved back
            times.popleft()
        if len(times) < limit:
            times.append(now)
            return None
        return window - (now - times[0])

    def clear(self) -> None:
        self._log.clear()


class RateLimiter:
    def __init__(self, limits: RateLimits, time_source: Callable[[], float]) -> None:
        self.limits = limits
        self._time = time_source
        self._buckets = _Buckets()
        self._windows = _Windows()
        self._failed_lookups: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def check(self, app_id: str, operation_id: str, view_args: Mapping[str, object] | None = None) -> Refusal | None:
        """Count one request of ``operation_id`` by ``app_id``; a Refusal when a limit is exceeded."""
        limits = self.limits
        args = view_args or {}
        with self._lock:
            now = self._time()
            wait: float | None = None
            if operation_id == "lookupPatient":
                bucket = (operation_id, app_id)
                wait = self._buckets.take(bucket, limits.lookup_per_second, limits.lookup_burst, now)
            elif operation_id == "getQueueStatus":
                visit = str(args.get("visit_id", ""))
                wait = self._windows.take((operation_id, app_id, visit), 1, limits.queue_interval_seconds, now)
            elif operation_id == "getReconciliationFile":
                wait = self._windows.take((operation_id, app_id), limits.reconciliation_files_per_minute, 60.0, now)
            if wait is not None:
                return Refusal(operation_id, _whole_seconds(wait))
            wait = self._buckets.take((APP_SCOPE, app_id), limits.app_per_second, limits.app_burst, now)
            return Refusal(APP_SCOPE, _whole_seconds(wait)) if wait is not None else None

    # ------------------------------------------------------------ failed lookups per end user (simulated hour)

    def lookup_throttled(self, end_user: str | None, now: datetime) -> int | None:
        """Seconds to wait when ``end_user`` has used up its failed lookups for the hour, else None."""
        if not end_user:
            return None
        with self._lock:
            recent = [t for t in self._failed_lookups.get(end_user, []) if timedelta(0) <= now - t < timedelta(hours=1)]
            self._failed_lookups[end_user] = recent
            if len(recent) < self.limits.failed_lookups_per_hour:
                return None
            return _whole_seconds((recent[0] + timedelta(hours=1) - now).total_seconds())

    def record_failed_lookup(self, end_user: str | None, now: datetime) -> None:
        if end_user:
            with self._lock:
                self._failed_lookups.setdefault(end_user, []).append(now)

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._windows.clear()
            self._failed_lookups.clear()
