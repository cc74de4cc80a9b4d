"""Ingesting HIS events (spec §8.2) from any path (the receiver's pushes, the events-pull poller, our own
delayed copies) and their effects: notices, refund obligations, schedule stops and changes, follow-up plans.

Order of work for one event: parse (malformed: ``EventFormatError``; an unknown type is acknowledged and
ignored), claim its ``event_id`` in the ledger (a duplicate is acknowledged and does nothing), compare the
resource version with the one held (stale: nothing), apply the effect, mark the event done. When the
effect fails the claim is released and the queue redelivers it. Every effect is idempotent by itself, so
a retry after a partial failure repeats nothing: notices have natural notice ids, refund obligations are
keyed by ``out_refund_no``, stores are "newer only".

The events-pull poller (``request_poll`` / ``apply_poll_result``) is the backstop for pushes lost in an
outage: every few minutes it asks the bridge for ``GET /events`` after the stored cursor and ingests
what comes back, then moves the cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain import his_events as ev
from chalicelib.domain.his_events import EventFormatError, EventMessage, EventSource, HisEvent, NoticeDraft
from chalicelib.domain.his_messages import OUTCOME_OK, HisRequest, HisResult
from chalicelib.domain.patients import addressed
from chalicelib.domain.wechat import Notice
from chalicelib.observability import get_logger
from chalicelib.services.ports import (
    BlobStore,
    Clock,
    EventCursor,
    FollowUpPlans,
    HisEventLedger,
    HisEventQueue,
    HisRequestQueue,
    IdFactory,
    LedgerState,
    PatientBindings,
    RefundObligations,
    ResourceVersions,
    ScheduleNotices,
)

log = get_logger("his_events")
POLL_PURPOSE = "event_poll"
FIRST_POLL_LOOKBACK = timedelta(hours=24)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the event id was seen (done, in progress, or waiting as a delayed copy)
    STALE = "stale"  # the state held is newer
    LATE = "late"  # a time-sensitive notice that is no longer worth sending
    DELAYED = "delayed"  # not due yet: re-enqueued with a delay
    IGNORED = "ignored"  # an event type we do not handle, or nothing to do


@dataclass(frozen=True)
class EventPorts:
    ledger: HisEventLedger
    versions: ResourceVersions
    queue: HisEventQueue
    schedules: ScheduleNotices
    follow_ups: FollowUpPlans
    bindings: PatientBindings
    refunds: RefundObligations
    send_notice: Callable[[Notice, str], object]  # ``notices.notify`` with its ports bound
    page_url: Callable[[str], str]  # settings.h5_url
    # Booking keeps our own appointment records in step: (HIS appointment id, new status, reason, status_version).
    appointment_changed: Callable[[str, str, str | None, int], object] | None = None


def ingest(message: EventMessage, ports: EventPorts, clock: Clock) -> Outcome:
    """Process one event message exactly once in effect (see the module docstring)."""
    event = ev.parse_envelope(message.envelope)
    if event.data is None:
        log.info("unknown event type acknowledged", extra={"event_type": event.event_type, "event_id": event.event_id})
        return Outcome.IGNORED
    now = clock()
    claim = ports.ledger.claim(event.event_id, now, take_deferred=message.source is EventSource.DELAYED)
    if claim is not LedgerState.NEW:
        log.info("duplicate event acknowledged", extra={"event_id": event.event_id, "held": claim.value})
        return Outcome.DUPLICATE
    try:
        outcome = _apply(event, message, ports, now)
    except Exception:
        ports.ledger.release(event.event_id)
        raise
    if outcome is not Outcome.DELAYED:
        ports.ledger.done(event.event_id, outcome.value, now)
    log.info("event ingested", extra={"event_id": event.event_id, "event_type": event.event_type,
                                      "source": message.source.value, "outcome": outcome.value})
    return outcome


def _apply(event: HisEvent, message: EventMessage, ports: EventPorts, now: datetime) -> Outcome:
    data = event.data
    match data:
        case ev.ReportFinalized():
            return _report(event, data, message, ports, now)
        case ev.QueueApproaching():
            if ev.too_late(event, now):
                return Outcome.LATE
            if not _advance(event, data, ports, now):
                return Outcome.STALE  # a call was already seen (or this approach was announced)
            _tell(ev.queue_approaching_notice(data), ports)
            return Outcome.APPLIED
        case ev.QueueCalled():
            if not _advance(event, data, ports, now):
                return Outcome.STALE  # recorded first, so a late approach after it is still dropped
            if ev.too_late(event, now):
                return Outcome.LATE
            _tell(ev.queue_called_notice(data), ports)
            return Outcome.APPLIED
        case ev.AppointmentStatusChanged():
            return _appointment(event, data, ports, now)
        case ev.ScheduleStopped():
            if not _advance(event, data, ports, now):
                return Outcome.STALE
            ports.schedules.record_stop(data)
            return Outcome.APPLIED  # patients are told by the per-appointment events that follow
        case ev.ScheduleChanged():
            if not _advance(event, data, ports, now):
                return Outcome.STALE
            ports.schedules.record_change(data)
            for appointment_id, patient_id in ports.schedules.appointments_of(data.schedule_id):
                _tell(ev.schedule_changed_notice(data, appointment_id, patient_id), ports)
            return Outcome.APPLIED
        case ev.ChargeCreated():
            if not data.payable_online or (data.expires_at is not None and data.expires_at <= now):
                return Outcome.IGNORED
            _tell(ev.unpaid_charge_notice(data), ports)
            return Outcome.APPLIED
        case ev.VisitCompleted():
            if not _advance(event, data, ports, now):
                return Outcome.STALE
            ports.follow_ups.save(ev.follow_up_plan(data))
            return Outcome.APPLIED
    return Outcome.IGNORED


def _advance(event: HisEvent, data: ev.EventData, ports: EventPorts, now: datetime,
             state: dict[str, Any] | None = None) -> bool:
    position = ev.resource_version(data)
    if position is None:
        return True
    return ports.versions.advance(position.resource, position.version, event.event_id, now, state)


def _tell(draft: NoticeDraft, ports: EventPorts) -> int:
    """Send the notice to every WeChat user bound to the patient; returns how many."""
    openids = ports.bindings.openids_of(draft.patient_id)
    url = ports.page_url(draft.page) if draft.page else ""
    for openid in openids:
        binding = next((b for b in ports.bindings.patients_of(openid) if b.patient_id == draft.patient_id), None)
        text = addressed(draft.text, binding)
        ports.send_notice(Notice(draft.kind, openid, text, dict(draft.fields), url), f"{draft.key}:{openid}")
    return len(openids)


def _report(event: HisEvent, report: ev.ReportFinalized, message: EventMessage, ports: EventPorts,
            now: datetime) -> Outcome:
    position = ev.resource_version(report)
    assert position is not None
    held = ports.versions.get(position.resource)
    if held is not None and not ev.supersedes(position.version, event.event_id, held.version, held.event_id):
        return Outcome.STALE
    delay = ev.release_delay_seconds(report, now)
    if delay:
        # Marked first, so the delayed copy never finds its own claim still "processing".
        ports.ledger.deferred(event.event_id, now)
        ports.queue.send(EventMessage(EventSource.DELAYED, message.received_at, message.envelope,
                                      message.delivery_attempt), delay)
        return Outcome.DELAYED
    if not _advance(event, report, ports, now):
        return Outcome.STALE
    _tell(ev.report_ready_notice(report), ports)
    return Outcome.APPLIED


def _appointment(event: HisEvent, change: ev.AppointmentStatusChanged, ports: EventPorts, now: datetime) -> Outcome:
    refund = ev.hospital_refund(change)
    if refund is not None:  # a debt whatever the order of events: keyed by out_refund_no, stored once
        ports.refunds.record(refund)
    state = {"status": change.new_status, "status_reason": change.status_reason, "patient_id": change.patient_id,
             "order_id": change.order_id, "changed_at": change.changed_at.isoformat()}
    if not _advance(event, change, ports, now, state):
        return Outcome.STALE
    if ports.appointment_changed is not None and change.order_id:  # only ours carry our order id
        ports.appointment_changed(change.appointment_id, change.new_status, change.status_reason, change.status_version)
    stop = None
    if change.status_reason == "schedule_stopped":
        schedule_id = ports.schedules.schedule_of(change.appointment_id)
        stop = ports.schedules.stop_of(schedule_id) if schedule_id else None
    draft = ev.appointment_notice(change, stop)
    if draft is not None:
        _tell(draft, ports)
    return Outcome.APPLIED


# ---- the events-pull poller ---------------------------------------------------------------------------
def request_poll(cursor: EventCursor, requests: HisRequestQueue, clock: Clock, new_id: IdFactory) -> HisRequest:
    """Ask the bridge for the events after our cursor (the last 24 h when there is none yet)."""
    now = clock()
    after = cursor.get()
    query = {"after": after} if after else {
        "since": (now - FIRST_POLL_LOOKBACK).astimezone(ev.SHANGHAI).isoformat(timespec="seconds")}
    context = {"purpose": POLL_PURPOSE, "after": after or ""}
    request = HisRequest(new_id(), "listEvents", now, query=query, context=context)
    requests.send(request)
    return request


def apply_poll_result(result: HisResult, ports: EventPorts, cursor: EventCursor, blobs: BlobStore,
                      clock: Clock) -> dict[str, int]:
    """Ingest every envelope of a pull, then move the cursor (only after all were ingested: a failure
    raises, the result is redelivered, and what was done is deduplicated). A malformed envelope can
    never succeed; it is logged and skipped so it cannot hold the cursor back."""
    if result.outcome != OUTCOME_OK:
        code = result.error.code if result.error else ""
        log.warning("events pull failed; the next poll retries", extra={"code": code, "status": result.status})
        return {}
    body = blobs.get_json(result.body_ref["bucket"], result.body_ref["key"]) if result.body_ref else result.body
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise EventFormatError("the events pull result has no items list")
    counts: dict[str, int] = {}
    received_at = result.fetched_at
    for envelope in body["items"]:
        try:
            outcome = ingest(EventMessage(EventSource.PULL, received_at, envelope), ports, clock).value
        except EventFormatError as exc:
            log.warning("malformed pulled event skipped", extra={"reason": str(exc)[:200]})
            outcome = "malformed"
        counts[outcome] = counts.get(outcome, 0) + 1
    next_cursor = body.get("next_cursor")
    if isinstance(next_cursor, str) and next_cursor:
        expected = result.context.get("after") or None
        if not cursor.advance(expected, next_cursor, clock()):
            log.info("events cursor already moved by another poll; kept")
    return counts
