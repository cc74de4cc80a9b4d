"""Client-side rate limits of the middleware (interface spec §5.4), shared by everything in the process.

The middleware allows 50 requests/s sustained with a burst of 100 per app, 10/s for patient lookups and
10/min for reconciliation files. Up to ``concurrency`` bridge instances (the Lambda's reserved concurrency,
``BRIDGE_MAX_CONCURRENCY``) run at once, so each takes an equal share. Waiting for a token is bounded:
when it would take longer than the caller's budget, ``RateLimitedError`` is raised and the message is
redelivered later, as for any retryable failure; nothing spins.

``GET /visits/{visit_id}/queue`` may be asked once per 15 s per visit: ``QueueStatusCache`` keeps the last
good answer per visit for that long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

APP_RATE_PER_SECOND = 50.0
APP_BURST = 100.0
OPERATION_LIMITS: dict[str, tuple[float, float]] = {
    # operation: (tokens per second, burst)
    "lookupPatient": (10.0, 10.0),
    "getReconciliationFile": (10.0 / 60.0, 10.0),
}
QUEUE_STATUS_INTERVAL_SECONDS = 15.0


class RateLimitedError(Exception):
    """No token within the allowed wait; the caller treats it as a retryable failure."""

    def __init__(self, operation: str, wait: float) -> None:
        super().__init__(f"{operation}: client-side rate limit, next token in {wait:.2f} s")
        self.operation = operation
        self.wait = wait


class TokenBucket:
    """A thread-safe token bucket; tokens are reserved, so waiting callers queue up fairly."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def reserve(self, max_wait: float) -> float | None:
        """Take one token. Returns how long to wait before using it, or None (nothing taken) when that
        would be longer than ``max_wait``."""
        with self._lock:
            self._refill(self._clock())
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if wait > max_wait:
                return None
            self._tokens -= 1
            return wait

    def give_back(self) -> None:
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + 1)

    def next_token_in(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate


class RateLimiter:
    """The app-wide bucket plus the per-operation ones, each divided by ``concurrency``."""

    def __init__(
        self,
        concurrency: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        share = float(max(1, concurrency))
        self._sleep = sleep
        self._app = TokenBucket(APP_RATE_PER_SECOND / share, max(1.0, APP_BURST / share), clock)
        self._per_operation = {
            name: TokenBucket(rate / share, max(1.0, burst / share), clock)
            for name, (rate, burst) in OPERATION_LIMITS.items()
        }

    def acquire(self, operation: str, max_wait: float) -> float:
        """Wait (at most ``max_wait`` seconds) for a token for ``operation``; returns the time waited."""
        max_wait = max(0.0, max_wait)
        buckets = [b for b in (self._per_operation.get(operation), self._app) if b is not None]
        taken: list[TokenBucket] = []
        longest = 0.0
        for bucket in buckets:
            wait = bucket.reserve(max_wait)
            if wait is None:
                for held in taken:
                    held.give_back()
                raise RateLimitedError(operation, bucket.next_token_in())
            taken.append(bucket)
            longest = max(longest, wait)
        if longest > 0:
            self._sleep(longest)
        return longest


@dataclass
class _Entry:
    at: float
    value: Any


class QueueStatusCache:
    """The last good ``getQueueStatus`` answer per visit, served for 15 s (§5.4)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 2000) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, visit_id: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(visit_id)
            if entry is None or self._clock() - entry.at >= QUEUE_STATUS_INTERVAL_SECONDS:
                return None
            return entry.value

    def put(self, visit_id: str, value: Any) -> None:
        with self._lock:
            now = self._clock()
            if len(self._entries) >= self._max:
                self._entries = {
                    k: e for k, e in self._entries.items() if now - e.at < QUEUE_STATUS_INTERVAL_SECONDS
                }
                if len(self._entries) >= self._max:
                    self._entries.pop(next(iter(self._entries)))
            self._entries[visit_id] = _Entry(now, value)
