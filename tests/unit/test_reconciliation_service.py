"""Requesting a day's reconciliation and applying its results: waiting, verifying, reporting, compensating."""

import hashlib
from datetime import UTC, date, datetime, timedelta

from chalicelib.domain.his_messages import HisResult
from chalicelib.domain.jobs import JobState
from chalicelib.domain.reconciliation import BillEntry, DiscrepancyKind, OurRecord, RecordKind, RunState
from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource
from chalicelib.services.reconciliation import apply_reconciliation_result, request_reconciliation
from tests.fakes import FakeBlobStore, FakeHisRequestQueue, FakeJobRepository, FakeRefundObligations
from tests.fakes_reconciliation import FakePaymentRecords, FakeReconciliationReports, FakeWeChatPayBill

DAY = date(2025, 6, 16)
NOW = datetime(2025, 6, 16, 19, 5, tzinfo=UTC)  # 03:05 on the 17th in Shanghai
HEADER = ("record_type,business_type,his_trade_id,his_refund_id,caller_ref,refund_request_no,transaction_id,"
          "out_trade_no,amount_fen,accounted_at,patient_id")
FILE = (HEADER + "\n"
        "PAYMENT,REGISTRATION,A1,,WXO1,,T-PAID,WXO1,5000,2025-06-16T08:01:40+08:00,P000123456\n"
        "REFUND,REGISTRATION,A2,HR9,WXO2,RFO-OWED,T-OLD,WXO2,2000,2025-06-16T09:15:02+08:00,P000987654\n"
        "REFUND,OUTPATIENT,ST3,HR-HOSP,STL3,,T-OLD3,STL3,300,2025-06-16T10:00:00+08:00,P000555555\n"
        "PAYMENT,OUTPATIENT,ST4,,STL4,,T-DIFF,STL4,8650,2025-06-16T14:22:31+08:00,P000123456\n"
        "this line is broken\n").encode()
SHA = hashlib.sha256(FILE).hexdigest()


def _ids():
    n = iter(range(1000))
    return lambda: f"req{next(n)}"


class World:
    def __init__(self, file=FILE, records=None, bill=None, resume_paid=None):
        self.queue, self.jobs = FakeHisRequestQueue(), FakeJobRepository()
        self.reports, self.obligations = FakeReconciliationReports(), FakeRefundObligations()
        self.blobs = FakeBlobStore({("blobs", "recon/2025-06-16.csv"): file})
        self.records = FakePaymentRecords(*(records if records is not None else [
            OurRecord(RecordKind.PAYMENT, BusinessType.REGISTRATION, "WXO1", "T-PAID", "WXO1", None, 5000,
                      datetime.fromisoformat("2025-06-16T08:01:38+08:00")),
            OurRecord(RecordKind.PAYMENT, BusinessType.OUTPATIENT, "STL4", "T-DIFF", "STL4", None, 8600,
                      datetime.fromisoformat("2025-06-16T14:22:30+08:00")),
        ]))
        self.bill = bill
        self.resume_paid = resume_paid
        self.now = NOW

    def request(self, day=DAY, force=False):
        return request_reconciliation(day, self.queue, self.reports, self.jobs, lambda: self.now, _ids(), force)

    def apply(self, data):
        return apply_reconciliation_result(HisResult.from_json(data), self.reports, self.records, self.obligations,
                                           self.blobs, self.jobs, lambda: self.now, self.bill, self.resume_paid)

    def sent(self, part):
        return next(r for r in reversed(self.queue.sent) if r.context["part"] == part)

    def summary(self, status="ready", sha=SHA, day=DAY):
        req = self.sent("summary")
        return self.apply({"request_id": req.request_id, "operation": req.operation, "outcome": "ok", "status": 200,
                           "fetched_at": self.now.isoformat(), "context": req.context,
                           "body": {"date": day.isoformat(), "status": status, "file_sha256": sha,
                                    "payment_count": 2, "payment_total_fen": 13650}})

    def file(self, error=None):
        req = self.sent("file")
        data = {"request_id": req.request_id, "operation": req.operation, "fetched_at": self.now.isoformat(),
                "context": req.context}
        if error:
            data.update(outcome="error", status=409, error={"code": error, "message": "x", "retryable": True})
        else:
            data.update(outcome="ok", status=200, body_ref={"bucket": "blobs", "key": "recon/2025-06-16.csv",
                                                            "content_type": "text/csv"})
        return self.apply(data)


