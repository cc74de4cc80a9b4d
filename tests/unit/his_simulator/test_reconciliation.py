"""§7.8.3 daily reconciliation: readiness at 03:00 the next day (or by the admin switch), the summary, the CSV file
(UTF-8 without BOM, LF, header row) of this app's lines by Shanghai accounting date, and out-of-band lines."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from devstack.his_simulator import reconciliation
from devstack.his_simulator.clock import SHANGHAI
from devstack.his_simulator.state import LedgerEntry

from .booking_helpers import LI_SI, lock, lock_body
from .booking_helpers import confirm as confirm_appointment
from .contract import assert_conforms
from .test_billing_helpers import LAB, PRESCRIPTION, ZHANG, BillingEnv, billing_env

HEADER = ("record_type,business_type,his_trade_id,his_refund_id,caller_ref,refund_request_no,transaction_id,"
          "out_trade_no,amount_fen,accounted_at,patient_id")


@pytest.fixture
def env() -> Iterator[BillingEnv]:
    with billing_env() as environment:
        yield environment


def _day_of_business(env: BillingEnv) -> dict[str, str]:
    """A registration payment (09:00), an outpatient payment (09:01) and a refund (09:02) on 2025-06-16."""
    appt = lock(env.api, lock_body(schedule_id=LI_SI)).get_json()
    assert confirm_appointment(env.api, appt, transaction_id="4200000000202506160000000001").status_code == 200
    env.sim.advance(60)
    settled = env.paid()
    env.sim.advance(60)
    refund = env.refund(settled["settlement_id"], [(PRESCRIPTION, f"{PRESCRIPTION}-1")]).get_json()
    return {"appointment_id": appt["appointment_id"], "order_id": appt["order_id"],
            "settlement_id": settled["settlement_id"], "his_refund_id": refund["his_refund_id"]}


def test_generating_until_three_the_next_morning(env: BillingEnv) -> None:
    _day_of_business(env)
    summary = env.api.get("/v1/reconciliation/2025-06-16").get_json()
    assert_conforms("/reconciliation/{date}", "get", 200, summary)
    assert summary == {"date": "2025-06-16", "status": "generating", "generated_at": None, "file_sha256": None}
    early = env.api.get("/v1/reconciliation/2025-06-16/file")
    assert (early.status_code, early.get_json()["code"]) == (409, "RECONCILIATION_NOT_READY")
    assert early.get_json()["retryable"] is True
    assert int(early.headers["Retry-After"]) == int((datetime(2025, 6, 17, 3, tzinfo=SHANGHAI) - env.sim.now())
                                                    .total_seconds())
    env.sim.set_now(datetime(2025, 6, 17, 2, 59, 59, tzinfo=SHANGHAI))
    assert env.api.get("/v1/reconciliation/2025-06-16").get_json()["status"] == "generating"
    env.sim.advance(1)
    ready = env.api.get("/v1/reconciliation/2025-06-16").get_json()
    assert (ready["status"], ready["generated_at"]) == ("ready", "2025-06-17T03:00:00+08:00")


def test_summary_and_file(env: BillingEnv) -> None:
    ids = _day_of_business(env)
    env.sim.set_now(datetime(2025, 6, 17, 8, 0, tzinfo=SHANGHAI))
    summary = env.api.get("/v1/reconciliation/2025-06-16").get_json()
    assert_conforms("/reconciliation/{date}", "get", 200, summary)
    registration_fee = env.sim.state.appointments[ids["appointment_id"]].fee_fen
    assert {k: summary[k] for k in ("record_count", "payment_count", "payment_total_fen", "refund_count",
                                    "refund_total_fen", "net_total_fen")} == {
        "record_count": 3, "payment_count": 2, "payment_total_fen": registration_fee + 15520,
        "refund_count": 1, "refund_total_fen": 3700, "net_total_fen": registration_fee + 15520 - 3700}

    response = env.api.get("/v1/reconciliation/2025-06-16/file")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    raw = response.get_data()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw and raw.endswith(b"\n")
    assert hashlib.sha256(raw).hexdigest() == response.headers["X-His-Content-SHA256"] == summary["file_sha256"]
    lines = raw.decode("utf-8").split("\n")[:-1]
    assert lines == [
        HEADER,
        f"PAYMENT,REGISTRATION,{ids['appointment_id']},,{ids['order_id']},,4200000000202506160000000001,"
        f"{ids['order_id']},{registration_fee},2025-06-16T09:00:00+08:00,{ZHANG}",
        f"PAYMENT,OUTPATIENT,{ids['settlement_id']},,STL20250616090000001,,4200000000202506161122334455,"
        f"STL20250616090000001,15520,2025-06-16T09:01:00+08:00,{ZHANG}",
        f"REFUND,OUTPATIENT,{ids['settlement_id']},{ids['his_refund_id']},STL20250616090000001,RFS20250616100000001,"
        f"4200000000202506161122334455,STL20250616090000001,3700,2025-06-16T09:02:00+08:00,{ZHANG}",
    ]
    empty = env.api.get("/v1/reconciliation/2025-06-15/file")
    assert empty.get_data() == (HEADER + "\n").encode()


def test_day_boundary_is_shanghai_and_other_apps_are_left_out(env: BillingEnv) -> None:
    state = env.sim.state

    def line(trade: str, accounted_at: datetime, app_id: str = "wxoa-cloud-test") -> LedgerEntry:
        return LedgerEntry("PAYMENT", "OUTPATIENT", trade, None, "STL-" + trade, None, "42" + trade, "STL-" + trade,
                           100, accounted_at, ZHANG, app_id)

    utc = UTC
    state.ledger += [
        line("ST1", datetime(2025, 6, 15, 16, 0, tzinfo=utc)),  # 2025-06-16 00:00 in Shanghai
        line("ST2", datetime(2025, 6, 16, 15, 59, 59, tzinfo=utc)),  # 2025-06-16 23:59:59 in Shanghai
        line("ST3", datetime(2025, 6, 17, 0, 0, tzinfo=SHANGHAI)),
        line("ST4", datetime(2025, 6, 16, 12, 0, tzinfo=SHANGHAI), app_id="another-app"),
    ]
    assert [e.his_trade_id for e in reconciliation.records(state, "wxoa-cloud-test", datetime(2025, 6, 16).date())] == [
        "ST1", "ST2"]
    env.admin.post("/_sim/reconciliation/2025-06-16/ready")
    body = env.api.get("/v1/reconciliation/2025-06-16/file").get_data().decode()
    assert "2025-06-16T00:00:00+08:00" in body and "2025-06-16T23:59:59+08:00" in body
    assert "ST3" not in body and "ST4" not in body


def test_admin_switch_makes_a_date_ready_now(env: BillingEnv) -> None:
    _day_of_business(env)
    switched = env.admin.post("/_sim/reconciliation/2025-06-16/ready")
    assert switched.status_code == 200
    summary = switched.get_json()
    assert (summary["status"], summary["generated_at"], summary["record_count"]) == (
        "ready", "2025-06-16T09:02:00+08:00", 3)
    assert env.api.get("/v1/reconciliation/2025-06-16").get_json() == summary
    assert env.api.get("/v1/reconciliation/2025-06-16/file").status_code == 200
    assert env.admin.post("/_sim/reconciliation/16-06-2025/ready").status_code == 400


def test_out_of_band_refund_creates_a_discrepancy(env: BillingEnv) -> None:
    settled = env.paid(charge_ids=[LAB])
    added = env.admin.post("/_sim/ledger", json={
        "record_type": "REFUND", "his_trade_id": settled["settlement_id"], "caller_ref": "STL20250616090000001",
        "transaction_id": settled["payment"]["transaction_id"], "amount_fen": 500, "patient_id": ZHANG,
        "accounted_at": "2025-06-16T15:30:00+08:00"})
    assert added.status_code == 201
    line = added.get_json()
    assert line["his_refund_id"].startswith("HR20250616") and line["refund_request_no"] is None
    assert line["out_trade_no"] == "STL20250616090000001"
    env.admin.post("/_sim/reconciliation/2025-06-16/ready")
    summary = env.api.get("/v1/reconciliation/2025-06-16").get_json()
    assert (summary["refund_count"], summary["refund_total_fen"], summary["net_total_fen"]) == (1, 500, 7300 - 500)
    rows = env.api.get("/v1/reconciliation/2025-06-16/file").get_data().decode().split("\n")
    assert rows[2] == (f"REFUND,OUTPATIENT,{settled['settlement_id']},{line['his_refund_id']},STL20250616090000001,,"
                       f"{settled['payment']['transaction_id']},STL20250616090000001,500,2025-06-16T15:30:00+08:00,{ZHANG}")
    listed = env.admin.get("/_sim/ledger", query_string={"date": "2025-06-16"}).get_json()["items"]
    assert [e["record_type"] for e in listed] == ["PAYMENT", "REFUND"]
    bad = env.admin.post("/_sim/ledger", json={"record_type": "CHARGEBACK", "amount_fen": 1.5,
                                                 "accounted_at": "2025-06-16T15:30:00Z"})
    assert {f["field"] for f in bad.get_json()["details"]["fields"]} == {
        "record_type", "his_trade_id", "transaction_id", "patient_id", "amount_fen", "accounted_at"}


def test_bad_dates_and_the_file_rate_limit_of_section_5_4(env: BillingEnv) -> None:
    for raw in ("2025-6-16", "2025-02-30", "yesterday"):
        response = env.api.get(f"/v1/reconciliation/{raw}")
        assert response.status_code == 400 and response.get_json()["details"]["fields"][0]["field"] == "date"
    env.sim.config.enforce_rate_limits = True
    statuses = [env.api.get("/v1/reconciliation/2025-06-15/file").status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    env.sim.advance(60)
    assert env.api.get("/v1/reconciliation/2025-06-15/file").status_code == 200


def test_csv_of_no_lines_is_the_header() -> None:
    assert reconciliation.csv_file([]) == (HEADER + "\n").encode()
    assert reconciliation.ready_at(datetime(2025, 12, 31).date()) == datetime(2026, 1, 1, 3, tzinfo=SHANGHAI)
    assert reconciliation.ready_at(datetime(2025, 12, 31).date()) - timedelta(hours=3) == datetime(
        2026, 1, 1, tzinfo=SHANGHAI)
