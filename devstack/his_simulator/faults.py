"""Injected faults, so that callers can rehearse §5 (timeouts, unknown outcomes, busy and unavailable HIS).

A fault applies to requests of one operation (``operationId`` of the spec, or ``*``): to a ``rate`` (0-1) of them,
drawn from a seeded random generator (reproducible for a given order of requests), ``times`` times (0: until
cleared):

* ``delay_seconds``: answer late, either before the operation runs (``delay_at: before``; outside the state lock, so a
  concurrent same-key retry sees REQUEST_IN_PROGRESS) or after it committed (``delay_at: after``: the outcome is
  already stored, so a concurrent same-key retry is replayed);
* ``code`` with ``when: before``: answer that error and change nothing (HIS_BUSY, HIS_UNAVAILABLE, ...);
* ``code`` with ``when: after``: execute the operation, store its idempotent outcome, then answer the error instead
  (INTERNAL_ERROR or OUTCOME_UNKNOWN: the classic unknown outcome of §5.2);
* ``when: drop`` (no ``code``): execute the operation, store its idempotent outcome, then close the connection
  without any HTTP response (the caller sees a connection reset: another unknown outcome).

Event delivery faults (duplicates, reordering, ignored acknowledgements) live with the deliverer (``push.py``).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ERROR_TABLE, HisError

FAULT_CODES = ("HIS_BUSY", "INTERNAL_ERROR", "HIS_UNAVAILABLE", "HIS_MAINTENANCE", "OUTCOME_UNKNOWN")
WHEN = ("before", "after", "drop")
DELAY_AT = ("before", "after")
MAX_DELAY_SECONDS = 60


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class Fault:
    operation: str = "*"
    code: str | None = None
    when: str = "before"  # before | after | drop
    delay_seconds: float = 0.0
    delay_at: str = "before"  # before the operation runs | after it committed
    times: int = 1  # how many requests it applies to; 0: until cleared
    rate: float = 1.0  # the fraction of matching requests it applies to
    retry_after: int | None = None  # Retry-After of a 429/503 (default 1)

    def __post_init__(self) -> None:
        if not isinstance(self.operation, str) or not self.operation:
            raise ValueError("operation must be an operationId or *")
        if self.code is not None and self.code not in FAULT_CODES:
            raise ValueError(f"code must be one of {', '.join(FAULT_CODES)}")
        if self.when not in WHEN:
            raise ValueError("when must be before, after or drop")
        if self.when == "drop" and self.code is not None:
            raise ValueError("a dropped response has no code")
        if self.delay_at not in DELAY_AT:
            raise ValueError("delay_at must be before or after")
        if not _is_number(self.delay_seconds) or not 0 <= self.delay_seconds <= MAX_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be 0-{MAX_DELAY_SECONDS}")
        if not isinstance(self.times, int) or isinstance(self.times, bool) or self.times < 0:
            raise ValueError("times must be an integer >= 0")
        if not _is_number(self.rate) or not 0 <= self.rate <= 1:
            raise ValueError("rate must be a number from 0 to 1")
        if self.retry_after is not None and (
            not isinstance(self.retry_after, int) or isinstance(self.retry_after, bool) or self.retry_after < 0
        ):
            raise ValueError("retry_after must be an integer >= 0")

    def error(self) -> HisError:
        assert self.code is not None
        retry_after = self.retry_after
        if retry_after is None and ERROR_TABLE[self.code][0] in (429, 503):
            retry_after = 1
        details = {"reason": "backend_busy"} if self.code == "HIS_BUSY" else {"injected": True}
        return HisError(self.code, details=details, retry_after=retry_after)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """Active faults in the order they were added; the first one that matches and is drawn applies."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._faults: list[Fault] = []
        self._random = random.Random(seed)  # noqa: S311 - reproducible fault draws, not cryptography
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, operation: str) -> Fault | None:
        """The fault that applies to this request of ``operation``, consuming one of its uses, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.operation not in ("*", operation):
                    continue
                if fault.rate < 1 and self._random.random() >= fault.rate:
                    continue
                if fault.times == 1:
                    self._faults.remove(fault)
                elif fault.times > 1:
                    fault.times -= 1
                return fault
        return None

    def clear(self) -> None:
        """Forget every fault and restart the random draws from the seed."""
        with self._lock:
            self._faults.clear()
            self._random.seed(self._seed)

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_json() for f in self._faults]