def test_request_sends_summary_and_file_for_the_date_and_records_jobs():
    w = World()
    jobs = w.request()
    assert [(r.operation, r.path_params, r.context["purpose"]) for r in w.queue.sent] == [
        ("getReconciliationSummary", {"date": "2025-06-16"}, "reconciliation"),
        ("getReconciliationFile", {"date": "2025-06-16"}, "reconciliation")]
    assert [j.subject for j in jobs] == ["2025-06-16 summary", "2025-06-16 file"]
    assert all(w.jobs.get(j.job_id).state is JobState.REQUESTED for j in jobs)
    assert w.reports.get(DAY).state is RunState.WAITING


def test_not_ready_keeps_the_run_waiting_and_the_schedule_asks_again():
    w = World()
    w.request()
    report = w.file(error="RECONCILIATION_NOT_READY")
    assert report.state is RunState.WAITING and "not generated" in report.detail
    report = w.summary(status="generating", sha=None)
    assert report.state is RunState.WAITING and w.obligations.items == {}
    w.queue.sent.clear()
    assert len(w.request()) == 2  # not done: asked again


def test_both_results_in_either_order_give_the_report_and_compensate_the_owed_refund():
    for order in (("summary", "file"), ("file", "summary")):
        w = World()
        w.request()
        first = getattr(w, order[0])()
        assert first.state is RunState.WAITING and "waiting for" in first.detail
        report = getattr(w, order[1])()
        assert report.state is RunState.DONE and report.verified and report.file_sha256 == SHA
        kinds = {(d.kind, d.reference) for d in report.result.discrepancies}
        assert kinds == {(DiscrepancyKind.REFUND_NOT_EXECUTED, "RFO-OWED"),
                         (DiscrepancyKind.REFUND_NOT_EXECUTED, "HR-HOSP"),
                         (DiscrepancyKind.AMOUNT_MISMATCH, "T-DIFF")}
        assert [p.line_no for p in report.problems] == [6]
        assert set(report.compensated) == {"RFO-OWED", "HR-HOSP"}
        owed = w.obligations.get("RFO-OWED")
        assert (owed.source, owed.amount_fen, owed.business_type, owed.his_trade_id, owed.caller_ref,
                owed.patient_id, owed.his_refund_id) == (RefundSource.RECONCILIATION, 2000, BusinessType.REGISTRATION,
                                                         "A2", "WXO2", "P000987654", "HR9")
        hospital = w.obligations.get("HR-HOSP")
        assert hospital.caller_ref == "STL3" and hospital.business_type is BusinessType.OUTPATIENT
        assert all(j.state is JobState.APPLIED for j in w.jobs.jobs.values())
        assert len(w.request()) == 0  # done: the schedule leaves it alone


def test_reapplying_the_same_file_changes_nothing_and_compensates_nothing_twice():
    w = World()
    w.request()
    w.summary()
    first = w.file()
    saves, obligations = w.reports.saves, dict(w.obligations.items)
    w.now = NOW + timedelta(hours=1)
    w.request(force=True)
    assert w.summary() == first and w.file() == first
    assert w.reports.saves == saves and w.obligations.items == obligations


def test_an_obligation_already_known_is_not_recorded_again():
    w = World()
    known = RefundObligation("RFO-OWED", BusinessType.REGISTRATION, "A2", "WXO2", 2000, "P000987654",
                             RefundSource.CALLER, "cancelled", NOW)
    w.obligations.record(known)
    w.request()
    w.summary()
    report = w.file()
    assert report.compensated == ("HR-HOSP",)
    assert w.obligations.get("RFO-OWED") is known


def test_a_file_that_does_not_match_the_summary_fails_and_compensates_nothing():
    w = World()
    w.request()
    w.summary(sha="0" * 64)
    report = w.file()
    assert report.state is RunState.FAILED and "file_sha256" in report.detail
    assert w.obligations.items == {} and report.result is None
    assert len(w.request()) == 2


def test_without_a_file_sha256_the_report_is_made_but_nothing_is_compensated():
    w = World()
    w.request()
    w.summary(sha=None)
    report = w.file()
    assert report.state is RunState.DONE and not report.verified and report.compensated == ()
    assert "unverified" in report.detail and w.obligations.items == {}


def test_a_summary_for_another_date_or_an_unreadable_file_is_refused():
    w = World(file=b"\xff\xfe not csv")
    w.request()
    assert w.summary(day=DAY - timedelta(days=1)).state is RunState.WAITING
    assert w.jobs.get(w.sent("summary").request_id).state is JobState.FAILED
    w.summary(sha=hashlib.sha256(b"\xff\xfe not csv").hexdigest())
    report = w.file()
    assert report.state is RunState.FAILED and "UTF-8" in report.detail


