"""The reconciliation domain: the HIS file, the matcher's discrepancy kinds, the day boundary."""

import hashlib
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.reconciliation import (
    HANDLING,
    BillEntry,
    DiscrepancyKind,
    OurRecord,
    Owner,
    ReconciliationFileError,
    ReconciliationReport,
    RecordKind,
    RunState,
    day_start,
    parse_his_file,
    parse_summary,
    previous_day,
    reconcile,
    resolve_with_next_day,
    sha256_matches,
    shanghai_day,
)
from chalicelib.domain.refunds import BusinessType

HEADER = ("record_type,business_type,his_trade_id,his_refund_id,caller_ref,refund_request_no,transaction_id,"
          "out_trade_no,amount_fen,accounted_at,patient_id")
# The spec's sample (README §7.8.3), verbatim.
SPEC_SAMPLE = (HEADER + "\n"
    "PAYMENT,REGISTRATION,A202506230158,,WXO20250616080005123,,4200000000202506161234567890,WXO20250616080005123,"
    "5000,2025-06-16T08:01:40+08:00,P000123456\n"
    "REFUND,REGISTRATION,A202506170266,HR202506160012,WXO20250610080233001,RFO20250616091502118,"
    "4200000000202506105566778899,WXO20250610080233001,2000,2025-06-16T09:15:02+08:00,P000987654\n"
    "PAYMENT,OUTPATIENT,ST202506160031,,STL20250616142210004,,4200000000202506161122334455,STL20250616142210004,"
    "8650,2025-06-16T14:22:31+08:00,P000123456\n").encode()
DAY = date(2025, 6, 16)


def _at(text):
    return datetime.fromisoformat(text)


def _pay(txid, amount, at, ref="WXO1", business=BusinessType.REGISTRATION):
    return OurRecord(RecordKind.PAYMENT, business, ref, txid, ref, None, amount, _at(at))


def _refund(out_refund_no, amount, at, ref="WXO1"):
    return OurRecord(RecordKind.REFUND, BusinessType.REGISTRATION, ref, "4200", ref, out_refund_no, amount, _at(at))


SAMPLE_OURS = [
    _pay("4200000000202506161234567890", 5000, "2025-06-16T08:01:38+08:00", "WXO20250616080005123"),
    _refund("RFO20250616091502118", 2000, "2025-06-16T09:15:10+08:00", "WXO20250610080233001"),
    _pay("4200000000202506161122334455", 8650, "2025-06-16T14:22:30+08:00", "STL20250616142210004",
         BusinessType.OUTPATIENT),
]


def _line(record_type="PAYMENT", txid="4200000000000000000000000001", amount="100",
          at="2025-06-16T10:00:00+08:00", refund_request_no="", his_refund_id="", business="REGISTRATION"):
    return (f"{record_type},{business},A1,{his_refund_id},WXO1,{refund_request_no},{txid},WXO1,{amount},{at},"
            f"P000000001")


def _file(*lines, header=HEADER):
    return "\n".join([header, *lines]).encode() + b"\n"


def _kinds(result):
    return sorted(d.kind for d in result.discrepancies)


# ---- the file ------------------------------------------------------------------------------------
def test_the_spec_sample_parses_into_integer_fen_and_shanghai_times():
    parsed = parse_his_file(SPEC_SAMPLE)
    assert parsed.problems == ()
    assert [r.record_type for r in parsed.records] == ["PAYMENT", "REFUND", "PAYMENT"]
    assert [r.amount_fen for r in parsed.records] == [5000, 2000, 8650]
    assert all(type(r.amount_fen) is int for r in parsed.records)
    refund = parsed.records[1]
    assert refund.out_refund_no == "RFO20250616091502118" and refund.his_refund_id == "HR202506160012"
    assert refund.accounted_at.utcoffset() == timedelta(hours=8)
    assert {shanghai_day(r.accounted_at) for r in parsed.records} == {DAY}
    assert parsed.sha256 == hashlib.sha256(SPEC_SAMPLE).hexdigest()
    assert parsed.records[0].caller_ref == "WXO20250616080005123" and parsed.records[0].his_refund_id is None


