"""Payment records and reconciliation reports on the ``his`` table provisioned from infra/resources.yaml."""

from datetime import date, datetime, timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.domain.reconciliation import (
    Discrepancy,
    DiscrepancyKind,
    OurRecord,
    ReconciliationReport,
    RecordKind,
    RunState,
    day_start,
    parse_summary,
    reconcile,
)
from chalicelib.domain.refunds import BusinessType

pytestmark = pytest.mark.integration
DAY = date(2025, 6, 16)


def _pay(txid, at, amount=5000):
    return OurRecord(RecordKind.PAYMENT, BusinessType.REGISTRATION, "WXO1", txid, "WXO1", None, amount,
                     datetime.fromisoformat(at), "P000123456")


def test_payment_records_are_idempotent_and_read_by_shanghai_days(app_settings):
    records = bootstrap.container().payment_records
    late = _pay("T-LATE", "2025-06-16T23:59:59+08:00")
    utc_night = _pay("T-UTC", "2025-06-15T16:30:00+00:00")  # 00:30 on the 16th in Shanghai
    refund = OurRecord(RecordKind.REFUND, BusinessType.OUTPATIENT, "STL1", "T9", "STL1", "RFO1", 300,
                       datetime.fromisoformat("2025-06-17T00:20:00+08:00"))
    assert all(records.record(r) for r in (late, utc_night, refund))
    assert not records.record(late)
    assert not records.record(_pay("T-LATE", "2025-06-17T08:00:00+08:00", amount=1))  # same key: first one wins

    assert records.between(day_start(DAY), day_start(DAY + timedelta(days=1))) == [utc_night, late]
    assert records.between(day_start(DAY - timedelta(days=1)), day_start(DAY + timedelta(days=2))) == [
        utc_night, late, refund]
    assert records.between(day_start(DAY + timedelta(days=1)), day_start(DAY + timedelta(days=2))) == [refund]
    assert records.between(day_start(DAY), day_start(DAY)) == []


def test_reports_inputs_and_listing(app_settings):
    reports = bootstrap.container().reconciliation_reports
    now = datetime.fromisoformat("2025-06-17T03:00:00+08:00")
    assert reports.get(DAY) is None and reports.inputs(DAY) == (None, None)
    summary = parse_summary({"date": "2025-06-16", "status": "ready", "file_sha256": "a" * 64, "payment_count": 1})
    reports.note_summary(summary, now)
    reports.note_file(DAY, {"bucket": "b", "key": "k", "content_type": "text/csv"}, now)
    assert reports.inputs(DAY) == (summary, {"bucket": "b", "key": "k", "content_type": "text/csv"})

    result = reconcile(DAY, [], [_pay("T1", "2025-06-16T10:00:00+08:00")])
    report = ReconciliationReport(DAY, RunState.DONE, now, "", summary, "a" * 64, True, result, (), ())
    reports.save(report)
    assert reports.get(DAY) == report
    reports.save(ReconciliationReport(DAY - timedelta(days=1), RunState.WAITING, now, "waiting for the file"))
    assert [r.day for r in reports.list()] == [DAY, DAY - timedelta(days=1)]


def test_a_large_report_is_stored_in_parts_and_shrinks_again(app_settings):
    reports = bootstrap.container().reconciliation_reports
    now = datetime.fromisoformat("2025-06-17T03:00:00+08:00")
    many = tuple(Discrepancy(DiscrepancyKind.PAID_NOT_IN_HIS, f"PAYMENT#4200000000{n:018d}", "PAYMENT",
                             "REGISTRATION", now, our_amount_fen=n + 1, caller_ref=f"WXO{n:020d}",
                             patient_id=f"P{n:09d}") for n in range(2500))
    result = reconcile(DAY, [], [])
    big = ReconciliationReport(DAY, RunState.DONE, now, result=result.__class__(
        DAY, result.his, result.ours, None, 0, 0, many, frozenset(d.key for d in many)))
    assert len(str(big.to_dict())) > 400_000  # more than one DynamoDB item could hold
    reports.save(big)
    assert reports.get(DAY) == big
    small = ReconciliationReport(DAY, RunState.DONE, now + timedelta(hours=1), "again", result=result)
    reports.save(small)
    assert reports.get(DAY) == small