def test_results_for_others_or_without_a_date_are_not_ours():
    w = World()
    base = {"request_id": "x", "operation": "y", "outcome": "ok", "fetched_at": NOW.isoformat()}
    assert w.apply({**base, "context": {"purpose": "reference_sync"}}) is None
    assert w.apply({**base, "context": {"purpose": "reconciliation", "date": "yesterday", "part": "file"}}) is None
    assert w.apply({**base, "context": {"purpose": "reconciliation", "date": "2025-06-16", "part": "x"}}) is None


def test_a_late_confirmation_flagged_on_one_day_is_closed_by_the_next_days_file():
    late = OurRecord(RecordKind.PAYMENT, BusinessType.REGISTRATION, "WXO7", "T-LATE", "WXO7", None, 5000,
                     datetime.fromisoformat("2025-06-16T23:20:00+08:00"))
    w = World(records=[late])
    next_file = (HEADER + "\nPAYMENT,REGISTRATION,A7,,WXO7,,T-LATE,WXO7,5000,2025-06-17T00:35:00+08:00,P1\n").encode()
    w.blobs.blobs[("blobs", "recon/2025-06-17.csv")] = next_file
    w.request()
    w.summary(sha=hashlib.sha256(FILE).hexdigest())
    day1 = w.file()
    flagged = next(d for d in day1.result.discrepancies if d.reference == "T-LATE")
    assert flagged.kind is DiscrepancyKind.PAID_NOT_IN_HIS and flagged.awaiting_next_day

    w.now = NOW + timedelta(days=1)
    w.request(DAY + timedelta(days=1))
    summary_req, file_req = w.sent("summary"), w.sent("file")
    w.apply({"request_id": summary_req.request_id, "operation": "s", "outcome": "ok", "fetched_at": w.now.isoformat(),
             "context": summary_req.context, "body": {"date": "2025-06-17", "status": "ready",
                                                      "file_sha256": hashlib.sha256(next_file).hexdigest()}})
    day2 = w.apply({"request_id": file_req.request_id, "operation": "f", "outcome": "ok",
                    "fetched_at": w.now.isoformat(), "context": file_req.context,
                    "body_ref": {"bucket": "blobs", "key": "recon/2025-06-17.csv"}})
    assert day2.state is RunState.DONE and day2.result.open == () and day2.result.matched_across_days == 1
    closed = next(d for d in w.reports.get(DAY).result.discrepancies if d.reference == "T-LATE")
    assert closed.resolved and not closed.awaiting_next_day


def test_the_wechatpay_bill_when_wired_is_the_judge_of_what_was_paid():
    at = datetime.fromisoformat("2025-06-16T08:01:38+08:00")
    bill = FakeWeChatPayBill([BillEntry(RecordKind.PAYMENT, "T-PAID", "WXO1", None, 5000, at),
                              BillEntry(RecordKind.PAYMENT, "T-DIFF", "STL4", None, 8650, at),
                              BillEntry(RecordKind.REFUND, "T-OLD", "WXO2", "RFO-OWED", 2000, at)])
    w = World(bill=bill)
    w.request()
    w.summary()
    report = w.file()
    got = {(d.kind, d.reference) for d in report.result.discrepancies}
    assert (DiscrepancyKind.REFUND_NOT_EXECUTED, "RFO-OWED") not in got  # WeChat Pay executed it
    assert (DiscrepancyKind.AMOUNT_MISMATCH, "T-DIFF") in got  # ours says 8600
    assert (DiscrepancyKind.MISSING_IN_OUR_RECORDS, "RFO-OWED") in got
    assert report.compensated == ("HR-HOSP",)
    assert report.result.bill.payment_total_fen == 13650


def test_a_payment_the_his_never_accounted_is_resumed_by_its_owner_once_per_file():
    late = OurRecord(RecordKind.PAYMENT, BusinessType.REGISTRATION, "WXO7", "T-LATE", "WXO7", None, 5000,
                     datetime.fromisoformat("2025-06-16T11:20:00+08:00"))
    resumed: list[tuple[str, BusinessType]] = []
    w = World(records=[late], resume_paid=lambda ref, kind: resumed.append((ref, kind)) is None)
    w.request()
    w.summary()
    report = w.file()
    assert (DiscrepancyKind.PAID_NOT_IN_HIS, "T-LATE") in {(d.kind, d.reference) for d in report.result.open}
    assert resumed == [("WXO7", BusinessType.REGISTRATION)] and "resumed:WXO7" in report.compensated
    w.file()  # the same file again
    assert resumed == [("WXO7", BusinessType.REGISTRATION)]