def test_the_spec_sample_against_matching_records_has_no_discrepancy():
    result = reconcile(DAY, parse_his_file(SPEC_SAMPLE).records, SAMPLE_OURS)
    assert result.discrepancies == ()
    assert result.matched == 3 and result.matched_across_days == 0
    assert (result.his.payment_count, result.his.payment_total_fen, result.his.refund_total_fen) == (2, 13650, 2000)
    assert result.his.net_total_fen == 11650 and result.ours == result.his
    assert "PAYMENT#4200000000202506161234567890" in result.his_keys
    assert {"REFUND#RFO20250616091502118", "REFUND#HR202506160012"} <= result.his_keys


def test_header_driven_unknown_columns_reordered_and_missing_optional_columns():
    header = "accounted_at,new_column,amount_fen,record_type,transaction_id,refund_request_no,his_refund_id"
    data = _file("2025-06-16T10:00:00+08:00,whatever,100,PAYMENT,T1,,", header=header)
    (record,) = parse_his_file(data).records
    assert (record.transaction_id, record.amount_fen, record.patient_id, record.business_type) == ("T1", 100, None, "")


def test_a_header_without_the_matching_columns_is_fatal_not_a_line_problem():
    with pytest.raises(ReconciliationFileError, match="amount_fen"):
        parse_his_file(b"record_type,transaction_id,refund_request_no,his_refund_id,accounted_at\n")
    with pytest.raises(ReconciliationFileError, match="empty"):
        parse_his_file(b"")
    with pytest.raises(ReconciliationFileError, match="UTF-8"):
        parse_his_file(HEADER.encode() + b"\n\xff\xfe")


@pytest.mark.parametrize(("line", "reason"), [
    (_line(amount="50.00"), "whole number"),
    (_line(amount="-100"), "whole number"),
    (_line(amount="0"), "not positive"),
    (_line(amount="1e3"), "whole number"),
    (_line(at="2025-06-16T02:00:00Z"), "+08:00"),
    (_line(at="2025-06-16T10:00:00+09:00"), "+08:00"),
    (_line(at="2025-06-16"), "+08:00"),
    (_line(txid=""), "without transaction_id"),
    (_line(record_type="REFUND"), "without refund_request_no"),
    (_line(record_type=""), "record_type is empty"),
    ("PAYMENT,REGISTRATION,A1", "3 fields"),
])
def test_a_malformed_line_is_reported_and_the_others_are_read(line, reason):
    parsed = parse_his_file(_file(_line(txid="GOOD1"), line, _line(txid="GOOD2")))
    assert [r.transaction_id for r in parsed.records] == ["GOOD1", "GOOD2"]
    (problem,) = parsed.problems
    assert problem.line_no == 3 and reason in problem.reason
    assert "P000000001" not in problem.reason  # never quotes the line


def test_fuzzed_lines_never_break_the_file_and_amounts_are_never_floats():
    rng = random.Random(7316)
    alphabet = 'PAYMENTREFUND,0123456789.-+:T"\n\r ;xyz中文'
    good = _line(txid="KEEP")
    for _ in range(300):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        parsed = parse_his_file(_file(good, junk, good.replace("KEEP", "KEEP2")))
        assert parsed.records[0].transaction_id == "KEEP"
        for r in parsed.records:
            assert type(r.amount_fen) is int and r.amount_fen > 0
            assert r.accounted_at.utcoffset() == timedelta(hours=8)


def test_unknown_enum_values_are_kept_and_listed_not_dropped():
    parsed = parse_his_file(_file(_line(record_type="ADJUSTMENT"), _line(txid="T9", business="INPATIENT")))
    assert [r.record_type for r in parsed.records] == ["ADJUSTMENT", "PAYMENT"]
    result = reconcile(DAY, parsed.records, [])
    assert _kinds(result) == sorted([DiscrepancyKind.UNRECOGNISED_RECORD, DiscrepancyKind.NOT_PAID])
    unknown = next(d for d in result.discrepancies if d.kind is DiscrepancyKind.UNRECOGNISED_RECORD)
    assert unknown.handling.owner is Owner.FINANCE_OFFICE and not unknown.handling.auto_compensable


