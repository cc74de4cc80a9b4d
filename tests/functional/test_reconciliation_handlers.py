"""The reconciliation schedule and its results through the app, as Lambda would invoke them."""

import hashlib
import json
from datetime import UTC, date, datetime

from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.api.reconciliation import SCHEDULE
from chalicelib.domain.reconciliation import DiscrepancyKind, OurRecord, RecordKind, RunState
from chalicelib.domain.refunds import BusinessType, RefundSource
from tests.fakes import FakeBlobStore, FakeHisRequestQueue, FakeJobRepository, FakeRefundObligations
from tests.fakes_reconciliation import FakePaymentRecords, FakeReconciliationReports

CSV = (b"record_type,business_type,his_trade_id,his_refund_id,caller_ref,refund_request_no,transaction_id,"
       b"out_trade_no,amount_fen,accounted_at,patient_id\n"
       b"PAYMENT,REGISTRATION,A1,,WXO1,,T1,WXO1,5000,2025-06-16T08:01:40+08:00,P000123456\n"
       b"REFUND,REGISTRATION,A2,HR2,WXO2,RFO2,T0,WXO2,2000,2025-06-16T23:10:00+08:00,P000987654\n")


class NoBillYet:
    """WeChat Pay's bill for the day is not out yet: the reconciliation judges by our records and the HIS file."""

    def __init__(self) -> None:
        self.asked: list[tuple[datetime, datetime]] = []

    def entries_between(self, start: datetime, end: datetime) -> None:
        self.asked.append((start, end))


def _wire(now):
    parts = {
        "his_request_queue": FakeHisRequestQueue(), "job_repository": FakeJobRepository(),
        "blob_store": FakeBlobStore({("blobs", "his-results/recon.csv"): CSV}),
        "reconciliation_reports": FakeReconciliationReports(), "refund_obligations": FakeRefundObligations(),
        "payment_records": FakePaymentRecords(OurRecord(
            RecordKind.PAYMENT, BusinessType.REGISTRATION, "WXO1", "T1", "WXO1", None, 5000,
            datetime.fromisoformat("2025-06-16T08:01:38+08:00"))),
        "clock": lambda: now, "wechatpay_bill": NoBillYet(),
    }
    bootstrap.override(**parts)
    return parts


def _scheduled(client):
    return client.lambda_.invoke("reconcile_yesterday", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))


def test_the_schedule_runs_hourly_from_three_to_nine_shanghai_time_in_utc():
    assert SCHEDULE.to_string() == "cron(0 0-1,19-23 * * ? *)"
    utc_hours = [0, 1, 19, 20, 21, 22, 23]
    assert sorted((h + 8) % 24 for h in utc_hours) == [3, 4, 5, 6, 7, 8, 9]


def test_schedule_requests_yesterday_then_results_make_the_report():
    parts = _wire(datetime(2025, 6, 16, 19, 0, tzinfo=UTC))  # 03:00 on the 17th in Shanghai
    with Client(app, stage_name="local") as client:
        out = _scheduled(client)
        assert out.payload["date"] == "2025-06-16" and len(out.payload["jobs"]) == 2
        summary_req, file_req = parts["his_request_queue"].sent
        assert summary_req.path_params == {"date": "2025-06-16"} and file_req.operation == "getReconciliationFile"

        summary = {"request_id": summary_req.request_id, "operation": summary_req.operation, "outcome": "ok",
                   "status": 200, "fetched_at": "2025-06-17T03:00:02+08:00", "context": summary_req.context,
                   "body": {"date": "2025-06-16", "status": "ready", "file_sha256": hashlib.sha256(CSV).hexdigest(),
                            "record_count": 2}}
        file = {"request_id": file_req.request_id, "operation": file_req.operation, "outcome": "ok", "status": 200,
                "fetched_at": "2025-06-17T03:00:03+08:00", "context": file_req.context,
                "body_ref": {"bucket": "blobs", "key": "his-results/recon.csv", "content_type": "text/csv"}}
        event = client.events.generate_sqs_event(message_bodies=[json.dumps(summary), json.dumps(file)],
                                                 queue_name="yiwei-his-results")
        out = client.lambda_.invoke("on_his_result", event)
        assert out.payload["batchItemFailures"] == []

        report = parts["reconciliation_reports"].get(date(2025, 6, 16))
        assert report.state is RunState.DONE and report.result.matched == 1
        assert parts["wechatpay_bill"].asked  # the WeChat Pay bill was asked for (not out yet: judged without it)
        (owed,) = report.result.open
        assert owed.kind is DiscrepancyKind.REFUND_NOT_EXECUTED and report.compensated == ("RFO2",)
        assert parts["refund_obligations"].get("RFO2").source is RefundSource.RECONCILIATION

        parts["his_request_queue"].sent.clear()
        out = _scheduled(client)  # the next hour: the day is done, nothing is asked
        assert out.payload["jobs"] == [] and parts["his_request_queue"].sent == []


def test_not_ready_is_no_failure_and_the_next_hour_asks_again():
    parts = _wire(datetime(2025, 6, 16, 19, 0, tzinfo=UTC))
    with Client(app, stage_name="local") as client:
        _scheduled(client)
        file_req = parts["his_request_queue"].sent[1]
        not_ready = {"request_id": file_req.request_id, "operation": file_req.operation, "outcome": "error",
                     "status": 409, "fetched_at": "2025-06-17T03:00:03+08:00", "context": file_req.context,
                     "error": {"code": "RECONCILIATION_NOT_READY", "message": "对账文件尚未生成", "retryable": True}}
        out = client.lambda_.invoke("on_his_result", client.events.generate_sqs_event(
            message_bodies=[json.dumps(not_ready)], queue_name="yiwei-his-results"))
        assert out.payload["batchItemFailures"] == []
        assert parts["reconciliation_reports"].get(date(2025, 6, 16)).state is RunState.WAITING
        assert len(_scheduled(client).payload["jobs"]) == 2
