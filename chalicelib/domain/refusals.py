"""A refusal a page shows to a person: the one shape every feature's errors share.

``status`` is the HTTP status, ``code`` is for programs, ``message`` is Chinese, for people; ``extra`` carries
what the page needs to act (``retry_after`` seconds, ``release_at``, ``waitlist_open``...). Each feature
subclasses it (``BookingError``, ``CardsError``, ``PaymentsError``, ``ReportsError``, ``SchedulesError``);
``chalicelib.api.errors.refusal`` turns any of them into the response.
"""

from __future__ import annotations

from typing import Any


class RefusalError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
