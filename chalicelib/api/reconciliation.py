"""Daily reconciliation (对账): the schedule that asks for yesterday's HIS file, and the handler of
its results (``context.purpose`` = "reconciliation", routed by ``his_results``).

The schedule runs hourly from 03:00 to 09:00 Asia/Shanghai (the HIS has the file ready by 03:00,
the finance office wants discrepancies by 10:00). Lambda cron is UTC: 19:00-23:00 the day before and
00:00-01:00. Each run asks for yesterday's Shanghai date unless its report is already done.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Cron

from chalicelib import bootstrap
from chalicelib.api.his_results import result_handler
from chalicelib.domain.his_messages import HisResult
from chalicelib.domain.reconciliation import previous_day
from chalicelib.services import reconciliation

bp = Blueprint(__name__)

# 03:00-09:00 Asia/Shanghai, hourly, written in UTC.
SCHEDULE = Cron(0, "0-1,19-23", "*", "*", "?", "*")


@result_handler(reconciliation.PURPOSE)
def _apply_reconciliation(result: HisResult, c: bootstrap.Container) -> object:
    return reconciliation.apply_reconciliation_result(
        result, c.reconciliation_reports, c.payment_records, c.refund_obligations, c.blob_store, c.job_repository,
        c.clock, bill=c.wechatpay_bill, resume_paid=c.resume_paid,
    )


@bp.schedule(SCHEDULE)
def reconcile_yesterday(event: Any) -> dict[str, Any]:
    c = bootstrap.container()
    day = previous_day(c.clock())
    jobs = reconciliation.request_reconciliation(
        day, c.his_request_queue, c.reconciliation_reports, c.job_repository, c.clock, c.new_id
    )
    return {"date": day.isoformat(), "jobs": [j.job_id for j in jobs]}
