"""Timers: something to do for an appointment or offer at a time (a lapsed lock, a reminder, a step to ask
the HIS about again, an offer that runs out). Pure Python; a scheduled sweep fires what is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TimerKind(StrEnum):
    RESEND = "resend"  # a HIS step still unanswered: send it again under the same Idempotency-Key
    LOCK_LAPSE = "lock_lapse"  # an unpaid lock has elapsed: the slot goes back
    REMINDER = "reminder"  # remind the patient before the visit
    OFFER_EXPIRY = "offer_expiry"  # a waitlist offer not claimed in time
    EFFECTS = "effects"  # run a transition's effects again (they are idempotent) in case the first run died


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    subject: str  # appointment id, or "<schedule_id>|<patient_id>" for a waitlist offer
    due_at: datetime
    detail: str = ""  # e.g. the reminder's minutes before the visit

    @property
    def key(self) -> str:
        return f"{self.kind.value}#{self.subject}#{self.detail}"
