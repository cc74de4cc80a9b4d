"""Idempotency of state-changing POSTs (interface spec §5.3), independent of any operation.

A record is scoped by (app, operation, key) and holds a fingerprint of the request (path and parsed JSON body).
While the first request runs the record is *in progress*; a finished 2xx or 4xx outcome is stored for 72 h and
replayed; a 429 or 5xx outcome is forgotten so that a retry executes again.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def fingerprint(path: str, body: Any) -> str:
    """Bodies are compared as parsed JSON: key order and whitespace do not matter."""
    return json.dumps([path, body], sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Record:
    fingerprint: str
    created_at: datetime
    response: StoredResponse | None = None  # None while in progress


@dataclass(frozen=True)
class Begin:
    """Outcome of :meth:`IdempotencyStore.begin`: exactly one of the fields is meaningful."""

    proceed: bool = False
    replay: StoredResponse | None = None
    in_progress: bool = False
    reused: bool = False


class IdempotencyStore:
    def __init__(self, retention_hours: int = 72) -> None:
        self._retention = timedelta(hours=retention_hours)
        self._records: dict[tuple[str, str, str], _Record] = {}
        self._lock = threading.Lock()

    def begin(self, app_id: str, operation: str, key: str, fp: str, now: datetime) -> Begin:
        with self._lock:
            self._purge(now)
            record = self._records.get((app_id, operation, key))
            if record is None:
                self._records[(app_id, operation, key)] = _Record(fp, now)
                return Begin(proceed=True)
            if record.fingerprint != fp:
                return Begin(reused=True)
            if record.response is None:
                return Begin(in_progress=True)
            return Begin(replay=record.response)

    def finish(self, app_id: str, operation: str, key: str, response: StoredResponse) -> None:
        """Store a final outcome (2xx, 4xx except 429) or forget the key (429, 5xx) so a retry runs again."""
        with self._lock:
            record = self._records.get((app_id, operation, key))
            if record is None:
                return
            if 200 <= response.status < 300 or (400 <= response.status < 500 and response.status != 429):
                record.response = response
            else:
                del self._records[(app_id, operation, key)]

    def abandon(self, app_id: str, operation: str, key: str) -> None:
        with self._lock:
            self._records.pop((app_id, operation, key), None)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)

    def _purge(self, now: datetime) -> None:
        expired = [k for k, r in self._records.items() if r.response is not None and now - r.created_at > self._retention]
        for key in expired:
            del self._records[key]
