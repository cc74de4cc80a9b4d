"""Fakes for live reads: a kept-copy store, and a bridge that answers report operations the way the
middleware does (spec §7.7, §6), with switches for silence (no timely answer) and outages."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.his_messages import HisError, HisRequest, HisResult
from chalicelib.services.ports import LiveCopy

SHANGHAI = ZoneInfo("Asia/Shanghai")
BLOB_BUCKET = "yiwei-test-blobs"


class FakeLiveCopies:
    def __init__(self) -> None:
        self.items: dict[str, LiveCopy] = {}

    def get(self, key: str) -> LiveCopy | None:
        return self.items.get(key)

    def put(self, key: str, body: Any, as_of: datetime) -> None:
        held = self.items.get(key)
        if held is None or held.as_of < as_of:
            self.items[key] = LiveCopy(copy.deepcopy(body), as_of)


def _iso(at: datetime) -> str:
    return at.astimezone(SHANGHAI).isoformat(timespec="seconds")


def sample_reports(patient_id: str, now: datetime) -> list[dict[str, Any]]:
    """Five reports of one patient, in the middleware's shape: a lab report with H/L/C flags (spec example 10),
    an exam, one still pending, one finalized but held back (release delay) and an amended one."""
    day = timedelta(days=1)
    base = {"patient_id": patient_id, "visit_id": "V2025062300877", "department_id": "D0301",
            "ordering_doctor_name": "李四", "specimen": None, "modality": None, "body_part": None,
            "expected_at": None, "finalized_at": None, "release_at": None, "release_rule_code": "lab_default",
            "not_viewable_reason": None, "abnormal_count": None, "has_critical": None}
    detail = {"items": [], "findings": None, "conclusion": None, "reported_by": "赵六", "reviewed_by": "钱七",
              "amendment": None, "pdf_available": True}
    blood = {**base, **detail, "report_id": "R-LIS-1-004417", "category": "lab", "source_system": "LIS", "title": "血常规",
             "specimen": "全血", "status": "final", "version": 1, "ordered_at": _iso(now - 2 * day),
             "finalized_at": _iso(now - 2 * day + timedelta(hours=2)),
             "release_at": _iso(now - 2 * day + timedelta(hours=3)),
             "online_viewable": True, "abnormal_count": 3, "has_critical": True,
             "items": [
                 {"code": "WBC", "name": "白细胞计数", "value": "11.6", "numeric_value": 11.6, "unit": "10^9/L",
                  "reference_range": "3.5-9.5", "flag": "H"},
                 {"code": "RBC", "name": "红细胞计数", "value": "4.52", "numeric_value": 4.52, "unit": "10^12/L",
                  "reference_range": "4.3-5.8", "flag": "N"},
                 {"code": "HGB", "name": "血红蛋白", "value": "126", "numeric_value": 126, "unit": "g/L",
                  "reference_range": "130-175", "flag": "L"},
                 {"code": "PLT", "name": "血小板计数", "value": "18", "numeric_value": 18, "unit": "10^9/L",
                  "reference_range": "125-350", "flag": "C"},
             ],
             "conclusion": "血小板计数为危急值，已电话通知临床医师。"}
    echo = {**base, **detail, "report_id": "R-PACS-1-001208", "category": "exam", "source_system": "PACS",
            "title": "经胸超声心动图", "modality": "US", "body_part": "心脏", "status": "final", "version": 1,
            "ordered_at": _iso(now - 3 * day), "finalized_at": _iso(now - 3 * day + timedelta(hours=2)),
            "release_at": _iso(now - 3 * day + timedelta(hours=2)), "release_rule_code": "exam_default",
            "online_viewable": True, "abnormal_count": 0, "has_critical": False,
            "findings": "各瓣膜形态及启闭未见明显异常。彩色多普勒：二尖瓣少量反流。", "conclusion": "二尖瓣少量反流。",
            "reported_by": "孙八", "reviewed_by": "周九"}
    pending = {**base, **detail, "report_id": "R-LIS-1-004502", "category": "lab", "source_system": "LIS",
               "title": "糖化血红蛋白", "specimen": "全血", "status": "pending", "version": 1,
               "ordered_at": _iso(now - day), "expected_at": _iso(now + day), "online_viewable": False,
               "not_viewable_reason": "pending", "pdf_available": False}
    delayed = {**base, **detail, "report_id": "R-PACS-1-001300", "category": "exam", "source_system": "PACS",
               "title": "胸部CT平扫", "modality": "CT", "body_part": "胸部", "status": "final", "version": 1,
               "ordered_at": _iso(now - timedelta(hours=6)), "finalized_at": _iso(now - timedelta(hours=1)),
               "release_at": _iso(now + timedelta(hours=23)), "release_rule_code": "exam_ct",
               "online_viewable": False, "not_viewable_reason": "release_delay"}
    amended = {**base, **detail, "report_id": "R-LIS-1-003900", "category": "lab", "source_system": "LIS",
               "title": "尿常规", "specimen": "尿液", "status": "amended", "version": 2, "ordered_at": _iso(now - 20 * day),
               "finalized_at": _iso(now - 20 * day + timedelta(hours=2)),
               "release_at": _iso(now - 20 * day + timedelta(hours=2)), "online_viewable": True,
               "abnormal_count": 1, "has_critical": False,
               "items": [{"code": "PRO", "name": "尿蛋白", "value": "阳性(+)", "numeric_value": None, "unit": None,
                          "reference_range": "阴性", "flag": "A"}],
               "amendment": {"amended_at": _iso(now - 19 * day), "reason": "标本编号录入更正"}}
    return [blood, pending, delayed, echo, amended]


SUMMARY_FIELDS = ("report_id", "patient_id", "visit_id", "category", "source_system", "title", "specimen", "modality",
                  "body_part", "department_id", "ordering_doctor_name", "status", "version", "ordered_at", "expected_at",
                  "finalized_at", "release_at", "release_rule_code", "online_viewable", "not_viewable_reason",
                  "abnormal_count", "has_critical")


class FakeReportsBridge:
    """A ``HisLiveReader`` answering listReports, getReport and getReportPdf from ``reports`` (by patient).

    ``silent`` = no timely answer (None); ``down`` = the middleware's ``503 HIS_UNAVAILABLE`` (retryable);
    ``maintenance`` = ``503 HIS_MAINTENANCE``. Only ``linked`` patients are known to the middleware."""

    def __init__(self, now: datetime, reports: Mapping[str, list[dict[str, Any]]] | None = None) -> None:
        self.now = now
        self.reports: dict[str, list[dict[str, Any]]] = {k: list(v) for k, v in (reports or {}).items()}
        self.linked: set[str] = set(self.reports)
        self.requests: list[HisRequest] = []
        self.silent = False
        self.down = False
        self.maintenance = False

    def _result(self, request: HisRequest, status: int, body: Any = None, error: Any = None,
                body_ref: dict[str, str] | None = None) -> HisResult:
        return HisResult(request_id=request.request_id, operation=request.operation,
                         outcome="ok" if 200 <= status < 300 else "error", fetched_at=self.now, status=status,
                         body=body, body_ref=body_ref, error=error)

    def _error(self, request: HisRequest, status: int, code: str, retryable: bool, **details: Any) -> HisResult:
        return self._result(request, status, error=HisError(code, code, retryable, details))

    def read(self, request: HisRequest) -> HisResult | None:
        self.requests.append(request)
        if self.silent:
            return None
        if self.maintenance:
            return self._error(request, 503, "HIS_MAINTENANCE", True)
        if self.down:
            return self._error(request, 503, "HIS_UNAVAILABLE", True)
        patient_id = request.path_params.get("patient_id", "")
        if patient_id not in self.linked:
            return self._error(request, 403, "PATIENT_NOT_LINKED", False)
        reports = self.reports.get(patient_id, [])
        if request.operation == "listReports":
            return self._result(request, 200, {"items": self._list(reports, request.query), "next_cursor": None})
        report = next((r for r in reports if r["report_id"] == request.path_params.get("report_id")), None)
        if report is None:
            return self._error(request, 404, "RESOURCE_NOT_FOUND", False, resource="report")
        if not report["online_viewable"]:
            return self._error(request, 409, "REPORT_NOT_VIEWABLE", False, reason=report["not_viewable_reason"],
                               release_at=report["release_at"])
        if request.operation == "getReport":
            return self._result(request, 200, copy.deepcopy(report))
        if request.operation == "getReportPdf" and report["pdf_available"]:
            ref = {"bucket": BLOB_BUCKET, "key": f"his-results/{request.request_id}.pdf", "content_type": "application/pdf"}
            return self._result(request, 200, body_ref=ref)
        return self._error(request, 404, "RESOURCE_NOT_FOUND", False, resource=request.operation)

    @staticmethod
    def _list(reports: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
        out = []
        for r in reports:
            day = r["ordered_at"][:10]
            if not query["date_from"] <= day <= query["date_to"]:
                continue
            if query.get("category") and r["category"] != query["category"]:
                continue
            summary = {k: r.get(k) for k in SUMMARY_FIELDS}
            if not r["online_viewable"]:
                summary.update(abnormal_count=None, has_critical=None)
            out.append(summary)
        return sorted(out, key=lambda s: s["ordered_at"], reverse=True)
