"""The waitlist (候补) of full sessions: join, see one's place, be offered a freed slot, claim it or let it
move on. Uses the booking ports (``BookingContext``): a freed slot is handed from its old holder to the
offer in one conditional write, so nobody else can take it while it is offered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chalicelib.domain import booking as bk
from chalicelib.domain import waitlist as wl
from chalicelib.domain.booking import Appointment, BookingError
from chalicelib.domain.patients import PatientBinding, Relation, addressed
from chalicelib.domain.timers import Timer, TimerKind
from chalicelib.domain.waitlist import EntryState, WaitlistEntry
from chalicelib.domain.wechat import Notice, NoticeKind
from chalicelib.observability import get_logger
from chalicelib.services.booking import BookingContext, BookSlot, book

log = get_logger("waitlist")


@dataclass(frozen=True)
class WaitlistPosition:
    entry: WaitlistEntry
    place: int | None


def _subject(schedule_id: str, patient_id: str) -> str:
    return f"{schedule_id}|{patient_id}"


def join(ctx: BookingContext, openid: str, schedule_id: str, patient_id: str) -> WaitlistPosition:
    if not bk.ID.match(schedule_id) or not bk.ID.match(patient_id):
        raise BookingError(400, "BAD_REQUEST", "请选择就诊人和时段")
    binding = next((b for b in ctx.bindings.patients_of(openid) if b.patient_id == patient_id), None)
    if binding is None:
        raise BookingError(404, "PATIENT_NOT_FOUND", "未找到该就诊人，请先绑定就诊卡")
    now = ctx.clock()
    snapshot = ctx.pool.snapshot(schedule_id)
    if snapshot is None or not snapshot.schedule.released(now):
        raise BookingError(409, "NOT_RELEASED", "该时段尚未放号，放号后如已约满可加入候补")
    schedule = snapshot.schedule
    if schedule.stopped or ctx.stops.stop_of(schedule_id) is not None or now >= schedule.start_time:
        raise BookingError(409, "SCHEDULE_CLOSED", "该时段已停止预约，不能候补")
    if ctx.pool.free_slots(schedule_id):
        raise BookingError(409, "SLOTS_AVAILABLE", "该时段还有号源，请直接预约")
    if ctx.limits.place_of(patient_id, schedule_id) is not None:
        raise BookingError(409, "ALREADY_BOOKED", "该就诊人已预约该时段，无需候补")
    active = [e for e in ctx.waitlist.of_user(openid) if e.active]
    if len(active) >= wl.MAX_WAITING_PER_USER:
        raise BookingError(409, "WAITLIST_LIMIT", f"您最多同时候补{wl.MAX_WAITING_PER_USER}个时段")
    entry = WaitlistEntry(schedule_id, patient_id, openid, binding.label, binding.relation.value, now)
    if not ctx.waitlist.join(entry):
        existing = ctx.waitlist.get(schedule_id, patient_id)
        if existing is None or not existing.active:
            raise BookingError(409, "WAITLIST_CLOSED", "该就诊人已候补过该时段")
        entry = existing
    return WaitlistPosition(entry, wl.place_in_line(ctx.waitlist.entries(schedule_id), patient_id))


def my_entries(ctx: BookingContext, openid: str) -> list[WaitlistPosition]:
    out = []
    for entry in sorted(ctx.waitlist.of_user(openid), key=lambda e: e.joined_at, reverse=True):
        place = wl.place_in_line(ctx.waitlist.entries(entry.schedule_id), entry.patient_id) \
            if entry.state is EntryState.WAITING else None
        out.append(WaitlistPosition(entry, place))
    return out


def leave(ctx: BookingContext, openid: str, schedule_id: str, patient_id: str) -> None:
    entry = ctx.waitlist.get(schedule_id, patient_id) if bk.ID.match(schedule_id) and bk.ID.match(patient_id) else None
    if entry is None or entry.openid != openid:
        raise BookingError(404, "NOT_FOUND", "没有找到该候补")
    if not entry.active:
        return
    if not ctx.waitlist.save(entry.moved(EntryState.LEFT)):
        raise BookingError(409, "CHANGED", "候补状态刚刚发生变化，请刷新后重试")
    if entry.state is EntryState.OFFERED and entry.offer is not None:
        slot_freed(ctx, schedule_id, entry.offer.slot_id, f"offer:{entry.offer.offer_id}", offer=True)


def slot_freed(ctx: BookingContext, schedule_id: str, slot_id: str, holder: str, *, offer: bool) -> None:
    """A slot held by ``holder`` is free again: keep it for the first patient waiting, or free it."""
    now = ctx.clock()
    snapshot = ctx.pool.snapshot(schedule_id)
    open_for_offers = (offer and snapshot is not None and not snapshot.schedule.stopped
                       and ctx.stops.stop_of(schedule_id) is None
                       and now + timedelta(minutes=ctx.waitlist_offer_minutes) < snapshot.schedule.start_time)
    if open_for_offers:
        entries = ctx.waitlist.entries(schedule_id)
        while (nxt := wl.next_in_line(entries)) is not None:
            offer_id = ctx.new_hex()[:20]
            if not ctx.pool.transfer(schedule_id, slot_id, holder, f"offer:{offer_id}"):
                return  # the slot is not the old holder's any more: someone else already moved it
            offered = nxt.offered(offer_id, slot_id, now, ctx.waitlist_offer_minutes)
            if ctx.waitlist.save(offered):
                _tell_offer(ctx, offered, snapshot.schedule.title() if snapshot else "")
                assert offered.offer is not None
                subject = _subject(schedule_id, nxt.patient_id)
                ctx.timers.set(Timer(TimerKind.OFFER_EXPIRY, subject, offered.offer.expires_at))
                log.info("freed slot offered to the waitlist", extra={"schedule_id": schedule_id})
                return
            holder = f"offer:{offer_id}"  # the entry changed meanwhile (left): try the next in line
            entries = ctx.waitlist.entries(schedule_id)
    ctx.pool.transfer(schedule_id, slot_id, holder, None)


def _tell_offer(ctx: BookingContext, entry: WaitlistEntry, title: str) -> None:
    assert entry.offer is not None
    binding = PatientBinding(entry.openid, entry.patient_id, Relation(entry.relation), entry.patient_label, entry.joined_at)
    text = addressed(wl.offer_text(title, ctx.waitlist_offer_minutes), binding)
    fields = {"keyword1": entry.patient_label, "keyword2": title,
              "keyword3": f"请在{ctx.waitlist_offer_minutes}分钟内完成预约"}
    url = ctx.page_url(f"waitlist.html?offer={entry.offer.offer_id}")
    ctx.send_notice(Notice(NoticeKind.WAITLIST_OFFER, entry.openid, text, fields, url),
                    f"waitlist_offer:{entry.offer.offer_id}")


def expire_offer(ctx: BookingContext, subject: str) -> None:
    """An offer's time is up: if unclaimed, it goes to the next in line."""
    schedule_id, _, patient_id = subject.partition("|")
    entry = ctx.waitlist.get(schedule_id, patient_id)
    if entry is None or entry.state is not EntryState.OFFERED or entry.offer is None:
        return
    if entry.offer.open(ctx.clock()):
        ctx.timers.set(Timer(TimerKind.OFFER_EXPIRY, subject, entry.offer.expires_at))
        return
    if ctx.waitlist.save(entry.moved(EntryState.EXPIRED)):
        slot_freed(ctx, schedule_id, entry.offer.slot_id, f"offer:{entry.offer.offer_id}", offer=True)


def claim(ctx: BookingContext, openid: str, offer_id: str, request_key: str) -> Appointment:
    """Book the slot an offer keeps for the patient."""
    entry = ctx.waitlist.by_offer(offer_id) if bk.ID.match(offer_id) else None
    if entry is None or entry.openid != openid or entry.offer is None:
        raise BookingError(404, "NOT_FOUND", "没有找到该候补号源")
    if entry.state is EntryState.CLAIMED:
        raise BookingError(409, "OFFER_CLAIMED", "该候补号源已预约，请在“我的预约”中查看")
    if entry.state is not EntryState.OFFERED or not entry.offer.open(ctx.clock()):
        raise BookingError(409, "OFFER_EXPIRED", "为您保留的号源已过期，已顺延给下一位候补患者")
    appointment = book(ctx, openid, BookSlot(entry.schedule_id, entry.patient_id, request_key),
                       offer=(entry.offer.offer_id, entry.offer.slot_id))
    if appointment.offer_id != entry.offer.offer_id:  # the request key was one already used for another booking
        raise BookingError(409, "REQUEST_KEY_USED", "请求编号已使用，请刷新页面后重试")
    ctx.waitlist.save(entry.moved(EntryState.CLAIMED))
    return appointment
