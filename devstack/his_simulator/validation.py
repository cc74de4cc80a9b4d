"""Query-string validation that collects every problem into one ``VALIDATION_ERROR`` (``details.fields``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from .clock import parse_local_date, parse_local_datetime
from .errors import validation_error
from .pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor


class Params:
    """Typed access to query parameters; call :meth:`check` once everything has been read."""

    def __init__(self, args: Mapping[str, str]) -> None:
        self.args = args
        self.problems: dict[str, str] = {}

    def string(self, name: str, required: bool = False, max_length: int | None = None) -> str | None:
        value = self.args.get(name)
        if value is None or value == "":
            if required:
                self.problems[name] = "required"
            return None
        if max_length is not None and len(value) > max_length:
            self.problems[name] = f"length must be at most {max_length}"
            return None
        return value

    def enum(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.string(name)
        if value is not None and value not in allowed:
            self.problems[name] = "must be one of " + ", ".join(allowed)
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.string(name)
        if value is None:
            return None
        if value not in ("true", "false"):
            self.problems[name] = "must be true or false"
            return None
        return value == "true"

    def local_date(self, name: str, required: bool = False) -> date | None:
        value = self.string(name, required)
        if value is None:
            return None
        parsed = parse_local_date(value)
        if parsed is None:
            self.problems[name] = "must be a date YYYY-MM-DD"
        return parsed

    def local_datetime(self, name: str, required: bool = False) -> datetime | None:
        value = self.string(name, required)
        if value is None:
            return None
        parsed = parse_local_datetime(value)
        if parsed is None:
            self.problems[name] = "must be an ISO 8601 date-time with the offset +08:00"
        return parsed

    def date_range(self, start: date | None, end: date | None, max_days: int | None, names: tuple[str, str]) -> None:
        """``end`` not before ``start`` and at most ``max_days`` calendar days inclusive."""
        if start is None or end is None:
            return
        if end < start:
            self.problems[names[1]] = f"must not be before {names[0]}"
        elif max_days is not None and (end - start).days + 1 > max_days:
            self.problems[names[1]] = f"the range may span at most {max_days} days"

    def page(self) -> tuple[int, int]:
        """(offset, page_size) from ``cursor`` and ``page_size``."""
        size = DEFAULT_PAGE_SIZE
        raw = self.args.get("page_size")
        if raw is not None:
            if raw.isdigit() and 1 <= int(raw) <= MAX_PAGE_SIZE:
                size = int(raw)
            else:
                self.problems["page_size"] = f"must be an integer from 1 to {MAX_PAGE_SIZE}"
        offset = 0
        cursor = self.args.get("cursor")
        if cursor:
            decoded = decode_cursor(cursor, self.args)
            if decoded is None:
                self.problems["cursor"] = "invalid, or from another query"
            else:
                offset = decoded
        return offset, size

    def require_one_of(self, *names: str) -> None:
        if not any(self.args.get(n) for n in names):
            for name in names:
                self.problems.setdefault(name, "one of " + ", ".join(names) + " is required")

    def check(self) -> None:
        if self.problems:
            raise validation_error(self.problems)
