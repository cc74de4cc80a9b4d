"""Lab and exam reports (检查检验报告, spec §7.7) as the patient's pages show them.

The middleware's JSON is read tolerantly (absent and ``null`` alike, unknown fields ignored, unknown enum
values kept as they came, spec §2.2 and §9) into small frozen types with the display texts the pages need.
Results are shown as reported: values, units, reference ranges and the laboratory's own flags, in the
laboratory's order. Nothing here interprets a result for the patient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 180  # the middleware lists at most 180 days at a time (spec §7.7)
DEFAULT_DAYS = 180

CATEGORY_NAMES = {"lab": "检验", "exam": "检查"}
FLAG_TEXTS = {"N": "正常", "H": "偏高↑", "L": "偏低↓", "A": "异常", "C": "危急值"}
NORMAL_FLAG = "N"
CRITICAL_FLAG = "C"

# Why a report cannot be read online yet (``not_viewable_reason``), for the patient.
NOT_VIEWABLE_MESSAGES = {
    "pending": "报告尚未出具，请耐心等待",
    "release_delay": "报告已出具，暂未到在线发布时间",
    "critical_pending_acknowledgement": "报告正在等待医生确认，暂不能在线查看，请稍后再来查看",
    "policy_restricted": "该报告不提供在线查看，请到医院自助机或服务窗口领取",
}
NOT_VIEWABLE_FALLBACK = "报告暂不能在线查看，请稍后再试"

# The state a report's row shows in the list: (state, text).
STATE_PENDING = "pending"  # 报告未出
STATE_AWAITING_RELEASE = "awaiting_release"  # 待发布
STATE_IN_PERSON = "in_person"  # 到院领取
STATE_NOT_VIEWABLE = "not_viewable"  # another (unknown) reason
STATE_VIEWABLE = "viewable"
STATE_TEXTS = {
    STATE_PENDING: "报告未出",
    STATE_AWAITING_RELEASE: "待发布",
    STATE_IN_PERSON: "请到院领取",
    STATE_NOT_VIEWABLE: "暂不可查看",
    STATE_VIEWABLE: "已出报告",
}

# Middleware ids are opaque (≤ 40 characters, spec §2.2); these are the characters we let into a path.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}")


class ReportQueryError(ValueError):
    """A list query a person must correct; ``message`` is Chinese, for the patient."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReportFormatError(ValueError):
    """The middleware's report JSON lacks what we need to show it."""


def is_valid_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


@dataclass(frozen=True)
class ReportQuery:
    category: str | None  # "lab" | "exam" | None (both)
    days: int  # the last ``days`` Shanghai calendar days, today included

    def date_range(self, today: date) -> tuple[date, date]:
        """``(date_from, date_to)`` for the middleware: ``days`` calendar days ending ``today``."""
        return today - timedelta(days=self.days - 1), today


def parse_report_query(category: str | None, days: str | None) -> ReportQuery:
    """The list query from the page's ``?category=&days=``; raises ``ReportQueryError``."""
    category = (category or "").strip() or None
    if category is not None and category not in CATEGORY_NAMES:
        raise ReportQueryError("报告类别不正确，请选择检验或检查")
    raw = (days or "").strip()
    if not raw:
        return ReportQuery(category, DEFAULT_DAYS)
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise ReportQueryError(f"查询天数应为1到{MAX_DAYS}之间的整数")
    return ReportQuery(category, int(raw))


def shanghai_today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def display_time(at: datetime | None) -> str:
    """``2025-06-23 10:42`` in Shanghai time ("" for None)."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if at else ""


def not_viewable_message(reason: str | None, release_at: datetime | None) -> str:
    """What the patient reads when a report cannot be opened online (REPORT_NOT_VIEWABLE)."""
    message = NOT_VIEWABLE_MESSAGES.get(reason or "", NOT_VIEWABLE_FALLBACK)
    if release_at is not None and reason in {"release_delay", "critical_pending_acknowledgement", None, ""}:
        message += f"，预计{display_time(release_at)}后可查看"
    return message


# ---- reading the middleware's JSON ------------------------------------------------------------------
def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _time(raw: Mapping[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _int(raw: Mapping[str, Any], name: str) -> int | None:
    value = raw.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class LabResult:
    code: str
    name: str
    value: str  # as reported, e.g. "11.6" or "阴性"
    unit: str | None
    reference_range: str | None
    flag: str  # N H L A C, or an unknown flag as reported

    @property
    def flag_text(self) -> str:
        return FLAG_TEXTS.get(self.flag, self.flag)

    @property
    def abnormal(self) -> bool:
        """Flagged by the laboratory as anything but normal (an unknown flag included)."""
        return self.flag not in {NORMAL_FLAG, ""}

    @property
    def critical(self) -> bool:
        return self.flag == CRITICAL_FLAG


@dataclass(frozen=True)
class Amendment:
    amended_at: datetime | None
    reason: str


@dataclass(frozen=True)
class ReportSummary:
    report_id: str
    category: str
    title: str
    status: str  # pending | final | amended (or an unknown status as reported)
    version: int
    ordered_at: datetime | None
    expected_at: datetime | None
    finalized_at: datetime | None
    release_at: datetime | None
    online_viewable: bool
    not_viewable_reason: str | None
    abnormal_count: int | None
    has_critical: bool | None
    specimen: str | None = None
    modality: str | None = None
    body_part: str | None = None
    ordering_doctor_name: str | None = None

    @property
    def category_name(self) -> str:
        return CATEGORY_NAMES.get(self.category, self.category)

    @property
    def amended(self) -> bool:
        return self.status == "amended"

    @property
    def state(self) -> str:
        if self.online_viewable:
            return STATE_VIEWABLE
        if self.status == "pending" or self.not_viewable_reason == "pending":
            return STATE_PENDING
        if self.not_viewable_reason in {"release_delay", "critical_pending_acknowledgement"}:
            return STATE_AWAITING_RELEASE
        if self.not_viewable_reason == "policy_restricted":
            return STATE_IN_PERSON
        return STATE_NOT_VIEWABLE

    @property
    def state_text(self) -> str:
        if self.state == STATE_VIEWABLE and self.amended:
            return "已更正"
        return STATE_TEXTS[self.state]

    @property
    def state_note(self) -> str | None:
        """When the report is expected or released, for a report not yet viewable."""
        if self.state == STATE_PENDING and self.expected_at:
            return f"预计{display_time(self.expected_at)}出报告"
        if self.state == STATE_AWAITING_RELEASE and self.release_at:
            return f"预计{display_time(self.release_at)}后可查看"
        if self.state == STATE_IN_PERSON:
            return NOT_VIEWABLE_MESSAGES["policy_restricted"]
        return None


@dataclass(frozen=True)
class ReportDetail:
    summary: ReportSummary
    items: tuple[LabResult, ...]
    findings: str | None
    conclusion: str | None
    reported_by: str | None
    reviewed_by: str | None
    amendment: Amendment | None
    pdf_available: bool

    @property
    def abnormal_items(self) -> list[LabResult]:
        """The flagged items, in the laboratory's order."""
        return [i for i in self.items if i.abnormal]

    @property
    def amended(self) -> bool:
        return self.summary.amended or self.amendment is not None

    @property
    def amendment_note(self) -> str | None:
        if not self.amended:
            return None
        when = display_time(self.amendment.amended_at) if self.amendment else ""
        reason = self.amendment.reason if self.amendment else ""
        note = f"本报告已于{when}更正" if when else "本报告已更正"
        note += f"（第{self.summary.version}版）" if self.summary.version > 1 else ""
        note += f"，原因：{reason}" if reason else ""
        return note + "。如您看过之前的版本，请以本版本为准。"


