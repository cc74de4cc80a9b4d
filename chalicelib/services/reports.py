"""The logged-in user's patients and their lab and exam reports (spec §7.7), read live through the bridge.

Only patients bound to the user's openid (``PatientBindings``) can be read; any other ``patient_id``
is "not found", and the attempt is logged under the user's pseudonym only. Every request to the HIS
carries that pseudonym as ``end_user`` (``X-His-End-User``, spec §4.5), never the openid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.his_messages import OUTCOME_OK, HisRequest, end_user_pseudonym
from chalicelib.domain.patients import PatientBinding
from chalicelib.domain.refusals import RefusalError
from chalicelib.domain.reports import (
    ReportDetail,
    ReportFormatError,
    ReportQuery,
    ReportSummary,
    detail_from_his,
    is_valid_id,
    not_viewable_message,
    pdf_filename,
    shanghai_today,
    summaries_from_his,
)
from chalicelib.observability import get_logger
from chalicelib.services.live_reads import (
    HisRefusedError,
    LiveReadUnavailableError,
    is_definite_refusal,
    live_read,
)
from chalicelib.services.ports import BlobStore, Clock, HisLiveReader, IdFactory, LiveCopies, PatientBindings

log = get_logger("reports")

PDF_LINK_SECONDS = 60
PATIENT_NOT_FOUND_MESSAGE = "未找到该就诊人"
REPORT_NOT_FOUND_MESSAGE = "未找到该报告，可能已被撤回"
NOT_LINKED_MESSAGE = "该就诊人的绑定需要更新，请重新绑定后再查询报告"
PDF_UNAVAILABLE_MESSAGE = "暂时无法获取报告PDF，请稍后再试"


@dataclass(frozen=True)
class ReportsContext:
    """The ports the report use cases need (built by ``bootstrap``)."""

    bindings: PatientBindings
    reader: HisLiveReader
    copies: LiveCopies
    blobs: BlobStore
    clock: Clock
    new_id: IdFactory
    end_user_key: bytes


class ReportsError(RefusalError):
    """A reports refusal the page shows (see ``RefusalError``)."""


@dataclass(frozen=True)
class ReportList:
    patient: PatientBinding
    reports: list[ReportSummary]
    as_of: datetime
    live: bool


@dataclass(frozen=True)
class ReportView:
    patient: PatientBinding
    report: ReportDetail
    as_of: datetime
    live: bool


@dataclass(frozen=True)
class PdfLink:
    url: str
    expires_in: int


def my_patients(openid: str, ctx: ReportsContext) -> list[PatientBinding]:
    return ctx.bindings.patients_of(openid)


def _pseudonym(openid: str, ctx: ReportsContext) -> str:
    return end_user_pseudonym(openid, ctx.end_user_key)


def _bound_patient(openid: str, patient_id: str, ctx: ReportsContext) -> PatientBinding:
    found = next((b for b in ctx.bindings.patients_of(openid) if b.patient_id == patient_id), None)
    if found is None:
        log.warning("report access refused: patient not bound to this user",
                    extra={"end_user": _pseudonym(openid, ctx)})
        raise ReportsError(404, "PATIENT_NOT_FOUND", PATIENT_NOT_FOUND_MESSAGE)
    return found


def _request(operation: str, openid: str, ctx: ReportsContext, path_params: dict[str, str],
             query: dict[str, str] | None = None) -> HisRequest:
    return HisRequest(
        request_id=ctx.new_id(),
        operation=operation,
        requested_at=ctx.clock(),
        path_params=path_params,
        query=query or {},
        end_user=_pseudonym(openid, ctx),
        context={"purpose": "live_read"},
    )


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _refused(exc: HisRefusedError, what: str) -> ReportsError:
    """Our answer to a definite HIS error about a patient's reports."""
    if exc.code == "REPORT_NOT_VIEWABLE":
        reason = exc.details.get("reason")
        release_at = _parse_time(exc.details.get("release_at"))
        return ReportsError(409, exc.code, not_viewable_message(reason if isinstance(reason, str) else None, release_at),
                            reason=reason if isinstance(reason, str) else None,
                            release_at=release_at)
    if exc.code in {"PATIENT_NOT_LINKED", "PATIENT_NOT_FOUND"}:
        return ReportsError(409, "PATIENT_NOT_LINKED", NOT_LINKED_MESSAGE)
    if exc.status == 404:
        return ReportsError(404, "NOT_FOUND", REPORT_NOT_FOUND_MESSAGE if what == "report" else PATIENT_NOT_FOUND_MESSAGE)
    log.error("the HIS refused a report read", extra={"his_code": exc.code, "status": exc.status})
    return ReportsError(503, "HIS_UNAVAILABLE", "报告查询暂时无法使用，请稍后再试")


