"""Injected faults, so that callers can rehearse §5 (timeouts, unknown outcomes, busy and unavailable HIS).

A fault applies to the next ``times`` requests of one operation (``operationId`` of the spec, or ``*``):

* ``delay_seconds``: answer late (runs outside the state lock, so a concurrent retry sees REQUEST_IN_PROGRESS);
* ``code`` with ``when: before``: answer that error and change nothing (HIS_BUSY, HIS_UNAVAILABLE, ...);
* ``code`` with ``when: after``: execute the operation, store its idempotent outcome, then answer the error instead
  (INTERNAL_ERROR or OUTCOME_UNKNOWN: the classic unknown outcome of §5.2).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ERROR_TABLE, HisError

FAULT_CODES = ("HIS_BUSY", "INTERNAL_ERROR", "HIS_UNAVAILABLE", "HIS_MAINTENANCE", "OUTCOME_UNKNOWN")


@dataclass
class Fault:
    operation: str = "*"
    code: str | None = None
    when: str = "before"  # before | after
    delay_seconds: float = 0.0
    times: int = 1  # 0: until cleared
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.code is not None and self.code not in FAULT_CODES:
            raise ValueError(f"code must be one of {', '.join(FAULT_CODES)}")
        if self.when not in ("before", "after"):
            raise ValueError("when must be before or after")
        if self.delay_seconds < 0 or self.delay_seconds > 60 or self.times < 0:
            raise ValueError("delay_seconds must be 0-60 and times >= 0")

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
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, operation: str) -> Fault | None:
        """The first fault matching ``operation``, consuming one of its uses."""
        with self._lock:
            for fault in self._faults:
                if fault.operation in ("*", operation):
                    if fault.times == 1:
                        self._faults.remove(fault)
                    elif fault.times > 1:
                        fault.times -= 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_json() for f in self._faults]
