"""The event log (§8): envelopes recorded in order, for the pull API and a future push deliverer.

Patient events are recorded only for apps the patient is linked to; schedule events for every configured app.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

from .state import Event, HisState

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id(now: datetime) -> str:
    """``evt_`` + a ULID-style id: 10 characters of millisecond time, 16 random."""
    millis = int(now.timestamp() * 1000)
    time_part = "".join(_CROCKFORD[(millis >> (5 * i)) & 31] for i in reversed(range(10)))
    random_part = "".join(secrets.choice(_CROCKFORD) for _ in range(16))
    return f"evt_{time_part}{random_part}"


def emit(state: HisState, app_id: str, event_type: str, data: dict[str, Any], now: datetime) -> Event:
    event = Event(
        seq=state.next_number("event"),
        event_id=new_event_id(now),
        event_type=event_type,
        occurred_at=now,
        app_id=app_id,
        data=data,
    )
    state.events.append(event)
    return event


def emit_for_patient(state: HisState, patient_id: str, event_type: str, data: dict[str, Any], now: datetime) -> None:
    """One event per app the patient is linked to."""
    for app_id in sorted({app for app, linked in state.links if linked == patient_id}):
        emit(state, app_id, event_type, data, now)


RETENTION_DAYS = 7


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"evt:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The position in an ``after`` cursor, or None when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "evt" and number.isdigit() else None


def page(
    state: HisState,
    app_id: str,
    now: datetime,
    after: int | None,
    since: datetime | None,
    types: set[str] | None,
    size: int,
) -> tuple[list[Event], str]:
    """Events of ``app_id`` in recording order, kept 7 days; the cursor always points past what was returned."""
    oldest = now - timedelta(days=RETENTION_DAYS)
    items = []
    for event in state.events:
        if event.app_id != app_id or event.occurred_at < oldest:
            continue
        if after is not None and event.seq <= after:
            continue
        if after is None and since is not None and event.occurred_at < since:
            continue
        if types and event.event_type not in types:
            continue
        items.append(event)
        if len(items) == size:
            break
    if items:
        return items, _cursor(items[-1].seq)
    if after is not None:
        return [], _cursor(after)
    return [], _cursor(state.events[-1].seq if state.events and since is not None else 0)