def _unavailable(exc: LiveReadUnavailableError) -> ReportsError:
    return ReportsError(503, exc.code, exc.message)


def list_reports(openid: str, patient_id: str, query: ReportQuery, ctx: ReportsContext) -> ReportList:
    patient = _bound_patient(openid, patient_id, ctx)
    date_from, date_to = query.date_range(shanghai_today(ctx.clock()))
    his_query = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    if query.category:
        his_query["category"] = query.category
    request = _request("listReports", openid, ctx, {"patient_id": patient_id}, his_query)
    key = f"reports#{patient_id}#{query.category or 'all'}#{query.days}"
    try:
        view = live_read(key, request, ctx.reader, ctx.copies, ctx.clock, ctx.blobs)
        reports = summaries_from_his(view.body)
    except HisRefusedError as exc:
        raise _refused(exc, "patient") from exc
    except LiveReadUnavailableError as exc:
        raise _unavailable(exc) from exc
    except ReportFormatError as exc:
        log.error("unreadable report list from the HIS", extra={"error": str(exc)})
        raise ReportsError(503, "HIS_UNAVAILABLE", "报告查询暂时无法使用，请稍后再试") from exc
    return ReportList(patient, reports, view.as_of, view.live)


def report_detail(openid: str, patient_id: str, report_id: str, ctx: ReportsContext) -> ReportView:
    patient = _bound_patient(openid, patient_id, ctx)
    if not is_valid_id(report_id):
        raise ReportsError(404, "NOT_FOUND", REPORT_NOT_FOUND_MESSAGE)
    request = _request("getReport", openid, ctx, {"patient_id": patient_id, "report_id": report_id})
    try:
        view = live_read(f"report#{patient_id}#{report_id}", request, ctx.reader, ctx.copies, ctx.clock, ctx.blobs)
        report = detail_from_his(view.body)
    except HisRefusedError as exc:
        raise _refused(exc, "report") from exc
    except LiveReadUnavailableError as exc:
        raise _unavailable(exc) from exc
    except ReportFormatError as exc:
        log.error("unreadable report from the HIS", extra={"error": str(exc)})
        raise ReportsError(503, "HIS_UNAVAILABLE", "报告查询暂时无法使用，请稍后再试") from exc
    return ReportView(patient, report, view.as_of, view.live)


def report_pdf(openid: str, patient_id: str, report_id: str, ctx: ReportsContext) -> PdfLink:
    """A short-lived link to the signed PDF, fetched live (a stale PDF is never offered)."""
    _bound_patient(openid, patient_id, ctx)
    if not is_valid_id(report_id):
        raise ReportsError(404, "NOT_FOUND", REPORT_NOT_FOUND_MESSAGE)
    result = ctx.reader.read(_request("getReportPdf", openid, ctx, {"patient_id": patient_id, "report_id": report_id}))
    if result is not None and result.error is not None and is_definite_refusal(result):
        raise _refused(HisRefusedError(result.status, result.error), "report")
    ref = result.body_ref if result is not None and result.outcome == OUTCOME_OK else None
    if ref is None or ref.get("content_type", "application/pdf") != "application/pdf":
        log.warning("report pdf not available now",
                    extra={"his_code": result.error.code if result is not None and result.error else "NO_ANSWER"})
        raise ReportsError(503, "PDF_UNAVAILABLE", PDF_UNAVAILABLE_MESSAGE)
    url = ctx.blobs.presigned_url(ref["bucket"], ref["key"], PDF_LINK_SECONDS, pdf_filename(report_id))
    return PdfLink(url, PDF_LINK_SECONDS)