def test_sha256_against_the_summary():
    expected = hashlib.sha256(SPEC_SAMPLE).hexdigest()
    assert sha256_matches(SPEC_SAMPLE, expected) and sha256_matches(SPEC_SAMPLE, expected.upper())
    assert not sha256_matches(SPEC_SAMPLE + b"x", expected)
    assert not sha256_matches(SPEC_SAMPLE, None) and not sha256_matches(SPEC_SAMPLE, "abc")


def test_summary_parsing_tolerates_unknown_status_and_rejects_a_bad_date():
    s = parse_summary({"date": "2025-06-16", "status": "ready", "file_sha256": "A" * 64, "payment_total_fen": 13650,
                       "refund_count": "1", "extra": True})
    assert s.ready and s.file_sha256 == "a" * 64 and s.payment_total_fen == 13650 and s.refund_count is None
    assert not parse_summary({"date": "2025-06-16", "status": "archived"}).ready
    with pytest.raises(ReconciliationFileError):
        parse_summary({"date": "16/06/2025", "status": "ready"})


# ---- the discrepancy table -----------------------------------------------------------------------
def test_every_discrepancy_kind_with_owner_action_and_compensability():
    his = parse_his_file(_file(
        _line(txid="T-NOTPAID", amount="5000"),                                    # in the HIS, nobody paid
        _line(txid="T-AMOUNT", amount="5000"),                                     # we were paid 4500
        _line(record_type="REFUND", txid="T-OLD", amount="2000", refund_request_no="RFO-OWED"),  # never executed
        _line(record_type="REFUND", txid="T-OLD", amount="1000", his_refund_id="HR-HOSP"),       # hospital's, executed
        _line(txid="T-DUP", amount="100"),
        _line(txid="T-DUP", amount="100"),
    )).records
    ours = [
        _pay("T-AMOUNT", 4500, "2025-06-16T10:00:00+08:00"),
        _refund("HR-HOSP", 1000, "2025-06-16T11:00:00+08:00"),
        _pay("T-DUP", 100, "2025-06-16T09:00:00+08:00"),
        _pay("T-NOHIS", 3000, "2025-06-16T12:00:00+08:00"),                        # paid, not in the HIS
        _refund("RFO-ROGUE", 700, "2025-06-16T13:00:00+08:00"),                    # refunded, HIS knows nothing
    ]
    result = reconcile(DAY, his, ours, neighbour_his_keys={DAY + timedelta(days=1): frozenset()})
    by_kind = {d.kind: d for d in result.discrepancies}
    assert set(by_kind) == {DiscrepancyKind.NOT_PAID, DiscrepancyKind.AMOUNT_MISMATCH,
                            DiscrepancyKind.REFUND_NOT_EXECUTED, DiscrepancyKind.DUPLICATE_IN_HIS,
                            DiscrepancyKind.PAID_NOT_IN_HIS, DiscrepancyKind.REFUND_NOT_IN_HIS}
    assert len(result.discrepancies) == 6
    owed = by_kind[DiscrepancyKind.REFUND_NOT_EXECUTED]
    assert owed.reference == "RFO-OWED" and owed.his_amount_fen == 2000 and owed.patient_id == "P000000001"
    assert owed.handling.owner is Owner.INTEGRATOR and owed.handling.auto_compensable
    assert (by_kind[DiscrepancyKind.AMOUNT_MISMATCH].his_amount_fen,
            by_kind[DiscrepancyKind.AMOUNT_MISMATCH].our_amount_fen) == (5000, 4500)
    paid = by_kind[DiscrepancyKind.PAID_NOT_IN_HIS]
    assert paid.reference == "T-NOHIS" and paid.handling.owner is Owner.INTEGRATOR and not paid.awaiting_next_day
    assert "退款" in paid.handling.action
    for kind in (DiscrepancyKind.NOT_PAID, DiscrepancyKind.AMOUNT_MISMATCH, DiscrepancyKind.REFUND_NOT_IN_HIS):
        assert by_kind[kind].handling.owner is Owner.FINANCE_OFFICE
    # Only an approved-but-unexecuted refund is safe to compensate automatically.
    assert [k for k, h in HANDLING.items() if h.auto_compensable] == [DiscrepancyKind.REFUND_NOT_EXECUTED]
    assert result.matched == 3  # T-AMOUNT, HR-HOSP, the first T-DUP


