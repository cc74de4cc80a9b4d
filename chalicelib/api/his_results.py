"""Queue and schedule handlers of the HIS exchange: results from the bridge, periodic syncs."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap
from chalicelib.batch import process_sqs_records, records_of
from chalicelib.config import queue_names
from chalicelib.domain.his_messages import HisResult
from chalicelib.services.reference_sync import apply_his_result, request_reference_sync

bp = Blueprint(__name__)
_, RESULT_QUEUE, _ = queue_names()


def _apply(body: dict[str, Any]) -> None:
    c = bootstrap.container()
    apply_his_result(HisResult.from_json(body), c.reference_repository, c.blob_store, c.job_repository, c.clock)


@bp.on_sqs_message(queue=RESULT_QUEUE, batch_size=10)
def on_his_result(event: Any) -> dict[str, Any]:
    return process_sqs_records(records_of(event), _apply)


@bp.schedule(Rate(6, unit=Rate.HOURS))
def sync_reference_data(event: Any) -> dict[str, Any]:
    c = bootstrap.container()
    jobs = request_reference_sync(c.his_request_queue, c.reference_repository, c.job_repository, c.clock, c.new_id)
    return {"jobs": [j.job_id for j in jobs]}
