"""The patient's reports through ``chalice.test.Client``: bound patients only, live reads with the kept copy
as fallback, REPORT_NOT_VIEWABLE as a Chinese 409, and a short-lived PDF link."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.his_messages import end_user_pseudonym
from chalicelib.domain.patients import PatientBinding, Relation
from tests.fakes import FakeBlobStore, FakePatientBindings
from tests.fakes_live_reads import FakeLiveCopies, FakeReportsBridge, sample_reports
from tests.functional.test_auth_api import OPENID, T0, World, _install, _logged_in, _settings, _validate

# Documented operations this module exercises (JSON bodies validated against the document by ``_validate``).
EXERCISED = {"/api/patients", "/api/patients/{patient_id}/reports", "/api/patients/{patient_id}/reports/{report_id}",
             "/api/patients/{patient_id}/reports/{report_id}/pdf"}
SELF, CHILD, STRANGER = "P000123456", "P000345678", "P000234567"
LIST = "/api/patients/{patient_id}/reports"
DETAIL = "/api/patients/{patient_id}/reports/{report_id}"
PDF = "/api/patients/{patient_id}/reports/{report_id}/pdf"


class Reports:
    def __init__(self, client: Any, world: World, bridge: FakeReportsBridge, copies: FakeLiveCopies, session: str) -> None:
        self.client, self.world, self.bridge, self.copies = client, world, bridge, copies
        self.cookie = {"cookie": f"yw_session={session}"}

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=self.cookie)


@pytest.fixture
def r() -> Any:
    world = World()
    settings = _settings()
    _install(world, settings)
    bindings = FakePatientBindings(
        PatientBinding(OPENID, SELF, Relation.SELF, "张*", T0 - timedelta(days=30)),
        PatientBinding(OPENID, CHILD, Relation.CHILD, "张**", T0 - timedelta(days=10)),
        PatientBinding("oSomeoneElse000000000000000001", STRANGER, Relation.SELF, "李*", T0),
    )
    bridge = FakeReportsBridge(T0, {SELF: sample_reports(SELF, T0), CHILD: [], STRANGER: sample_reports(STRANGER, T0)})
    copies = FakeLiveCopies()
    bootstrap.override(patient_bindings=bindings, his_live_reader=bridge, live_copies=copies, blob_store=FakeBlobStore())
    with Client(app, stage_name="local") as client:
        yield Reports(client, world, bridge, copies, _logged_in(client))


def body(resp: Any) -> Any:
    return json.loads(resp.body)


# ---- patients ---------------------------------------------------------------------------------------
def test_patients_are_the_users_bound_patients(r):
    resp = r.get("/api/patients")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert body(resp) == {"items": [
        {"patient_id": SELF, "label": "张*", "relation": "self", "relation_name": "本人"},
        {"patient_id": CHILD, "label": "张**", "relation": "child", "relation_name": "子女"},
    ]}
    _validate("/api/patients", "get", 200, body(resp))


@pytest.mark.parametrize("path", ["/api/patients", f"/api/patients/{SELF}/reports", f"/api/patients/{SELF}/reports/R1",
                                  f"/api/patients/{SELF}/reports/R1/pdf"])
def test_every_route_needs_a_login(r, path):
    resp = r.client.http.get(path)
    assert resp.status_code == 401 and body(resp)["code"] == "LOGIN_REQUIRED"
    assert r.bridge.requests == []


# ---- the list ---------------------------------------------------------------------------------------
def test_the_list_is_read_live_with_the_users_pseudonym(r):
    resp = r.get(f"/api/patients/{SELF}/reports")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    data = body(resp)
    _validate(LIST, "get", 200, data)
    assert data["live"] is True and data["as_of"] == "2026-11-26T16:00:00+08:00"
    assert data["patient"]["patient_id"] == SELF and data["days"] == 180 and data["category"] is None
    rows = {i["report_id"]: (i["title"], i["state_text"]) for i in data["items"]}
    assert rows == {"R-PACS-1-001300": ("胸部CT平扫", "待发布"), "R-LIS-1-004502": ("糖化血红蛋白", "报告未出"),
                    "R-LIS-1-004417": ("血常规", "已出报告"), "R-PACS-1-001208": ("经胸超声心动图", "已出报告"),
                    "R-LIS-1-003900": ("尿常规", "已更正")}
    assert [i["report_id"] for i in data["items"]][:2] == ["R-PACS-1-001300", "R-LIS-1-004502"]  # newest first
    (sent,) = r.bridge.requests
    assert sent.operation == "listReports" and sent.path_params == {"patient_id": SELF}
    assert sent.query == {"date_from": "2026-05-31", "date_to": "2026-11-26"}
    assert sent.end_user == end_user_pseudonym(OPENID, b"local-his-end-user-key-NOT-FOR-PRODUCTION")
    assert OPENID not in json.dumps(sent.to_json())


def test_category_and_days_narrow_the_list(r):
    data = body(r.get(f"/api/patients/{SELF}/reports?category=exam&days=7"))
    assert [i["title"] for i in data["items"]] == ["胸部CT平扫", "经胸超声心动图"]
    assert r.bridge.requests[-1].query == {"date_from": "2026-11-20", "date_to": "2026-11-26", "category": "exam"}
    assert body(r.get(f"/api/patients/{CHILD}/reports"))["items"] == []


@pytest.mark.parametrize(("query", "message"), [("days=365", "查询天数应为1到180之间的整数"),
                                                ("category=blood", "报告类别不正确，请选择检验或检查")])
def test_a_bad_query_is_a_400_in_chinese(r, query, message):
    resp = r.get(f"/api/patients/{SELF}/reports?{query}")
    assert resp.status_code == 400 and body(resp) == {"code": "BAD_REQUEST", "message": message}
    _validate(LIST, "get", 400, body(resp))
    assert r.bridge.requests == []


@pytest.mark.parametrize("path", [f"/api/patients/{STRANGER}/reports", f"/api/patients/{STRANGER}/reports/R-LIS-1-004417",
                                  f"/api/patients/{STRANGER}/reports/R-LIS-1-004417/pdf",
                                  "/api/patients/P000000000/reports"])
def test_another_patients_id_is_not_found_and_logged_under_a_pseudonym_only(r, logs, path):
    resp = r.get(path)
    assert resp.status_code == 404 and body(resp) == {"code": "PATIENT_NOT_FOUND", "message": "未找到该就诊人"}
    _validate(path.replace(STRANGER, "{patient_id}").replace("P000000000", "{patient_id}")
              .replace("R-LIS-1-004417", "{report_id}"), "get", 404, body(resp))
    assert r.bridge.requests == []  # the HIS is never asked
    refused = [json.loads(line) for line in logs if "patient not bound" in line]
    assert len(refused) == 1
    assert refused[0]["end_user"] == end_user_pseudonym(OPENID, b"local-his-end-user-key-NOT-FOR-PRODUCTION")
    everything = "\n".join(logs)
    assert OPENID not in everything and STRANGER not in everything and "P000000000" not in everything


# ---- fallback to the kept copy ----------------------------------------------------------------------
def test_when_the_bridge_is_silent_the_kept_copy_is_shown_with_its_time(r):
    live = body(r.get(f"/api/patients/{SELF}/reports"))
    detail = body(r.get(f"/api/patients/{SELF}/reports/R-LIS-1-004417"))
    r.world.clock.now = T0 + timedelta(hours=2)
    r.bridge.silent = True
    kept = body(r.get(f"/api/patients/{SELF}/reports"))
    _validate(LIST, "get", 200, kept)
    assert kept["live"] is False and kept["as_of"] == "2026-11-26T16:00:00+08:00"
    assert kept["items"] == live["items"]
    kept_detail = body(r.get(f"/api/patients/{SELF}/reports/R-LIS-1-004417"))
    assert kept_detail["live"] is False and kept_detail["report"] == detail["report"]
    r.bridge.silent, r.bridge.maintenance = False, True  # the HIS answers, but is in its nightly window
    assert body(r.get(f"/api/patients/{SELF}/reports"))["live"] is False


def test_nothing_live_and_nothing_kept_is_a_503_in_chinese(r):
    r.bridge.silent = True
    resp = r.get(f"/api/patients/{SELF}/reports")
    assert resp.status_code == 503 and body(resp)["message"] == "医院系统暂时无法访问，请稍后再试"
    _validate(LIST, "get", 503, body(resp))
    r.bridge.silent, r.bridge.maintenance = False, True
    resp = r.get(f"/api/patients/{SELF}/reports/R-LIS-1-004417")
    assert resp.status_code == 503 and "维护" in body(resp)["message"]
    _validate(DETAIL, "get", 503, body(resp))


def test_a_patient_no_longer_linked_at_the_hospital_is_asked_to_bind_again(r):
    r.bridge.linked.discard(CHILD)
    resp = r.get(f"/api/patients/{CHILD}/reports")
    assert resp.status_code == 409 and body(resp)["code"] == "PATIENT_NOT_LINKED"
    assert "重新绑定" in body(resp)["message"]
    _validate(LIST, "get", 409, body(resp))


# ---- detail -----------------------------------------------------------------------------------------
def test_a_lab_report_shows_items_flags_and_ranges_as_reported(r):
    resp = r.get(f"/api/patients/{SELF}/reports/R-LIS-1-004417")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    data = body(resp)
    _validate(DETAIL, "get", 200, data)
    report = data["report"]
    assert data["live"] is True and report["title"] == "血常规" and report["category_name"] == "检验"
    assert [(i["name"], i["value"], i["reference_range"], i["flag_text"]) for i in report["items"]] == [
        ("白细胞计数", "11.6", "3.5-9.5", "偏高↑"), ("红细胞计数", "4.52", "4.3-5.8", "正常"),
        ("血红蛋白", "126", "130-175", "偏低↓"), ("血小板计数", "18", "125-350", "危急值")]
    assert report["abnormal_items"] == ["白细胞计数", "血红蛋白", "血小板计数"]
    assert report["pdf_available"] is True and report["amended"] is False and report["amendment_note"] is None
    sent = r.bridge.requests[-1]
    assert sent.operation == "getReport" and sent.path_params == {"patient_id": SELF, "report_id": "R-LIS-1-004417"}


def test_an_exam_report_and_an_amended_report(r):
    exam = body(r.get(f"/api/patients/{SELF}/reports/R-PACS-1-001208"))["report"]
    assert exam["items"] == [] and "二尖瓣少量反流" in exam["findings"] and exam["conclusion"] == "二尖瓣少量反流。"
    amended = body(r.get(f"/api/patients/{SELF}/reports/R-LIS-1-003900"))
    _validate(DETAIL, "get", 200, amended)
    report = amended["report"]
    assert report["amended"] is True and report["version"] == 2 and report["state_text"] == "已更正"
    assert report["amendment"] == {"amended_at": "2026-11-07T16:00:00+08:00", "reason": "标本编号录入更正"}
    assert "更正（第2版）" in report["amendment_note"]


@pytest.mark.parametrize(("report_id", "reason", "release_at", "message"), [
    ("R-PACS-1-001300", "release_delay", "2026-11-27T15:00:00+08:00",
     "报告已出具，暂未到在线发布时间，预计2026-11-27 15:00后可查看"),
    ("R-LIS-1-004502", "pending", None, "报告尚未出具，请耐心等待"),
])
def test_a_report_not_viewable_yet_is_a_409_with_the_reason(r, report_id, reason, release_at, message):
    body(r.get(f"/api/patients/{SELF}/reports/{report_id}"))  # nothing kept yet
    resp = r.get(f"/api/patients/{SELF}/reports/{report_id}")
    assert resp.status_code == 409
    assert body(resp) == {"code": "REPORT_NOT_VIEWABLE", "message": message, "reason": reason, "release_at": release_at}
    _validate(DETAIL, "get", 409, body(resp))
    assert f"report#{SELF}#{report_id}" not in r.copies.items


def test_an_unknown_or_malformed_report_id_is_not_found(r):
    resp = r.get(f"/api/patients/{SELF}/reports/R-NO-SUCH")
    assert resp.status_code == 404 and body(resp)["message"] == "未找到该报告，可能已被撤回"
    _validate(DETAIL, "get", 404, body(resp))
    asked = len(r.bridge.requests)
    assert r.get(f"/api/patients/{SELF}/reports/%3Cscript%3E").status_code == 404
    assert len(r.bridge.requests) == asked  # not sent to the HIS


# ---- pdf --------------------------------------------------------------------------------------------
def test_the_pdf_is_a_60_second_link_to_the_parked_file(r):
    resp = r.get(f"/api/patients/{SELF}/reports/R-LIS-1-004417/pdf")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    data = body(resp)
    _validate(PDF, "get", 200, data)
    sent = r.bridge.requests[-1]
    assert sent.operation == "getReportPdf" and sent.end_user
    assert data == {"url": f"https://blobs.example/yiwei-test-blobs/his-results/{sent.request_id}.pdf?expires=60"
                           "&filename=report-R-LIS-1-004417.pdf", "expires_in": 60}


def test_the_pdf_is_never_served_from_a_kept_copy(r):
    assert r.get(f"/api/patients/{SELF}/reports/R-LIS-1-004417/pdf").status_code == 200
    r.bridge.silent = True
    resp = r.get(f"/api/patients/{SELF}/reports/R-LIS-1-004417/pdf")
    assert resp.status_code == 503 and body(resp)["message"] == "暂时无法获取报告PDF，请稍后再试"
    _validate(PDF, "get", 503, body(resp))
    r.bridge.silent = False
    not_viewable = r.get(f"/api/patients/{SELF}/reports/R-PACS-1-001300/pdf")
    assert not_viewable.status_code == 409 and body(not_viewable)["reason"] == "release_delay"
    _validate(PDF, "get", 409, body(not_viewable))
    missing = r.get(f"/api/patients/{SELF}/reports/R-NOPE/pdf")
    assert missing.status_code == 404
    _validate(PDF, "get", 404, body(missing))


# ---- the menu -----------------------------------------------------------------------------------------
def test_reports_is_a_menu_page_and_an_old_menus_click_gets_the_link():
    from chalicelib.domain.menu import menu_document, menu_pages
    from chalicelib.domain.wechat import InboundMessage
    from chalicelib.services import wechat_handlers

    assert "reports.html" in menu_pages()
    document = menu_document(lambda p: f"https://h5.example.cn/{p}")
    items = {b["name"]: b for top in document["button"] for b in top["sub_button"]}
    # opened through WeChat login, then the page
    assert items["报告查询"] == {"type": "view", "name": "报告查询",
                              "url": "https://h5.example.cn/api/auth/login?next=/reports.html"}
    ctx = type("Ctx", (), {"page_url": staticmethod(lambda p: f"https://h5.example.cn/{p}")})()
    click = InboundMessage.__new__(InboundMessage)
    reply = wechat_handlers.MENU.get("REPORTS")(click, ctx)
    assert reply.articles[0].url == "https://h5.example.cn/reports.html"
