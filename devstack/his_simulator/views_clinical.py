"""JSON shapes of reports, check-in results, queue status and visits (``ReportSummary``, ``ReportDetail``,
``CheckInResult``, ``QueueStatus``, ``Visit``), and the report's PDF document, built by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import queueing
from .clock import fmt
from .reports import abnormal_count, current_status, has_critical, release
from .state import HisState, Report, Visit
from .views import visit as visit_json

Json = dict[str, Any]

__all__ = ["check_in_result", "queue_status", "report_detail", "report_pdf", "report_summary", "visit_json"]


def report_summary(report: Report, now: datetime) -> Json:
    status = current_status(report, now)
    released = release(report, now)
    pending = status == "pending"
    return {
        "report_id": report.report_id,
        "patient_id": report.patient_id,
        "visit_id": report.visit_id,
        "category": report.category,
        "source_system": report.source_system,
        "title": report.title,
        "specimen": report.specimen,
        "modality": report.modality,
        "body_part": report.body_part,
        "department_id": report.department_id,
        "ordering_doctor_name": report.ordering_doctor_name,
        "status": status,
        "version": report.version,
        "ordered_at": fmt(report.ordered_at),
        "expected_at": fmt(report.expected_at or report.finalized_at) if pending else None,
        "finalized_at": None if pending else fmt(report.finalized_at),
        "release_at": fmt(released.release_at),
        "release_rule_code": report.release_rule_code,
        "online_viewable": released.viewable,
        "not_viewable_reason": released.reason,
        # Counts only for lab items once viewable; exam reports carry findings, which are not counted.
        "abnormal_count": abnormal_count(report) if released.viewable and report.category == "lab" else None,
        "has_critical": has_critical(report) if released.viewable and report.category == "lab" else None,
    }


def report_detail(report: Report, now: datetime) -> Json:
    return report_summary(report, now) | {
        "items": [
            {
                "code": i.code,
                "name": i.name,
                "value": i.value,
                "numeric_value": i.numeric_value,
                "unit": i.unit,
                "reference_range": i.reference_range,
                "flag": i.flag,
            }
            for i in report.items
        ],
        "findings": report.findings,
        "conclusion": report.conclusion,
        "reported_by": report.reported_by,
        "reviewed_by": report.reviewed_by,
        "amendment": (
            {"amended_at": fmt(report.amendment.amended_at), "reason": report.amendment.reason}
            if report.amendment
            else None
        ),
        "pdf_available": report.pdf_available,
    }


def queue_status(state: HisState, visit: Visit) -> Json:
    return queueing.status_json(state, visit)


def check_in_result(state: HisState, appointment_id: str, visit: Visit) -> Json:
    return {
        "appointment_id": appointment_id,
        "visit_id": visit.visit_id,
        "status": "checked_in",
        "checked_in_at": fmt(visit.checked_in_at),
        "queue": queueing.status_json(state, visit),
    }


# ---------------------------------------------------------------- PDF

_HOSPITAL = "示例市第一人民医院"
_FLAG_TEXT = {"N": "", "H": "↑", "L": "↓", "A": "异常", "C": "危急值"}
_WRAP = 36  # characters per line of running text


def _hex(text: str) -> str:
    """A PDF hex string in the UniGB-UCS2-H encoding (UCS-2 big-endian); characters outside the BMP become '?'."""
    return "<" + "".join(f"{ord(c) if ord(c) <= 0xFFFF else 0x3F:04X}" for c in text) + ">"


def _wrap(text: str) -> list[str]:
    return [text[i : i + _WRAP] for i in range(0, len(text), _WRAP)] or [""]


def _report_lines(state: HisState, report: Report) -> list[tuple[int, str]]:
    patient = state.patients.get(report.patient_id)
    kind = "检验报告单" if report.category == "lab" else "检查报告单"
    lines: list[tuple[int, str]] = [(16, f"{_HOSPITAL}  {kind}"), (10, "")]
    if patient is not None:
        gender = {"male": "男", "female": "女"}.get(patient.gender, "")
        lines.append((10, f"姓名: {patient.name}   性别: {gender}   患者ID: {patient.patient_id}"))
    lines.append((10, f"报告编号: {report.report_id}   版本: {report.version}   来源: {report.source_system}"))
    detail = report.specimen or " ".join(p for p in (report.modality, report.body_part) if p)
    lines.append((10, f"项目: {report.title}   {detail}".rstrip()))
    lines.append((10, f"申请时间: {fmt(report.ordered_at)}   报告时间: {fmt(report.finalized_at)}"))
    lines.append((10, ""))
    if report.items:
        lines.append((10, "代码      项目                结果        单位        参考范围      提示"))
        for i in report.items:
            lines.append((10, f"{i.code:<10}{i.name:<12}{i.value:<12}{i.unit or '':<12}{i.reference_range or '':<14}"
                              f"{_FLAG_TEXT.get(i.flag, i.flag)}"))
    for label, text in (("检查所见", report.findings), ("结论", report.conclusion)):
        if text:
            lines.append((10, f"{label}:"))
            lines.extend((10, part) for part in _wrap(text))
    if report.amendment is not None:
        lines.append((10, f"更正: {fmt(report.amendment.amended_at)} {report.amendment.reason}"))
    lines.append((10, ""))
    lines.append((10, f"报告者: {report.reported_by or ''}   审核者: {report.reviewed_by or ''}"))
    lines.append((8, "本报告由HIS模拟器生成，数据均为虚构，仅供测试。"))
    return lines


def report_pdf(state: HisState, report: Report) -> bytes:
    """A one-page PDF 1.4 document with the report's content, in the standard Adobe CJK font STSong-Light
    (not embedded; every conforming reader provides it)."""
    ops = []
    y = 800
    for size, text in _report_lines(state, report):
        ops.append(f"BT /F1 {size} Tf 1 0 0 1 50 {y} Tm {_hex(text)} Tj ET")
        y -= size + 8
        if y < 40:
            break
    content = "\n".join(ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H "
        b"/DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R "
        b"/DW 1000 /W [1 95 500] >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] "
        b"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
        b"<< /Producer (HIS simulator) /Title " + _hex(report.title).encode("ascii").replace(b"<", b"<FEFF", 1)
        + b" >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, len(objects), xref)
    return bytes(out)
