"""Queue and schedule handlers of the HIS exchange: results from the bridge, periodic syncs.

A result comes back with the ``context`` its request was sent with; ``context["purpose"]`` picks the
function that applies it. Modules register theirs with ``@result_handler("<purpose>")`` (a registry
keyed by purpose, as the WeChat handlers are keyed by message type); a result nobody claims is logged
and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.batch import process_sqs_records, records_of
from chalicelib.config import queue_names
from chalicelib.domain.his_messages import HisResult
from chalicelib.observability import get_logger
from chalicelib.services import reference_sync

bp = Blueprint(__name__)
RESULT_QUEUE = queue_names().his_results
log = get_logger("his_results")

ResultHandler = Callable[[HisResult, "bootstrap.Container"], object]
RESULT_HANDLERS: dict[str, ResultHandler] = {}


def result_handler(purpose: str) -> Callable[[ResultHandler], ResultHandler]:
    """Register the function that applies results whose request carried ``context.purpose``."""

    def register(fn: ResultHandler) -> ResultHandler:
        if purpose in RESULT_HANDLERS:
            raise ValueError(f"a result handler for {purpose!r} is already registered")
        RESULT_HANDLERS[purpose] = fn
        return fn

    return register


@result_handler(reference_sync.PURPOSE)
def _apply_reference(result: HisResult, c: bootstrap.Container) -> object:
    return reference_sync.apply_his_result(result, c.reference_repository, c.blob_store, c.job_repository, c.clock)


def _apply(body: dict[str, Any]) -> None:
    result = HisResult.from_json(body)
    purpose = result.context.get("purpose", "")
    handler = RESULT_HANDLERS.get(purpose)
    if handler is None:
        log.warning("result with no handler dropped", extra={"purpose": purpose, "request_id": result.request_id})
        return
    handler(result, bootstrap.container())


@bp.on_sqs_message(queue=RESULT_QUEUE, batch_size=10)
def on_his_result(event: Any) -> dict[str, Any]:
    return process_sqs_records(records_of(event), _apply)


@bp.schedule(Rate(6, unit=Rate.HOURS))
def sync_reference_data(event: Any) -> dict[str, Any]:
    c = bootstrap.container()
    jobs = reference_sync.request_reference_sync(
        c.his_request_queue, c.reference_repository, c.job_repository, c.clock, c.new_id
    )
    return {"jobs": [j.job_id for j in jobs]}
