"""§7.7 reports over HTTP: list, detail, PDF, the release policy and report.finalized, driven from the LIS/PACS side."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from devstack.his_simulator import reports
from devstack.his_simulator.clock import SHANGHAI

from .clinical_helpers import clinical_client, events_of, monday
from .conftest import frozen_simulator
from .contract import assert_conforms, example

LIST = "/patients/{patient_id}/reports"
DETAIL = "/patients/{patient_id}/reports/{report_id}"
BLOOD, ECHO, HBA1C = "R-LIS-20250615-004417", "R-PACS-20250615-001208", "R-LIS-20250615-004502"
RANGE = {"date_from": "2025-06-01", "date_to": "2025-06-16"}
CBC_ITEMS = example("10-report-detail-lab.json")["response"]["body"]["items"]


def _reports(api: Any, **query: str) -> Any:
    return api.get("/v1/patients/P000123456/reports", RANGE | query)


def test_seeded_reports_list_newest_first_with_release_state() -> None:
    with monday() as (sim, api, _):
        response = _reports(api)
        assert response.status_code == 200
        body = response.get_json()
        assert_conforms(LIST, "get", 200, body)
        by_id = {r["report_id"]: r for r in body["items"]}
        assert [r["report_id"] for r in body["items"]] == [HBA1C, ECHO, BLOOD]  # ordered 09:06, 09:05, 09:05
        blood = by_id[BLOOD]
        assert (blood["online_viewable"], blood["not_viewable_reason"]) == (True, None)
        assert (blood["abnormal_count"], blood["has_critical"]) == (1, False)
        assert blood["release_at"] == blood["finalized_at"] == "2025-06-15T10:31:00+08:00"
        echo = by_id[ECHO]
        assert echo["release_at"] == "2025-06-15T13:05:00+08:00"  # exam: 120 min after finalization
        assert echo["source_system"] == "PACS" and echo["abnormal_count"] is None
        pending = by_id[HBA1C]
        assert (pending["status"], pending["online_viewable"], pending["not_viewable_reason"]) == (
            "pending", False, "pending")
        assert pending["expected_at"] == "2025-06-17T16:00:00+08:00" and pending["release_at"] is None
        assert pending["abnormal_count"] is None and pending["has_critical"] is None
        assert events_of(sim, "report.finalized") == []  # yesterday's releases are history, not news


def test_list_filters_validation_and_pages() -> None:
    with monday() as (_, api, _admin):
        assert [r["report_id"] for r in _reports(api, category="exam").get_json()["items"]] == [ECHO]
        assert [r["report_id"] for r in _reports(api, status="pending").get_json()["items"]] == [HBA1C]
        assert _reports(api, date_from="2025-06-16").get_json()["items"] == []
        first = _reports(api, page_size="2").get_json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = _reports(api, page_size="2", cursor=first["next_cursor"]).get_json()
        assert [r["report_id"] for r in rest["items"]] == [BLOOD] and rest["next_cursor"] is None
        too_long = api.get("/v1/patients/P000123456/reports", {"date_from": "2024-12-18", "date_to": "2025-06-16"})
        assert too_long.status_code == 400
        assert too_long.get_json()["details"]["fields"] == [
            {"field": "date_to", "reason": "the range may span at most 180 days"}]
        assert api.get("/v1/patients/P000123456/reports", {"date_from": "2024-12-19", "date_to": "2025-06-16"}
                       ).status_code == 200
        assert api.get("/v1/patients/P000123456/reports", {"date_to": "2025-06-16"}).status_code == 400
        assert _reports(api, category="pathology").status_code == 400
        assert api.get("/v1/patients/P000234567/reports", RANGE).get_json()["code"] == "PATIENT_NOT_LINKED"


def test_detail_and_not_viewable() -> None:
    with monday() as (_, api, _admin):
        detail = api.get(f"/v1/patients/P000123456/reports/{BLOOD}")
        assert detail.status_code == 200
        body = detail.get_json()
        assert_conforms(DETAIL, "get", 200, body)
        assert [i["flag"] for i in body["items"]] == ["H", "N", "N", "N", "N"]
        assert body["amendment"] is None and body["pdf_available"] is True
        echo = api.get(f"/v1/patients/P000123456/reports/{ECHO}").get_json()
        assert echo["items"] == [] and echo["findings"] and echo["conclusion"]
        pending = api.get(f"/v1/patients/P000123456/reports/{HBA1C}")
        assert pending.status_code == 409
        error = pending.get_json()
        assert_conforms(DETAIL, "get", 409, error)
        assert (error["code"], error["details"]["reason"], error["details"]["release_at"]) == (
            "REPORT_NOT_VIEWABLE", "pending", None)
        assert api.get("/v1/patients/P000123456/reports/R-LIS-20990101-000001").status_code == 404
        api.post("/v1/patients/lookup", {"method": "card", "card_no": "E2023000345678", "name": "张小明"})
        assert api.get(f"/v1/patients/P000345678/reports/{BLOOD}").status_code == 404  # another patient's


def test_exam_waits_120_minutes_then_is_announced_once() -> None:
    with monday() as (sim, api, admin):
        created = admin.post("/_sim/patients/P000123456/reports", json={
            "category": "exam", "title": "胸部正位片", "modality": "DR", "body_part": "胸部",
            "visit_id": "V2025061500877", "ordering_doctor_name": "李四"})
        assert created.status_code == 201
        report_id = created.get_json()["report_id"]
        assert re.fullmatch(r"R-PACS-20250616-\d{6}", report_id)
        assert created.get_json()["department_id"] == "D0301"
        final = admin.post(f"/_sim/reports/{report_id}/finalize", json={
            "findings": "双肺纹理清晰，未见实变影。心影大小形态正常。", "conclusion": "胸部正位片未见明显异常。",
            "reported_by": "孙八", "reviewed_by": "周九"}).get_json()
        assert (final["status"], final["not_viewable_reason"], final["release_at"]) == (
            "final", "release_delay", "2025-06-16T11:00:00+08:00")
        refused = api.get(f"/v1/patients/P000123456/reports/{report_id}").get_json()
        assert refused["details"] == {"report_id": report_id, "reason": "release_delay",
                                      "release_at": "2025-06-16T11:00:00+08:00"}
        assert events_of(sim, "report.finalized") == []
        sim.advance(119 * 60)
        assert api.get(f"/v1/patients/P000123456/reports/{report_id}").status_code == 409
        sim.advance(60)
        assert api.get(f"/v1/patients/P000123456/reports/{report_id}").status_code == 200
        api.get("/v1/patients/P000123456/reports", RANGE)
        announced = events_of(sim, "report.finalized", "ReportFinalizedEvent")
        assert [e["data"] for e in announced] == [{
            "report_id": report_id, "patient_id": "P000123456", "visit_id": "V2025061500877", "category": "exam",
            "title": "胸部正位片", "status": "final", "version": 1, "finalized_at": "2025-06-16T09:00:00+08:00",
            "released_at": "2025-06-16T11:00:00+08:00"}]


def test_critical_value_held_until_acknowledged_like_example_10() -> None:
    expected = example("10-report-detail-lab.json")["response"]["body"]
    sim = frozen_simulator(datetime(2025, 6, 23, 10, 31, tzinfo=SHANGHAI))
    with clinical_client(sim) as (api, admin):
        sim.link_patient("P000123456")
        report_id = admin.post("/_sim/patients/P000123456/reports", json={
            "category": "lab", "title": "血常规", "specimen": "全血", "department_id": "D0301",
            "ordering_doctor_name": "李四", "ordered_at": "2025-06-23T08:52:30+08:00"}).get_json()["report_id"]
        final = admin.post(f"/_sim/reports/{report_id}/finalize", json={
            "items": CBC_ITEMS, "conclusion": expected["conclusion"], "reported_by": "赵六", "reviewed_by": "钱七"})
        assert final.get_json()["not_viewable_reason"] == "critical_pending_acknowledgement"
        sim.advance(11 * 60)
        error = api.get(f"/v1/patients/P000123456/reports/{report_id}").get_json()
        assert error["details"]["reason"] == "critical_pending_acknowledgement"
        assert events_of(sim, "report.finalized") == []
        admin.post(f"/_sim/reports/{report_id}/acknowledge-critical", json={})
        body = api.get(f"/v1/patients/P000123456/reports/{report_id}").get_json()
        assert_conforms(DETAIL, "get", 200, body)
        ignored = ("report_id", "visit_id")
        assert {k: v for k, v in body.items() if k not in ignored} == {
            k: v for k, v in expected.items() if k not in ignored}
        assert [e["data"]["released_at"] for e in events_of(sim, "report.finalized")] == ["2025-06-23T10:42:00+08:00"]
        sim.advance(3600)
        api.get(f"/v1/patients/P000123456/reports/{report_id}")
        assert len(events_of(sim, "report.finalized")) == 1


def test_policy_restricted_reports_are_never_online() -> None:
    with monday() as (sim, api, admin):
        report_id = admin.post("/_sim/patients/P000123456/reports", json={
            "category": "lab", "title": "HIV抗体确证试验", "release_rule_code": "hiv_confirmatory"}).get_json()["report_id"]
        admin.post(f"/_sim/reports/{report_id}/finalize", json={"items": [
            {"code": "HIV-WB", "name": "HIV抗体确证", "value": "阴性", "flag": "N"}]})
        sim.advance(30 * 86400)
        summary = next(r for r in _reports(api, date_to="2025-07-16", date_from="2025-06-16").get_json()["items"]
                       if r["report_id"] == report_id)
        assert (summary["online_viewable"], summary["not_viewable_reason"], summary["release_at"]) == (
            False, "policy_restricted", None)
        assert api.get(f"/v1/patients/P000123456/reports/{report_id}/pdf").get_json()["details"]["reason"] == (
            "policy_restricted")
        assert events_of(sim, "report.finalized") == []
        bad_rule = admin.post("/_sim/patients/P000123456/reports", json={
            "category": "exam", "title": "x", "release_rule_code": "genetic"})
        assert bad_rule.status_code == 400


def test_amendment_bumps_version_and_is_announced_again() -> None:
    with monday() as (sim, api, admin):
        report_id = admin.post("/_sim/patients/P000123456/reports", json={
            "category": "lab", "title": "血糖", "specimen": "血清"}).get_json()["report_id"]
        item = {"code": "GLU", "name": "葡萄糖", "value": "7.9", "numeric_value": 7.9, "unit": "mmol/L",
                "reference_range": "3.9-6.1", "flag": "H"}
        admin.post(f"/_sim/reports/{report_id}/finalize", json={"items": [item]})
        assert [e["data"]["version"] for e in events_of(sim, "report.finalized")] == [1]
        sim.advance(3600)
        amended = admin.post(f"/_sim/reports/{report_id}/amend", json={
            "reason": "标本复测，更正结果", "items": [item | {"value": "5.6", "numeric_value": 5.6, "flag": "N"}]})
        assert amended.status_code == 200
        body = api.get(f"/v1/patients/P000123456/reports/{report_id}").get_json()
        assert_conforms(DETAIL, "get", 200, body)
        assert (body["status"], body["version"], body["abnormal_count"]) == ("amended", 2, 0)
        assert body["amendment"] == {"amended_at": "2025-06-16T10:00:00+08:00", "reason": "标本复测，更正结果"}
        events = events_of(sim, "report.finalized", "ReportFinalizedEvent")
        assert [(e["data"]["status"], e["data"]["version"]) for e in events] == [("final", 1), ("amended", 2)]
        assert [r["report_id"] for r in _reports(api, status="amended").get_json()["items"]] == [report_id]
        assert admin.post(f"/_sim/reports/{report_id}/amend", json={}).status_code == 400
        assert admin.post(f"/_sim/reports/{HBA1C}/amend", json={"reason": "x"}).status_code == 409


def test_finalization_at_a_later_time_happens_when_the_clock_gets_there() -> None:
    with monday() as (sim, api, admin):
        ok = admin.post(f"/_sim/reports/{HBA1C}/finalize", json={
            "at": "2025-06-16T09:30:00+08:00",
            "items": [{"code": "HbA1c", "name": "糖化血红蛋白", "value": "6.8", "numeric_value": 6.8, "unit": "%",
                       "reference_range": "4.0-6.0", "flag": "H"}]})
        assert ok.get_json()["status"] == "pending" and ok.get_json()["expected_at"] == "2025-06-16T09:30:00+08:00"
        assert api.get(f"/v1/patients/P000123456/reports/{HBA1C}").status_code == 409
        sim.advance(30 * 60)
        body = api.get(f"/v1/patients/P000123456/reports/{HBA1C}").get_json()
        assert (body["status"], body["finalized_at"], body["abnormal_count"]) == ("final", "2025-06-16T09:30:00+08:00", 1)
        assert [e["data"]["report_id"] for e in events_of(sim, "report.finalized")] == [HBA1C]
        assert admin.post(f"/_sim/reports/{HBA1C}/finalize", json={}).status_code == 409


def test_driver_validation() -> None:
    with monday() as (_, _api, admin):
        bad = admin.post("/_sim/patients/P000123456/reports", json={"category": "blood", "title": ""})
        assert bad.status_code == 400
        assert {f["field"] for f in bad.get_json()["details"]["fields"]} == {"category", "title"}
        assert admin.post("/_sim/patients/P999/reports", json={"category": "lab", "title": "x"}).status_code == 404
        report_id = admin.post("/_sim/patients/P000123456/reports", json={
            "category": "lab", "title": "尿常规"}).get_json()["report_id"]
        assert admin.post(f"/_sim/reports/{report_id}/finalize", json={}).status_code == 400  # no items
        wrong_item = admin.post(f"/_sim/reports/{report_id}/finalize", json={"items": [{"code": "PRO", "flag": "X"}]})
        assert {f["field"] for f in wrong_item.get_json()["details"]["fields"]} == {
            "items.0.flag", "items.0.name", "items.0.value"}
        assert admin.post(f"/_sim/reports/{BLOOD}/acknowledge-critical", json={}).status_code == 409


def _pdf_objects_are_where_the_xref_says(pdf: bytes) -> None:
    startxref = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[startxref:].startswith(b"xref")
    table = pdf[startxref:].split(b"trailer")[0].splitlines()
    count = int(table[1].split()[1])
    for number, line in enumerate(table[3 : 2 + count], start=1):
        assert len(line) + 1 == 20  # each entry is 20 bytes with its line end
        offset = int(line.split()[0])
        assert pdf[offset:].startswith(b"%d 0 obj" % number)


def test_pdf_is_a_valid_document() -> None:
    with monday() as (_, api, _admin):
        response = api.get(f"/v1/patients/P000123456/reports/{BLOOD}/pdf")
        assert response.status_code == 200
        assert response.content_type == "application/pdf"
        pdf = response.get_data()
        assert pdf.startswith(b"%PDF-1.4\n") and pdf.rstrip().endswith(b"%%EOF")
        _pdf_objects_are_where_the_xref_says(pdf)
        assert "血常规".encode("utf-16-be").hex().upper().encode() in pdf  # the title, in the CJK font's encoding
        assert api.get(f"/v1/patients/P000123456/reports/{HBA1C}/pdf").get_json()["code"] == "REPORT_NOT_VIEWABLE"


def test_release_rules_in_python() -> None:
    sim = frozen_simulator(datetime(2025, 6, 16, 9, 0, tzinfo=SHANGHAI))
    report = sim.state.reports[ECHO]
    released = reports.release(report, sim.now())
    assert released.viewable and released.release_at == datetime(2025, 6, 15, 13, 5, tzinfo=SHANGHAI)
    assert reports.release(report, datetime(2025, 6, 15, 13, 4, tzinfo=SHANGHAI)).reason == "release_delay"
    assert reports.release_due(sim.state, sim.now()) == []  # history is marked, not announced