def test_with_the_wechatpay_bill_money_is_judged_by_the_bill():
    his = parse_his_file(_file(
        _line(txid="T-ALL"),                                     # everywhere: fine
        _line(txid="T-BILLONLY"),                                # HIS and WeChat Pay, our record lost
        _line(txid="T-OURSONLY"),                                # HIS and ours, WeChat Pay never had it: not paid
        _line(record_type="REFUND", txid="T", amount="100", refund_request_no="RF-NOTEXEC"),  # ours, not at WeChat Pay
    )).records
    at = "2025-06-16T10:00:00+08:00"
    ours = [_pay("T-ALL", 100, at), _pay("T-OURSONLY", 100, at), _refund("RF-NOTEXEC", 100, at),
            _pay("T-PHANTOM", 100, at)]
    bill = [BillEntry(RecordKind.PAYMENT, "T-ALL", "WXO1", None, 100, _at(at)),
            BillEntry(RecordKind.PAYMENT, "T-BILLONLY", "WXO1", None, 100, _at(at)),
            BillEntry(RecordKind.PAYMENT, "T-WXONLY", "WXO1", None, 900, _at(at))]
    result = reconcile(DAY, his, ours, bill, {DAY + timedelta(days=1): frozenset()})
    got = {(d.kind, d.reference) for d in result.discrepancies}
    assert got == {
        (DiscrepancyKind.MISSING_IN_OUR_RECORDS, "T-BILLONLY"),
        (DiscrepancyKind.NOT_PAID, "T-OURSONLY"),
        (DiscrepancyKind.REFUND_NOT_EXECUTED, "RF-NOTEXEC"),
        (DiscrepancyKind.NOT_IN_WECHATPAY_BILL, "T-PHANTOM"),
        (DiscrepancyKind.PAID_NOT_IN_HIS, "T-WXONLY"),
    }
    assert result.bill is not None and result.bill.payment_total_fen == 1100
    wx_only = next(d for d in result.discrepancies if d.reference == "T-WXONLY")
    assert (wx_only.bill_amount_fen, wx_only.our_amount_fen) == (900, None)


def test_a_bill_amount_that_differs_is_an_amount_mismatch():
    at = "2025-06-16T10:00:00+08:00"
    his = parse_his_file(_file(_line(txid="T1", amount="100"))).records
    result = reconcile(DAY, his, [_pay("T1", 100, at)], [BillEntry(RecordKind.PAYMENT, "T1", "WXO1", None, 90, _at(at))])
    (d,) = result.discrepancies
    assert (d.kind, d.his_amount_fen, d.our_amount_fen, d.bill_amount_fen) == (DiscrepancyKind.AMOUNT_MISMATCH, 100,
                                                                                100, 90)


# ---- the day boundary ----------------------------------------------------------------------------
def test_a_refund_approved_before_midnight_and_executed_after_matches_across_the_boundary():
    his = parse_his_file(_file(_line(record_type="REFUND", txid="T", amount="2000", refund_request_no="RF1",
                                     at="2025-06-16T23:10:00+08:00"))).records
    executed_next_day = _refund("RF1", 2000, "2025-06-17T00:20:00+08:00")
    result = reconcile(DAY, his, [executed_next_day])
    assert result.discrepancies == () and result.matched == 1 and result.matched_across_days == 1
    assert result.ours.refund_count == 0  # it is the 17th's money for us
    # The next day: our refund of the 17th is in the 16th's HIS file, which is known.
    nxt = reconcile(DAY + timedelta(days=1), [], [executed_next_day], neighbour_his_keys={DAY: result.his_keys})
    assert nxt.discrepancies == () and nxt.matched_across_days == 1


