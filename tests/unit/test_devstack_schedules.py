"""The local stack runs the app's scheduled functions with an event Chalice accepts (as EventBridge sends it)."""

from __future__ import annotations

from chalice.app import CloudWatchEvent

from app import app
from chalicelib import bootstrap
from devstack.pump import LambdaContext
from devstack.stack import scheduled_event
from tests.fakes_booking import BookingWorld


def test_every_scheduled_function_accepts_the_local_scheduled_event():
    scheduled = [s.name for s in app.event_sources if type(s).__name__ == "ScheduledEventConfig"]
    assert {"booking_timers", "payments_sweep", "poll_his_events", "reconcile_yesterday", "sync_reference_data"} <= set(
        scheduled)
    for name in scheduled:
        parsed = CloudWatchEvent(scheduled_event(name), LambdaContext(name))
        assert parsed.detail_type == "Scheduled Event" and parsed.source == "aws.events"


def test_a_scheduled_function_runs_through_its_lambda_entry_point():
    world = BookingWorld()
    bootstrap.override(booking_context=world.context())
    try:
        answer = app.handler_map["booking_timers"](scheduled_event("booking_timers"), LambdaContext("booking_timers"))
    finally:
        bootstrap.reset()
    assert answer == {"fired": {}}