def summary_from_his(raw: Mapping[str, Any]) -> ReportSummary:
    """A ``ReportSummary`` (spec schema) from the middleware's JSON; raises ``ReportFormatError``."""
    if not isinstance(raw, Mapping):
        raise ReportFormatError("a report is not an object")
    report_id, title = _text(raw, "report_id"), _text(raw, "title")
    if report_id is None or title is None:
        raise ReportFormatError("a report lacks report_id or title")
    status = _text(raw, "status") or "pending"
    return ReportSummary(
        report_id=report_id,
        category=_text(raw, "category") or "",
        title=title,
        status=status,
        version=_int(raw, "version") or 1,
        ordered_at=_time(raw, "ordered_at"),
        expected_at=_time(raw, "expected_at"),
        finalized_at=_time(raw, "finalized_at"),
        release_at=_time(raw, "release_at"),
        online_viewable=raw.get("online_viewable") is True,
        not_viewable_reason=_text(raw, "not_viewable_reason"),
        abnormal_count=_int(raw, "abnormal_count"),
        has_critical=raw.get("has_critical") if isinstance(raw.get("has_critical"), bool) else None,
        specimen=_text(raw, "specimen"),
        modality=_text(raw, "modality"),
        body_part=_text(raw, "body_part"),
        ordering_doctor_name=_text(raw, "ordering_doctor_name"),
    )


def summaries_from_his(body: Any) -> list[ReportSummary]:
    """The list body ``{"items": [...]}``, newest order first; items we cannot read are left out."""
    items = body.get("items") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise ReportFormatError("the report list has no items")
    out: list[ReportSummary] = []
    for raw in items:
        try:
            out.append(summary_from_his(raw))
        except ReportFormatError:
            continue
    oldest = datetime.min.replace(tzinfo=SHANGHAI)
    return sorted(out, key=lambda r: r.ordered_at or oldest, reverse=True)


def _lab_result(raw: Any) -> LabResult | None:
    if not isinstance(raw, Mapping):
        return None
    name, value = _text(raw, "name"), raw.get("value")
    if name is None or value is None:
        return None
    return LabResult(
        code=_text(raw, "code") or "",
        name=name,
        value=str(value),
        unit=_text(raw, "unit"),
        reference_range=_text(raw, "reference_range"),
        flag=_text(raw, "flag") or "",
    )


def detail_from_his(raw: Mapping[str, Any]) -> ReportDetail:
    """A ``ReportDetail`` (spec schema) from the middleware's JSON; raises ``ReportFormatError``."""
    summary = summary_from_his(raw)
    items = [r for r in (_lab_result(i) for i in raw.get("items") or []) if r is not None]
    amendment_raw = raw.get("amendment")
    amendment = (
        Amendment(_time(amendment_raw, "amended_at"), _text(amendment_raw, "reason") or "")
        if isinstance(amendment_raw, Mapping)
        else None
    )
    return ReportDetail(
        summary=summary,
        items=tuple(items),
        findings=_text(raw, "findings"),
        conclusion=_text(raw, "conclusion"),
        reported_by=_text(raw, "reported_by"),
        reviewed_by=_text(raw, "reviewed_by"),
        amendment=amendment,
        pdf_available=raw.get("pdf_available") is True,
    )


def pdf_filename(report_id: str) -> str:
    """The download name of a report's PDF (ASCII: it travels in a Content-Disposition header)."""
    return "report-" + re.sub(r"[^A-Za-z0-9_.-]", "_", report_id) + ".pdf"
