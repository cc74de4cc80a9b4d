"""Lab and exam reports (§7.7): the release policy, patient-scoped reads, and the hospital side (LIS/PACS) that
creates, finalizes, amends reports and acknowledges critical values.

Release: ``release_at`` = finalization of the current version + the delay of ``release_rule_code`` (§7.1); rules
that are never online give ``policy_restricted``; a report with a critical value (flag ``C``) is held until the
clinician has acknowledged it and released no earlier than that acknowledgement. ``release_due`` announces each
released version once with ``report.finalized`` (§8.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from . import policy, schemas
from .clock import at, fmt, parse_local_datetime
from .errors import HisError, not_found, validation_error
from .events import emit_for_patient
from .patients import require_linked, require_patient
from .state import Amendment, HisState, LabItem, Report

MAX_RANGE_DAYS = 180
CATEGORIES = ("lab", "exam")
STATUSES = ("pending", "final", "amended")
DEFAULT_RULES = {"lab": "lab_default", "exam": "exam_default"}
ABNORMAL_FLAGS = ("H", "L", "A", "C")
_ANNOUNCED = "report.announced:"  # counters key: the last version announced with report.finalized


@dataclass(frozen=True)
class Release:
    """When the current version is (or was) viewable online, and why not yet (None once viewable)."""

    release_at: datetime | None
    reason: str | None

    @property
    def viewable(self) -> bool:
        return self.reason is None


def current_status(report: Report, now: datetime) -> str:
    """``pending`` also while a finalization recorded for a later simulated time has not happened yet."""
    if report.status == "pending" or report.finalized_at is None or report.finalized_at > now:
        return "pending"
    return report.status


def has_critical(report: Report) -> bool:
    return any(item.flag == "C" for item in report.items)


def abnormal_count(report: Report) -> int:
    return sum(item.flag in ABNORMAL_FLAGS for item in report.items)


def release(report: Report, now: datetime) -> Release:
    if current_status(report, now) == "pending":
        return Release(None, "pending")
    assert report.finalized_at is not None
    _, delay_minutes, online = policy.REPORT_RELEASE_RULES[report.release_rule_code]
    if not online:
        return Release(None, "policy_restricted")
    release_at = report.finalized_at + timedelta(minutes=delay_minutes)
    if has_critical(report):
        if report.critical_acknowledged_at is None or report.critical_acknowledged_at > now:
            return Release(None, "critical_pending_acknowledgement")
        release_at = max(release_at, report.critical_acknowledged_at)
    if now < release_at:
        return Release(release_at, "release_delay")
    return Release(release_at, None)


# ---------------------------------------------------------------- patient-scoped reads


def of_patient(
    state: HisState,
    app_id: str,
    patient_id: str,
    date_from: date,
    date_to: date,
    category: str | None,
    status: str | None,
    now: datetime,
) -> list[Report]:
    """A linked patient's reports ordered in the range (order date), newest first."""
    require_linked(state, app_id, patient_id)
    found = [
        r
        for r in state.reports.values()
        if r.patient_id == patient_id
        and date_from <= r.ordered_at.date() <= date_to
        and (category is None or r.category == category)
        and (status is None or current_status(r, now) == status)
    ]
    return sorted(found, key=lambda r: (r.ordered_at, r.report_id), reverse=True)


def get(state: HisState, app_id: str, patient_id: str, report_id: str) -> Report:
    require_linked(state, app_id, patient_id)
    report = state.reports.get(report_id)
    if report is None or report.patient_id != patient_id:
        raise not_found("report", report_id)
    return report


def get_viewable(state: HisState, app_id: str, patient_id: str, report_id: str, now: datetime) -> Report:
    """The report, or ``409 REPORT_NOT_VIEWABLE`` with ``details.reason`` and ``details.release_at``."""
    report = get(state, app_id, patient_id, report_id)
    released = release(report, now)
    if not released.viewable:
        raise HisError(
            "REPORT_NOT_VIEWABLE",
            details={"report_id": report_id, "reason": released.reason, "release_at": fmt(released.release_at)},
        )
    return report


# ---------------------------------------------------------------- time-driven: release announcements


def _announced_version(state: HisState, report: Report) -> int:
    return state.counters.get(_ANNOUNCED + report.report_id, 0)


def release_due(state: HisState, now: datetime) -> list[Report]:
    """Emit ``report.finalized`` once per released version not yet announced; returns the reports announced.

    Reports released before the seeded day are history: marked as announced without an event.
    """
    history_end = at(state.seed_date, "00:00")
    announced = []
    for report in sorted(state.reports.values(), key=lambda r: (r.finalized_at or now, r.report_id)):
        released = release(report, now)
        if not released.viewable or _announced_version(state, report) >= report.version:
            continue
        state.counters[_ANNOUNCED + report.report_id] = report.version
        assert released.release_at is not None
        if released.release_at < history_end:
            continue
        emit_for_patient(state, report.patient_id, "report.finalized", _finalized_data(report, released), now)
        announced.append(report)
    return announced


def _finalized_data(report: Report, released: Release) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "patient_id": report.patient_id,
        "visit_id": report.visit_id,
        "category": report.category,
        "title": report.title,
        "status": report.status,
        "version": report.version,
        "finalized_at": fmt(report.finalized_at),
        "released_at": fmt(released.release_at),
    }


# ---------------------------------------------------------------- hospital side (LIS / PACS)


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    return body


def _items(raw: Any) -> list[LabItem]:
    if not isinstance(raw, list):
        raise validation_error({"items": "must be an array of lab items"})
    problems: dict[str, str] = {}
    for index, item in enumerate(raw):
        problems.update(schemas.field_errors("LabItem", item, prefix=f"items.{index}"))
    if problems:
        raise validation_error(problems)
    return [
        LabItem(
            code=item["code"],
            name=item["name"],
            value=item["value"],
            numeric_value=item.get("numeric_value"),
            unit=item.get("unit"),
            reference_range=item.get("reference_range"),
            flag=item["flag"],
        )
        for item in raw
    ]


