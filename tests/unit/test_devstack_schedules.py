"""The local stack runs the app's scheduled functions with an event Chalice accepts (as EventBridge sends it)."""

from __future__ import annotations

from app import app
from chalicelib import bootstrap
from devstack.pump import LambdaContext
from devstack.stack import scheduled_event
from tests.fakes_booking import BookingWorld


def test_every_scheduled_function_accepts_the_local_scheduled_event():
    scheduled = [name for name, handler in app.handler_map.items()
                 if type(handler).__name__ == "EventSourceHandler" and "on_" not in name[:3]]
    assert {"booking_timers", "poll_his_events", "reconcile_yesterday", "sync_reference_data"} <= set(scheduled)
    world = BookingWorld()
    bootstrap.override(booking_context=world.context())
    try:
        answer = app.handler_map["booking_timers"](scheduled_event("booking_timers"), LambdaContext("booking_timers"))
    finally:
        bootstrap.reset()
    assert answer == {"fired": {}}
