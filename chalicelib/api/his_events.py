"""HIS events: the events queue (pushes from the bridge's receiver, our delayed copies), the events-pull
poller's schedule, and the handler of its results."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.api.his_results import result_handler
from chalicelib.batch import process_sqs_records, records_of
from chalicelib.config import queue_names
from chalicelib.domain.his_events import EventMessage
from chalicelib.domain.his_messages import HisResult
from chalicelib.services import his_events

bp = Blueprint(__name__)
EVENT_QUEUE = queue_names().his_events


def _ingest(body: dict[str, Any]) -> None:
    c = bootstrap.container()
    his_events.ingest(EventMessage.from_json(body), c.his_event_ports, c.clock)


@bp.on_sqs_message(queue=EVENT_QUEUE, batch_size=10)
def on_his_event(event: Any) -> dict[str, Any]:
    return process_sqs_records(records_of(event), _ingest)


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def poll_his_events(event: Any) -> dict[str, Any]:
    c = bootstrap.container()
    request = his_events.request_poll(c.event_cursor, c.his_request_queue, c.clock, c.new_id)
    return {"request_id": request.request_id}


@result_handler(his_events.POLL_PURPOSE)
def _apply_poll(result: HisResult, c: bootstrap.Container) -> object:
    return his_events.apply_poll_result(result, c.his_event_ports, c.event_cursor, c.blob_store, c.clock)