def _optional_text(body: dict[str, Any], name: str, problems: dict[str, str]) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        problems[name] = "must be a string or null"
        return None
    return value


def _optional_time(body: dict[str, Any], name: str, problems: dict[str, str]) -> datetime | None:
    raw = body.get(name)
    if raw is None:
        return None
    parsed = parse_local_datetime(raw)
    if parsed is None:
        problems[name] = "must be an ISO 8601 date-time with the offset +08:00"
    return parsed


_TEXT_FIELDS = ("findings", "conclusion", "reported_by", "reviewed_by")


def _apply_results(report: Report, body: dict[str, Any]) -> None:
    """Items, findings, conclusion and staff from a finalize or amend body (only the fields given)."""
    problems: dict[str, str] = {}
    texts = {name: _optional_text(body, name, problems) for name in _TEXT_FIELDS if name in body}
    if problems:
        raise validation_error(problems)
    if "items" in body:
        if report.category == "exam" and body["items"]:
            raise validation_error({"items": "exam reports have findings and a conclusion, not items"})
        report.items = _items(body["items"])
    for name, value in texts.items():
        setattr(report, name, value)


def create(state: HisState, patient_id: str, body: Any, now: datetime) -> Report:
    """A new pending report ordered for a patient (optionally with results already entered)."""
    body = _object(body)
    require_patient(state, patient_id)
    problems: dict[str, str] = {}
    category = body.get("category")
    if category not in CATEGORIES:
        problems["category"] = "must be one of lab, exam"
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        problems["title"] = "required"
    rule = body.get("release_rule_code") or DEFAULT_RULES.get(str(category), "")
    rules = policy.REPORT_RELEASE_RULES
    if category in CATEGORIES and (rule not in rules or rules[rule][0] != category):
        problems["release_rule_code"] = "must be a rule of /policies for this category"
    visit_id = body.get("visit_id")
    if visit_id is not None and (visit_id not in state.visits or state.visits[visit_id].patient_id != patient_id):
        problems["visit_id"] = "must be a visit of this patient"
    ordered_at = _optional_time(body, "ordered_at", problems) or now
    expected_at = _optional_time(body, "expected_at", problems)
    texts = {n: _optional_text(body, n, problems) for n in ("specimen", "modality", "body_part", "ordering_doctor_name")}
    department_id = body.get("department_id")
    if department_id is not None and department_id not in state.departments:
        problems["department_id"] = "unknown department"
    if problems:
        raise validation_error(problems)
    if visit_id is not None and department_id is None:
        department_id = state.visits[visit_id].department_id
    system = "LIS" if category == "lab" else "PACS"
    report_id = f"R-{system}-{now:%Y%m%d}-{state.next_number(f'R-{system}-{now:%Y%m%d}', 5001):06d}"
    report = Report(
        report_id=report_id,
        patient_id=patient_id,
        visit_id=visit_id,
        category=category,
        title=title.strip(),
        status="pending",
        version=1,
        ordered_at=ordered_at,
        release_rule_code=rule,
        department_id=department_id,
        ordering_doctor_name=texts["ordering_doctor_name"],
        specimen=texts["specimen"],
        modality=texts["modality"],
        body_part=texts["body_part"],
        expected_at=expected_at,
    )
    _apply_results(report, body)
    state.reports[report_id] = report
    return report


def require_report(state: HisState, report_id: str) -> Report:
    report = state.reports.get(report_id)
    if report is None:
        raise not_found("report", report_id)
    return report


def finalize(state: HisState, report_id: str, body: Any, now: datetime) -> Report:
    """pending -> final at ``body.at`` (default now; a later time finalizes when the clock gets there)."""
    body = _object(body)
    report = require_report(state, report_id)
    if report.status != "pending":
        raise HisError("INVALID_STATE", details={"current_status": report.status})
    problems: dict[str, str] = {}
    when = _optional_time(body, "at", problems) or now
    if problems:
        raise validation_error(problems)
    _apply_results(report, body)
    if report.category == "lab" and not report.items:
        raise validation_error({"items": "a lab report needs at least one item to be finalized"})
    report.status = "final"
    report.finalized_at = when
    report.expected_at = None
    return report


def amend(state: HisState, report_id: str, body: Any, now: datetime) -> Report:
    """Correct a final report: version + 1, ``amendment`` with time and reason, released again by the same rule
    from the amendment (``finalized_at`` is the current version's). New critical values need a new
    acknowledgement."""
    body = _object(body)
    report = require_report(state, report_id)
    if current_status(report, now) == "pending":
        raise HisError("INVALID_STATE", details={"current_status": "pending"})
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise validation_error({"reason": "required"})
    had_critical = {i.code for i in report.items if i.flag == "C"}
    _apply_results(report, body)
    if {i.code for i in report.items if i.flag == "C"} - had_critical:
        report.critical_acknowledged_at = None
    report.status = "amended"
    report.version += 1
    report.finalized_at = now
    report.amendment = Amendment(now, reason.strip())
    return report


def acknowledge_critical(state: HisState, report_id: str, body: Any, now: datetime) -> Report:
    """The clinician acknowledged the critical value(s): the report may be released from then on."""
    body = _object(body)
    report = require_report(state, report_id)
    if not has_critical(report):
        raise HisError("INVALID_STATE", "report has no critical value", {"has_critical": False})
    problems: dict[str, str] = {}
    when = _optional_time(body, "at", problems) or now
    if problems:
        raise validation_error(problems)
    report.critical_acknowledged_at = when
    return report