def test_a_late_confirmation_waits_for_the_next_days_file_then_resolves():
    paid = _pay("T-LATE", 5000, "2025-06-16T23:20:00+08:00")  # held over the maintenance window
    first = reconcile(DAY, [], [paid])
    (d,) = first.discrepancies
    assert d.kind is DiscrepancyKind.PAID_NOT_IN_HIS and d.awaiting_next_day
    his_next = parse_his_file(_file(_line(txid="T-LATE", amount="5000", at="2025-06-17T00:35:00+08:00"))).records
    second = reconcile(DAY + timedelta(days=1), his_next, [paid])
    assert second.discrepancies == () and second.matched_across_days == 1
    closed = resolve_with_next_day(first, second.his_keys)
    assert closed.open == () and "2025-06-17" in closed.discrepancies[0].resolved
    # Without it in the next day's file the discrepancy stays, now definite.
    still = resolve_with_next_day(first, frozenset())
    assert len(still.open) == 1 and not still.open[0].awaiting_next_day
    assert resolve_with_next_day(closed, frozenset()) is closed  # nothing left to change


def test_shanghai_dates_not_utc_dates():
    at = datetime(2025, 6, 15, 16, 30, tzinfo=UTC)  # 00:30 on the 16th in Shanghai
    assert shanghai_day(at) == DAY
    assert previous_day(datetime(2025, 6, 16, 19, 0, tzinfo=UTC)) == DAY  # 03:00 on the 17th in Shanghai
    assert day_start(DAY).isoformat() == "2025-06-16T00:00:00+08:00"
    ours = [_pay("T-UTC", 100, at.isoformat())]
    assert reconcile(DAY, [], ours).ours.payment_count == 1
    assert reconcile(DAY - timedelta(days=1), [], ours).ours.payment_count == 0


def test_records_refuse_floats_naive_times_and_missing_keys():
    with pytest.raises(ValueError, match="integer"):
        OurRecord(RecordKind.PAYMENT, BusinessType.OUTPATIENT, "STL1", "T1", "STL1", None, 86.5, _at(  # type: ignore[arg-type]
            "2025-06-16T10:00:00+08:00"))
    with pytest.raises(ValueError, match="aware"):
        OurRecord(RecordKind.PAYMENT, BusinessType.OUTPATIENT, "STL1", "T1", "STL1", None, 100, datetime(2025, 6, 16))
    with pytest.raises(ValueError, match="transaction_id"):
        OurRecord(RecordKind.PAYMENT, BusinessType.OUTPATIENT, "STL1", None, "STL1", None, 100, _at(
            "2025-06-16T10:00:00+08:00"))
    with pytest.raises(ValueError, match="out_refund_no"):
        BillEntry(RecordKind.REFUND, "T1", "STL1", None, 100, _at("2025-06-16T10:00:00+08:00"))


def test_report_round_trips_through_its_dict():
    parsed = parse_his_file(_file(_line(txid="T1"), "junk"))
    result = reconcile(DAY, parsed.records, [], [], {DAY - timedelta(days=1): frozenset({"PAYMENT#X"})})
    summary = parse_summary({"date": "2025-06-16", "status": "ready", "file_sha256": parsed.sha256})
    report = ReconciliationReport(DAY, RunState.DONE, _at("2025-06-17T03:00:05+08:00"), "", summary, parsed.sha256,
                                  True, result, parsed.problems, ("RF1",))
    again = ReconciliationReport.from_dict(report.to_dict())
    assert again == report
    assert OurRecord.from_dict(SAMPLE_OURS[1].to_dict()) == SAMPLE_OURS[1]


def test_reads_the_file_the_his_simulator_writes():
    from devstack.his_simulator.reconciliation import csv_file
    from devstack.his_simulator.state import LedgerEntry

    at = _at("2025-06-16T23:10:00+08:00")
    lines = [LedgerEntry("PAYMENT", "REGISTRATION", "A1", None, "WXO1", None, "T1", "WXO1", 5000, at, "P1", "app"),
             LedgerEntry("REFUND", "OUTPATIENT", "ST2", "HR2", None, None, "T2", "STL2", 300, at, "P2", "app")]
    parsed = parse_his_file(csv_file(lines))
    assert parsed.problems == ()
    assert [(r.record_type, r.amount_fen, r.out_refund_no, r.accounted_at) for r in parsed.records] == [
        ("PAYMENT", 5000, None, at), ("REFUND", 300, "HR2", at)]
