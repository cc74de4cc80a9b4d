"""The simulator's clock: real Asia/Shanghai time plus an adjustable offset (interface spec §2.2).

Shanghai has had no daylight saving time since 1991, so a fixed ``+08:00`` offset is exact and needs no tz database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?\+08:00$")
_LOCAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def fmt(value: datetime | None) -> str | None:
    """``2025-06-23T08:40:00+08:00`` (seconds precision, always the Shanghai offset), or None."""
    if value is None:
        return None
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


def fmt_req(value: datetime) -> str:
    """As :func:`fmt` for a value that is never None."""
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


def parse_local_datetime(text: str) -> datetime | None:
    """Parse a spec date-time; None unless it has the explicit ``+08:00`` offset."""
    if not isinstance(text, str) or not _LOCAL_DATETIME.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_local_date(text: str) -> date | None:
    """Parse a ``YYYY-MM-DD`` calendar date; None for anything else."""
    if not isinstance(text, str) or not _LOCAL_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def at(day: date, hhmm: str) -> datetime:
    """The Shanghai date-time of ``HH:MM`` on ``day``."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


class SimClock:
    """Real time plus an offset. Thread-safe; ``real`` is injectable for tests."""

    def __init__(self, offset_seconds: float = 0.0, real: Callable[[], datetime] | None = None) -> None:
        self._offset = timedelta(seconds=offset_seconds)
        self._real = real or (lambda: datetime.now(SHANGHAI))
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return (self._real() + offset).astimezone(SHANGHAI).replace(microsecond=0)

    def epoch(self) -> int:
        return int(self.now().timestamp())

    def today(self) -> date:
        return self.now().date()

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = timedelta(seconds=seconds)

    def set_now(self, target: datetime) -> None:
        """Move the clock so that ``now()`` is ``target`` (a timezone-aware date-time) at this instant."""
        if target.tzinfo is None:
            raise ValueError("target must be timezone-aware")
        with self._lock:
            self._offset = target - self._real()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
