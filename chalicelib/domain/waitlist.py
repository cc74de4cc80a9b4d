"""The waitlist (候补) of a full session: first come, first offered.

Pure Python. A patient joins a full schedule's line; when one of its slots frees (a cancellation, a lapsed
lock, a failed booking), the slot is kept for the first patient waiting and offered through a notice with a
time-limited claim link. An offer not claimed in time moves on to the next in line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class EntryState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CLAIMED = "claimed"
    EXPIRED = "expired"  # an offer that was not claimed in time
    LEFT = "left"


STATE_TEXT = {
    EntryState.WAITING: "候补中",
    EntryState.OFFERED: "有号源为您保留，请尽快预约",
    EntryState.CLAIMED: "已通过候补预约",
    EntryState.EXPIRED: "保留的号源已过期",
    EntryState.LEFT: "已退出候补",
}
MAX_WAITING_PER_USER = 5


@dataclass(frozen=True)
class Offer:
    offer_id: str
    slot_id: str
    expires_at: datetime

    def open(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class WaitlistEntry:
    schedule_id: str
    patient_id: str
    openid: str
    patient_label: str
    relation: str
    joined_at: datetime
    state: EntryState = EntryState.WAITING
    offer: Offer | None = None
    version: int = 0

    @property
    def active(self) -> bool:
        return self.state in (EntryState.WAITING, EntryState.OFFERED)

    def offered(self, offer_id: str, slot_id: str, now: datetime, minutes: int) -> WaitlistEntry:
        return replace(self, state=EntryState.OFFERED, offer=Offer(offer_id, slot_id, now + timedelta(minutes=minutes)),
                       version=self.version + 1)

    def moved(self, state: EntryState) -> WaitlistEntry:
        return replace(self, state=state, version=self.version + 1)


def place_in_line(entries: list[WaitlistEntry], patient_id: str) -> int | None:
    """1-based place among those still waiting (joined order); None when not waiting."""
    waiting = sorted((e for e in entries if e.state is EntryState.WAITING), key=lambda e: (e.joined_at, e.patient_id))
    for i, e in enumerate(waiting, start=1):
        if e.patient_id == patient_id:
            return i
    return None


def next_in_line(entries: list[WaitlistEntry]) -> WaitlistEntry | None:
    waiting = sorted((e for e in entries if e.state is EntryState.WAITING), key=lambda e: (e.joined_at, e.patient_id))
    return waiting[0] if waiting else None


def offer_text(schedule_title: str, minutes: int) -> str:
    return (f"候补成功：您候补的{schedule_title}有号源释放，已为您保留{minutes}分钟。"
            "请点击链接尽快完成预约，逾期将顺延给下一位候补患者。")
