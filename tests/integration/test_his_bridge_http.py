"""The bridge over real HTTP against the HIS simulator: every operation of the contract, and the fault
matrix of §5 (lost responses, stalls, 429, maintenance, a bridge killed half-way).

The result queue and the blob bucket are small in-memory fakes here (the AWS side is covered by the
moto tests); the HIS side is the real simulator on a free port, signed exactly as in production."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml

from devstack.his_simulator.server import start_in_thread
from devstack.his_simulator.simulator import Simulator
from his_bridge.client import HttpHisClient
from his_bridge.config import load_settings
from his_bridge.handler import Bridge, invoke_handler, process_batch
from his_bridge.operations import OPERATIONS

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
SPEC_DIR = Path(__file__).resolve().parents[2] / "devstack" / "his_simulator" / "spec"
ZHANG = {"method": "identity", "id_type": "resident_id", "id_number": "110101199003070011", "name": "张三",
         "phone": "13800000001"}
_ids = itertools.count(1)


class FakeSqs:
    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_times = fail_times

    def send_message(self, QueueUrl: str, MessageBody: str, **_: Any) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("the Lambda was stopped here")  # the bridge dies before publishing
        self.sent.append(json.loads(MessageBody))

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"http://sqs/{QueueName}"}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str = "", **_: Any) -> None:
        self.objects[(Bucket, Key)] = (Body, ContentType)


class Context:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


class Harness:
    def __init__(self, base_url: str, sim: Simulator) -> None:
        self.sim = sim
        self.root = base_url.rsplit("/v1", 1)[0]
        self.sqs = FakeSqs()
        self.s3 = FakeS3()
        settings = load_settings({"BLOB_BUCKET": "blobs", "HIS_RESULT_QUEUE": "results", "HIS_BASE_URL": base_url,
                                  "HIS_APP_ID": sim.config.app_id, "HIS_APP_SECRET": sim.config.app_secret})
        self.client = HttpHisClient(base_url, settings.his_app_id, settings.his_app_secret,
                                    clock=lambda: float(sim.clock.epoch()))
        self.bridge = Bridge(settings, self.client, self.sqs, self.s3)

    def request(self, operation: str, **fields: Any) -> dict[str, Any]:
        return {"request_id": f"req-{next(_ids):05d}", "operation": operation, "context": {"test": "bridge"}, **fields}

    def do(self, operation: str, **fields: Any) -> dict[str, Any]:
        """Through the queue path: one record, one published result."""
        request = self.request(operation, **fields)
        out = process_batch([{"messageId": request["request_id"], "body": json.dumps(request),
                              "attributes": {"ApproximateReceiveCount": "1"}}], self.bridge)
        assert out == {"batchItemFailures": []}, (operation, out)
        published = [r for r in self.sqs.sent if r["request_id"] == request["request_id"]]
        assert len(published) == 1
        return published[0]

    def ok(self, operation: str, **fields: Any) -> Any:
        result = self.do(operation, **fields)
        assert result["outcome"] == "ok", (operation, result["status"], result["error"])
        return result["body"]

    def appointments_for(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.ok("queryAppointments", query={"order_id": order_id})["items"]
        return items

    def posts(self, operation: str) -> list[dict[str, Any]]:
        return [e for e in self.sim.requests() if e.get("operation") == operation]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Any, str]]:
    srv, thread, base_url = start_in_thread("127.0.0.1", 0)
    yield srv, base_url
    srv.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def his(server: tuple[Any, str]) -> Harness:
    srv, base_url = server
    sim: Simulator = srv.simulator
    sim.set_now(datetime(2025, 6, 16, 9, 0, tzinfo=SHANGHAI))
    sim.reset()
    return Harness(base_url, sim)


def _open_schedule(his: Harness, department_id: str, day: str, session: str | None = None) -> dict[str, Any]:
    schedules = his.ok("listSchedules", query={"department_id": department_id, "date_from": day, "date_to": day})
    for schedule in schedules["items"]:
        if schedule["status"] == "open" and schedule["remaining"] > 0 and session in (None, schedule["session"]):
            return dict(schedule)
    raise AssertionError(f"no open schedule in {department_id} on {day}")


def _payment(order: str, amount: int, serial: str) -> dict[str, Any]:
    return {"channel": "wechat_pay", "transaction_id": f"42000000002025061{serial:0>11}", "out_trade_no": order,
            "amount_fen": amount, "paid_at": "2025-06-16T09:01:00+08:00"}


def _lock(his: Harness, order: str, schedule: dict[str, Any], patient_id: str = "P000123456") -> dict[str, Any]:
    return dict(order_id=order, schedule_id=schedule["schedule_id"], patient_id=patient_id,
                expected_fee_fen=schedule["fee_fen"])


# -- every operation ------------------------------------------------------------------------------------

def test_every_operation_of_the_contract_through_the_bridge(his: Harness) -> None:
    spec = yaml.safe_load((SPEC_DIR / "openapi.yaml").read_text(encoding="utf-8"))
    in_spec = {op["operationId"] for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)
               and "operationId" in op}
    assert in_spec == set(OPERATIONS)
    done: set[str] = set()

    def ok(operation: str, **fields: Any) -> Any:
        done.add(operation)
        return his.ok(operation, **fields)

    # System and reference data
    assert ok("getHealth")["status"] in ("ok", "degraded", "maintenance")
    assert ok("getPolicies")
    campuses = ok("listCampuses")["items"]
    assert ok("listDepartments", query={"campus_id": "C01"})["items"]
    assert ok("getDepartment", path_params={"department_id": "D0301"})["department_id"] == "D0301"
    doctors = ok("listDoctors", query={"department_id": "D0301", "page_size": 2})["items"]
    assert len(doctors) > 2  # every page followed
    assert ok("getDoctor", path_params={"doctor_id": "DR10023"})["doctor_id"] == "DR10023"
    assert ok("getFeeSchedule")["items"]
    # Schedules
    done.add("listSchedules")
    schedule = _open_schedule(his, "D0301", "2025-06-23")
    assert ok("getSchedule", path_params={"schedule_id": schedule["schedule_id"]})["schedule_id"] == schedule["schedule_id"]
    assert ok("listSlots", path_params={"schedule_id": schedule["schedule_id"]})["items"]
    assert "items" in ok("listScheduleNotices", query={"date_from": "2025-06-16", "date_to": "2025-06-29"})
    # Patients
    zhang = ok("lookupPatient", body=ZHANG, idempotency_key="lookup-zhang-0001")
    assert zhang["patient_id"] == "P000123456"
    child = json.loads((SPEC_DIR / "examples" / "03-create-patient-child.json").read_text())["request"]["body"]
    created = ok("createPatient", body=child, idempotency_key="newpt-bridge-0001")
    assert created["created"] is True
    assert ok("getPatient", path_params={"patient_id": "P000123456"})["patient_id"] == "P000123456"
    # Reports (yesterday's visit of 张三)
    reports = ok("listReports", path_params={"patient_id": "P000123456"},
                 query={"date_from": "2025-06-01", "date_to": "2025-06-16"})["items"]
    viewable = next(r for r in reports if r.get("online_viewable"))
    ok("getReport", path_params={"patient_id": "P000123456", "report_id": viewable["report_id"]})
    pdf = his.do("getReportPdf", path_params={"patient_id": "P000123456", "report_id": viewable["report_id"]})
    done.add("getReportPdf")
    assert pdf["outcome"] == "ok" and pdf["body"] is None
    assert pdf["body_ref"]["content_type"] == "application/pdf" and pdf["body_ref"]["key"].endswith(".pdf")
    data, content_type = his.s3.objects[("blobs", pdf["body_ref"]["key"])]
    assert data.startswith(b"%PDF") and content_type == "application/pdf"
    # Booking: lock, confirm, read, query; check-in on the day, queue, visit
    today = _open_schedule(his, "D0301", "2025-06-16", "afternoon")
    order = "WXO20250616090000101"
    appt = ok("lockAppointment", body=_lock(his, order, today), idempotency_key=f"{order}:lock")
    assert appt["status"] == "locked"
    confirmed = ok("confirmAppointment", path_params={"appointment_id": appt["appointment_id"]},
                   body={"order_id": order, "payment": _payment(order, appt["fee_fen"], "101")},
                   idempotency_key=f"{order}:confirm")
    assert confirmed["status"] == "confirmed"
    assert ok("getAppointment", path_params={"appointment_id": appt["appointment_id"]})["status"] == "confirmed"
    assert [a["appointment_id"] for a in ok("queryAppointments", query={"order_id": order})["items"]] == [
        appt["appointment_id"]]
    his.sim.set_now(datetime.fromisoformat(confirmed["checkin_opens_at"]).astimezone(SHANGHAI).replace(second=30))
    campus = next(c for c in campuses if c["campus_id"] == confirmed["location"]["campus_id"])
    checked_in = ok("checkInAppointment", path_params={"appointment_id": appt["appointment_id"]},
                    body={"order_id": order, "location": campus["location"]}, idempotency_key=f"{order}:checkin")
    visit_id = checked_in["visit_id"]
    queue = ok("getQueueStatus", path_params={"visit_id": visit_id})
    assert queue["visit_id"] == visit_id
    assert ok("getVisit", path_params={"visit_id": visit_id})["visit_id"] == visit_id
    visits = ok("listVisits", query={"completed_from": "2025-06-01T00:00:00+08:00",
                                      "completed_to": "2025-06-16T23:59:59+08:00", "patient_id": "P000123456"})
    assert visits["items"]
    # A second booking, cancelled while locked (another department: one per department per day)
    other = _open_schedule(his, "D0305", "2025-06-23")
    order2 = "WXO20250616090000102"
    appt2 = ok("lockAppointment", body=_lock(his, order2, other), idempotency_key=f"{order2}:lock")
    cancelled = ok("cancelAppointment", path_params={"appointment_id": appt2["appointment_id"]},
                   body={"order_id": order2, "reason_code": "payment_abandoned"}, idempotency_key=f"{order2}:cancel")
    assert cancelled["status"] == "cancelled"
    # Billing: list, pre-settle and cancel, pre-settle and settle, read, query, refund an item
    charges = ok("listCharges", path_params={"patient_id": "P000123456"}, query={"status": "unpaid"})
    payable = [c for c in charges["items"] if c["payable_online"]]
    first = payable[0]
    s1 = ok("prepareSettlement", body={"settlement_request_no": "STL20250616090001", "patient_id": "P000123456",
                                       "charge_ids": [first["charge_id"]], "expected_total_fen": first["total_fen"]},
            idempotency_key="STL20250616090001:prepare")
    assert ok("cancelSettlement", path_params={"settlement_id": s1["settlement_id"]},
              body={"settlement_request_no": "STL20250616090001"},
              idempotency_key="STL20250616090001:cancel")["status"] == "cancelled"
    total = sum(c["total_fen"] for c in payable)
    s2 = ok("prepareSettlement", body={"settlement_request_no": "STL20250616090002", "patient_id": "P000123456",
                                       "charge_ids": [c["charge_id"] for c in payable], "expected_total_fen": total},
            idempotency_key="STL20250616090002:prepare")
    settled = ok("confirmSettlement", path_params={"settlement_id": s2["settlement_id"]},
                 body={"settlement_request_no": "STL20250616090002", "payment": _payment("STL20250616090002", total,
                                                                                          "102")},
                 idempotency_key="STL20250616090002:confirm")
    assert settled["status"] == "settled"
    assert ok("getSettlement", path_params={"settlement_id": s2["settlement_id"]})["status"] == "settled"
    assert [s["settlement_id"] for s in ok("querySettlements", query={"settlement_request_no": "STL20250616090002"})[
        "items"]] == [s2["settlement_id"]]
    line = first["items"][0]
    refund = ok("refundSettlementItems", path_params={"settlement_id": s2["settlement_id"]},
                body={"refund_request_no": "RFS20250616090003", "items": [{"charge_id": first["charge_id"],
                                                                            "item_id": line["item_id"]}],
                      "reason_code": "patient_request"}, idempotency_key="RFS20250616090003:refund")
    assert refund["refund_amount_fen"] == line["amount_fen"]
    # Reconciliation of the day before (generated by 03:00)
    summary = ok("getReconciliationSummary", path_params={"date": "2025-06-15"})
    if summary["status"] != "ready":
        requests.post(f"{his.root}/_sim/reconciliation/2025-06-15/ready", timeout=5).raise_for_status()
    csv = his.do("getReconciliationFile", path_params={"date": "2025-06-15"})
    done.add("getReconciliationFile")
    assert csv["outcome"] == "ok", csv["error"]
    assert csv["body_ref"]["content_type"] == "text/csv" and csv["body_ref"]["key"].endswith(".csv")
    text = his.s3.objects[("blobs", csv["body_ref"]["key"])][0].decode("utf-8")
    assert text.startswith("record_type,business_type,his_trade_id")
    # Events (pulled): paging stops on an empty page and returns the cursor
    events = ok("listEvents", query={"since": "2025-06-16T00:00:00+08:00"})
    assert events["next_cursor"] and isinstance(events["items"], list)
    assert any(e["event_type"] == "appointment.status_changed" for e in events["items"])
    again = ok("listEvents", query={"after": events["next_cursor"]})
    assert again["items"] == [] and again["next_cursor"] == events["next_cursor"]
    # Unlink the child created above
    his.do("unlinkPatient", path_params={"patient_id": created["patient_id"]}, idempotency_key="unlink-child-0001")
    done.add("unlinkPatient")
    assert his.do("getPatient", path_params={"patient_id": created["patient_id"]})["error"]["code"] == (
        "PATIENT_NOT_LINKED")
    assert done == set(OPERATIONS), sorted(set(OPERATIONS) - done)


def test_synchronous_reads_answer_directly_and_park_files(his: Harness) -> None:
    his.ok("lookupPatient", body=ZHANG)
    result = invoke_handler(his.request("getPatient", path_params={"patient_id": "P000123456"}), Context(10),
                            bridge=his.bridge)
    assert result["outcome"] == "ok" and result["body"]["patient_id"] == "P000123456"
    reports = invoke_handler(his.request("listReports", path_params={"patient_id": "P000123456"},
                                         query={"date_from": "2025-06-01", "date_to": "2025-06-16"}), Context(10),
                             bridge=his.bridge)["body"]["items"]
    report_id = next(r["report_id"] for r in reports if r.get("online_viewable"))
    pdf = invoke_handler(his.request("getReportPdf", path_params={"patient_id": "P000123456", "report_id": report_id}),
                         Context(10), bridge=his.bridge)
    assert pdf["body_ref"]["content_type"] == "application/pdf"
    assert [r["operation"] for r in his.sqs.sent] == ["lookupPatient"]  # the reads were not published
    refused = invoke_handler(his.request("lockAppointment", body={}), Context(10), bridge=his.bridge)
    assert refused["outcome"] == "error" and refused["error"]["code"] == "NOT_A_READ"


# -- the fault matrix ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [{"when": "after", "code": "OUTCOME_UNKNOWN"},
                                   {"when": "after", "code": "INTERNAL_ERROR"},
                                   {"when": "drop"}])
def test_lost_answer_after_commit_is_found_by_query_one_booking(his: Harness, fault: dict[str, Any]) -> None:
    his.ok("lookupPatient", body=ZHANG)
    schedule = _open_schedule(his, "D0301", "2025-06-23")
    order = "WXO20250616090000201"
    his.sim.inject_fault(operation="lockAppointment", **fault)
    result = his.do("lockAppointment", body=_lock(his, order, schedule), idempotency_key=f"{order}:lock")
    assert result["outcome"] == "ok" and result["resolved_by"] == "query" and result["status"] == 201
    assert result["body"]["order_id"] == order and result["body"]["status"] == "locked"
    assert len(his.appointments_for(order)) == 1
    assert [e["status"] for e in his.posts("lockAppointment")] in ([504], [500], [201], [])
    assert len(his.posts("lockAppointment")) <= 1  # sent once: never a fresh write


def test_confirm_with_unknown_outcome_is_found_by_reading_the_appointment(his: Harness) -> None:
    his.ok("lookupPatient", body=ZHANG)
    schedule = _open_schedule(his, "D0301", "2025-06-23")
    order = "WXO20250616090000202"
    appt = his.ok("lockAppointment", body=_lock(his, order, schedule), idempotency_key=f"{order}:lock")
    his.sim.inject_fault(operation="confirmAppointment", when="after", code="INTERNAL_ERROR")
    result = his.do("confirmAppointment", path_params={"appointment_id": appt["appointment_id"]},
                    body={"order_id": order, "payment": _payment(order, appt["fee_fen"], "202")},
                    idempotency_key=f"{order}:confirm")
    assert result["resolved_by"] == "query" and result["body"]["status"] == "confirmed"


def test_a_ten_second_stall_returns_in_four_and_the_redelivery_finds_the_booking(his: Harness) -> None:
    his.ok("lookupPatient", body=ZHANG)
    schedule = _open_schedule(his, "D0301", "2025-06-23")
    order = "WXO20250616090000301"
    his.sim.inject_fault(operation="lockAppointment", delay_seconds=10)
    request = his.request("lockAppointment", body=_lock(his, order, schedule), idempotency_key=f"{order}:lock")
    first_receive_ms = int(time.time() * 1000)
    record = {"messageId": "m1", "body": json.dumps(request),
              "attributes": {"ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": str(first_receive_ms)}}
    started = time.monotonic()
    assert process_batch([record], his.bridge) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert 3.5 <= time.monotonic() - started < 6.5  # 4 s read timeout, one query, no blind resend
    assert not [r for r in his.sqs.sent if r["request_id"] == request["request_id"]]
    time.sleep(max(0.0, started + 10.5 - time.monotonic()))  # the middleware commits within 10 s
    record["attributes"]["ApproximateReceiveCount"] = "2"
    assert process_batch([record], his.bridge) == {"batchItemFailures": []}
    results = [r for r in his.sqs.sent if r["request_id"] == request["request_id"]]
    assert len(results) == 1 and results[0]["resolved_by"] == "query" and results[0]["body"]["order_id"] == order
    assert len(his.appointments_for(order)) == 1
    assert len(his.posts("lockAppointment")) == 1


def test_429_retry_after_is_honoured(his: Harness) -> None:
    his.sim.inject_fault(operation="listCampuses", code="HIS_BUSY", retry_after=1)
    started = time.monotonic()
    result = his.do("listCampuses")
    assert result["outcome"] == "ok" and time.monotonic() - started >= 1.0
    assert [e["status"] for e in his.posts("listCampuses")] == [429, 200]


def test_maintenance_gives_up_at_once_and_the_redelivery_succeeds(his: Harness) -> None:
    his.ok("lookupPatient", body=ZHANG)
    schedule = _open_schedule(his, "D0301", "2025-06-23")
    order = "WXO20250616090000401"
    his.sim.inject_fault(operation="lockAppointment", code="HIS_MAINTENANCE", retry_after=3000)
    request = his.request("lockAppointment", body=_lock(his, order, schedule), idempotency_key=f"{order}:lock")
    record = {"messageId": "m1", "body": json.dumps(request), "attributes": {"ApproximateReceiveCount": "1"}}
    started = time.monotonic()
    assert process_batch([record], his.bridge) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    # at once: not after sleeping out a Retry-After (capped at 5 s) in the Lambda
    assert time.monotonic() - started < 3.0 and [e["status"] for e in his.posts("lockAppointment")] == [503]
    record["attributes"] = {"ApproximateReceiveCount": "2",
                            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000) - 60_000)}
    assert process_batch([record], his.bridge) == {"batchItemFailures": []}
    results = [r for r in his.sqs.sent if r["request_id"] == request["request_id"]]
    assert len(results) == 1 and results[0]["status"] == 201 and "resolved_by" not in results[0]
    assert len(his.appointments_for(order)) == 1


def test_a_bridge_killed_after_the_commit_leaves_one_booking_and_one_result(his: Harness) -> None:
    his.ok("lookupPatient", body=ZHANG)
    schedule = _open_schedule(his, "D0301", "2025-06-23")
    order = "WXO20250616090000501"
    request = his.request("lockAppointment", body=_lock(his, order, schedule), idempotency_key=f"{order}:lock")
    record = {"messageId": "m1", "body": json.dumps(request), "attributes": {"ApproximateReceiveCount": "1"}}
    his.sqs.fail_times = 1  # the HIS commits, then the bridge dies before its result is out
    assert process_batch([record], his.bridge) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    record["attributes"] = {"ApproximateReceiveCount": "2",
                            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000) - 180_000)}
    assert process_batch([record], his.bridge) == {"batchItemFailures": []}
    results = [r for r in his.sqs.sent if r["request_id"] == request["request_id"]]
    assert len(results) == 1 and results[0]["outcome"] == "ok" and results[0]["body"]["order_id"] == order
    assert len(his.appointments_for(order)) == 1
    assert len(his.posts("lockAppointment")) == 1  # found by query on redelivery, not sent again


def test_a_synchronous_read_stalled_by_the_his_returns_within_the_cap(his: Harness) -> None:
    his.sim.inject_fault(operation="getPolicies", delay_seconds=10)
    started = time.monotonic()
    result = invoke_handler(his.request("getPolicies"), Context(30), bridge=his.bridge)
    assert time.monotonic() - started < 4.6
    assert result["outcome"] == "error" and result["error"]["retryable"] is True