def test_reconcile_show_lists_the_discrepancies_for_staff(app_settings, moto_endpoint, monkeypatch, capsys):
    from chalicelib.cli import main
    from chalicelib.domain.reconciliation import parse_his_file

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("TABLE_PREFIX", app_settings.table_prefix)
    now = datetime.fromisoformat("2025-06-17T03:00:00+08:00")
    his = parse_his_file(
        b"record_type,business_type,his_trade_id,his_refund_id,caller_ref,refund_request_no,transaction_id,"
        b"out_trade_no,amount_fen,accounted_at,patient_id\n"
        b"REFUND,REGISTRATION,A2,HR2,WXO2,RFO2,T0,WXO2,2000,2025-06-16T23:10:00+08:00,P000987654\n"
        b"PAYMENT,OUTPATIENT,ST4,,STL4,,T4,STL4,8650,2025-06-16T14:22:31+08:00,P000123456\nbroken\n")
    result = reconcile(DAY, his.records, [_pay("T4", "2025-06-16T14:22:30+08:00", amount=8600)])
    bootstrap.container().reconciliation_reports.save(
        ReconciliationReport(DAY, RunState.DONE, now, "", None, his.sha256, True, result, his.problems, ("RFO2",)))

    assert main(["reconcile", "show", "--date", "2025-06-16"]) == 0
    out = capsys.readouterr().out
    assert "refund_not_executed" in out and "RFO2" in out and "[已自动登记退款]" in out
    assert "amount_mismatch" in out and "¥86.50" in out and "¥86.00" in out and "财务科" in out
    assert "line 4:" in out and "P000987654" in out
    assert main(["reconcile", "show", "--date", "2025-06-15"]) == 1


def test_through_the_bridge_and_the_his_simulator(aws, app_settings, moto_endpoint):
    """schedule → SQS → bridge (signed HTTP, CSV parked in S3, digest checked) → SQS → on_his_result → report."""
    import boto3
    import requests

    from app import app
    from chalicelib.services.reconciliation import request_reconciliation
    from devstack.his_simulator.server import start_in_thread
    from devstack.pump import SqsPump, Subscription
    from his_bridge.client import HttpHisClient
    from his_bridge.config import load_settings as bridge_settings
    from his_bridge.handler import Bridge, process_batch
    from tests.integration.conftest import REGION, free_port

    server, _thread, his = start_in_thread("127.0.0.1", free_port())
    try:
        sim_admin = his.removesuffix("/v1") + "/_sim"
        sim_now = server.simulator.now()
        day = sim_now.astimezone(day_start(DAY).tzinfo).date()
        at = day_start(day) + timedelta(hours=10)
        line = {"record_type": "PAYMENT", "business_type": "REGISTRATION", "his_trade_id": "A9", "caller_ref": "WXO9",
                "transaction_id": "4200000000000000000009", "out_trade_no": "WXO9", "amount_fen": 5000,
                "patient_id": "P000000009", "accounted_at": at.isoformat()}
        refund = {"record_type": "REFUND", "business_type": "OUTPATIENT", "his_trade_id": "ST8", "caller_ref": "STL8",
                  "transaction_id": "4200000000000000000008", "amount_fen": 300, "patient_id": "P000000008",
                  "accounted_at": (at + timedelta(hours=1)).isoformat()}
        for body in (line, refund):
            requests.post(f"{sim_admin}/ledger", json=body, timeout=5).raise_for_status()
        requests.post(f"{sim_admin}/reconciliation/{day.isoformat()}/ready", timeout=5).raise_for_status()

        c = bootstrap.container()
        c.payment_records.record(OurRecord(RecordKind.PAYMENT, BusinessType.REGISTRATION, "WXO9",
                                           "4200000000000000000009", "WXO9", None, 5000, at, "P000000009"))
        sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
        s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
        secret = "his-test-secret-NOT-FOR-PRODUCTION-0001"
        settings = bridge_settings({
            "HIS_BASE_URL": his, "HIS_APP_ID": "wxoa-cloud-test", "HIS_APP_SECRET": secret,
            "HIS_RESULT_QUEUE": app_settings.his_result_queue, "BLOB_BUCKET": aws.bucket})
        bridge = Bridge(settings, HttpHisClient(his, settings.his_app_id, secret), sqs, s3)
        pump = SqsPump(sqs, REGION, [
            Subscription("bridge", aws.queues[app_settings.his_request_queue],
                         lambda event, _ctx: process_batch(event["Records"], bridge)),
            Subscription("on_his_result", aws.queues[app_settings.his_result_queue], app.handler_map["on_his_result"]),
        ], wait_seconds=0)
        request_reconciliation(day, c.his_request_queue, c.reconciliation_reports, c.job_repository, c.clock, c.new_id)
        pump.drain(timeout=60)
    finally:
        server.shutdown()

    report = c.reconciliation_reports.get(day)
    assert report.state is RunState.DONE and report.verified, report.detail
    assert report.result.matched == 1 and report.result.his.refund_total_fen == 300
    (owed,) = report.result.open
    assert owed.kind is DiscrepancyKind.REFUND_NOT_EXECUTED and report.compensated == (owed.reference,)
    obligation = c.refund_obligations.get(owed.reference)
    assert obligation is not None and obligation.amount_fen == 300 and obligation.his_trade_id == "ST8"
