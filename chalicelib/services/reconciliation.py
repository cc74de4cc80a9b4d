"""Daily reconciliation (对账, spec §7.8.3): ask the HIS for a day's summary and file, reconcile them
against our records, keep the report, and compensate what is safe to compensate.

``request_reconciliation`` queues ``getReconciliationSummary`` and ``getReconciliationFile`` for a
Shanghai date (the schedule does it hourly from 03:00 until the day is done). Their results arrive in
any order; ``apply_reconciliation_result`` notes each one and, once the summary says ``ready`` and
the file is here, verifies the file against the summary's SHA-256, reconciles it against our records
of the day and its neighbours (and the WeChat Pay bill when one is wired), and stores the report.
``RECONCILIATION_NOT_READY`` leaves the run waiting. Two compensations are done automatically: a
refund the HIS approved that we never executed becomes a ``RefundObligation`` (source RECONCILIATION)
unless one is already known for that ``out_refund_no``; and a payment of ours the HIS never accounted is
resumed by its owner (``resume_paid``: the booking or the charges settlement sends its confirmation again
under the same key, so the HIS confirms it or refuses it and the refusal is refunded). Everything else
is listed for staff (the finance office gets it by 10:00 the next working day).

Idempotent: the same file again changes nothing; obligations are keyed by ``out_refund_no``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

from chalicelib.domain.his_messages import OUTCOME_ERROR, HisRequest, HisResult
from chalicelib.domain.jobs import Job, JobState
from chalicelib.domain.reconciliation import (
    DiscrepancyKind,
    Reconciliation,
    ReconciliationFileError,
    ReconciliationReport,
    RunState,
    day_start,
    parse_his_file,
    parse_summary,
    reconcile,
    resolve_with_next_day,
    sha256_matches,
)
from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource
from chalicelib.observability import get_logger
from chalicelib.services.ports import (
    BlobStore,
    Clock,
    HisRequestQueue,
    IdFactory,
    JobRepository,
    PaymentRecords,
    ReconciliationReports,
    RefundObligations,
    WeChatPayBill,
)

# (order id or settlement_request_no, business type) -> True if its owner resumed it (confirmation sent again)
ResumePaid = Callable[[str, BusinessType], bool]

PURPOSE = "reconciliation"
JOB_KIND = "reconciliation"
SUMMARY = "summary"
FILE = "file"
OPERATIONS = {SUMMARY: "getReconciliationSummary", FILE: "getReconciliationFile"}
NOT_READY = "RECONCILIATION_NOT_READY"

log = get_logger("reconciliation")


def request_reconciliation(
    day: date,
    queue: HisRequestQueue,
    reports: ReconciliationReports,
    jobs: JobRepository,
    clock: Clock,
    new_id: IdFactory,
    force: bool = False,
) -> list[Job]:
    """Ask the HIS for ``day``'s summary and file; nothing when the day is done (unless ``force``)."""
    held = reports.get(day)
    if held is not None and held.done and not force:
        return []
    now = clock()
    if held is None:
        reports.save(ReconciliationReport(day, RunState.WAITING, now, "requested"))
    started = []
    for part, operation in OPERATIONS.items():
        request = HisRequest(
            request_id=new_id(),
            operation=operation,
            requested_at=now,
            path_params={"date": day.isoformat()},
            context={"purpose": PURPOSE, "date": day.isoformat(), "part": part},
        )
        job = Job(request.request_id, JOB_KIND, f"{day.isoformat()} {part}", request.request_id, JobState.REQUESTED, now)
        jobs.add(job)
        queue.send(request)
        started.append(job)
    log.info("reconciliation requested", extra={"date": day.isoformat()})
    return started


def apply_reconciliation_result(
    result: HisResult,
    reports: ReconciliationReports,
    records: PaymentRecords,
    obligations: RefundObligations,
    blobs: BlobStore,
    jobs: JobRepository,
    clock: Clock,
    bill: WeChatPayBill | None = None,
    resume_paid: ResumePaid | None = None,
) -> ReconciliationReport | None:
    """Note one summary or file result and reconcile the day once both are there. None: not ours."""
    if result.context.get("purpose") != PURPOSE:
        return None
    part = result.context.get("part", "")
    try:
        day = date.fromisoformat(result.context.get("date", ""))
    except ValueError:
        day = None
    if day is None or part not in OPERATIONS:
        log.warning("reconciliation result without a usable date or part", extra={"request_id": result.request_id})
        return None
    now = clock()
    if result.outcome == OUTCOME_ERROR:
        code = result.error.code if result.error else "error"
        jobs.finish(result.request_id, JobState.FAILED, now, code)
        log.info("reconciliation input not available", extra={"date": day.isoformat(), "part": part, "code": code})
        detail = "the HIS has not generated the file yet" if code == NOT_READY else f"{part}: {code}"
        return _waiting(reports, day, now, detail)
    try:
        if part == SUMMARY:
            payload = result.body if result.body_ref is None else blobs.get_json(result.body_ref["bucket"],
                                                                                  result.body_ref["key"])
            summary = parse_summary(payload)
            if summary.day != day:
                raise ReconciliationFileError(f"a summary of {summary.day.isoformat()} answered {day.isoformat()}")
            held_summary, _ = reports.inputs(day)
            if summary.ready or held_summary is None or not held_summary.ready:  # never back to "generating"
                reports.note_summary(summary, now)
        else:
            if result.body_ref is None:
                raise ReconciliationFileError("the file result carries no body_ref")
            reports.note_file(day, result.body_ref, now)
    except ReconciliationFileError as exc:
        jobs.finish(result.request_id, JobState.FAILED, now, str(exc))
        log.error("unusable reconciliation result", extra={"date": day.isoformat(), "part": part, "error": str(exc)})
        return _waiting(reports, day, now, f"{part}: {exc}")
    jobs.finish(result.request_id, JobState.APPLIED, now, part)
    return reconcile_day(day, reports, records, obligations, blobs, clock, bill, resume_paid)


def _waiting(reports: ReconciliationReports, day: date, now: datetime, detail: str,
             state: RunState = RunState.WAITING) -> ReconciliationReport:
    held = reports.get(day)
    if held is not None and held.done:
        return held  # a late or repeated answer never undoes a finished day
    report = replace(held, state=state, updated_at=now, detail=detail) if held is not None else \
        ReconciliationReport(day, state, now, detail)
    reports.save(report)
    return report


def reconcile_day(
    day: date,
    reports: ReconciliationReports,
    records: PaymentRecords,
    obligations: RefundObligations,
    blobs: BlobStore,
    clock: Clock,
    bill: WeChatPayBill | None = None,
    resume_paid: ResumePaid | None = None,
) -> ReconciliationReport:
    """Reconcile ``day`` from the summary and file noted so far (or say what it is waiting for)."""
    now = clock()
    summary, ref = reports.inputs(day)
    if summary is None or ref is None or not summary.ready:
        what = "the summary" if summary is None else "the file" if ref is None else "the HIS to finish the file"
        return _waiting(reports, day, now, f"waiting for {what}")
    held = reports.get(day)
    if held is not None and held.done and summary.file_sha256 and held.file_sha256 == summary.file_sha256:
        return held  # the file this report was made from (its blob may have expired by now: not read again)
    data = blobs.get_bytes(ref["bucket"], ref["key"])
    try:
        his = parse_his_file(data)
    except ReconciliationFileError as exc:
        return _waiting(reports, day, now, f"unreadable file: {exc}", RunState.FAILED)
    if held is not None and held.done and held.file_sha256 == his.sha256:
        return held  # the same file again: nothing changes, nothing is compensated twice
    verified = sha256_matches(data, summary.file_sha256)
    if summary.file_sha256 and not verified:
        return _waiting(reports, day, now, "the file does not match the summary's file_sha256", RunState.FAILED)

    neighbours = {}
    for other in (day - timedelta(days=1), day + timedelta(days=1)):
        other_report = reports.get(other)
        if other_report is not None and other_report.result is not None:
            neighbours[other] = other_report.result.his_keys
    start, end = day_start(day - timedelta(days=1)), day_start(day + timedelta(days=2))
    outcome = reconcile(day, his.records, records.between(start, end),
                        bill.entries_between(start, end) if bill is not None else None, neighbours)
    compensated = _compensate(outcome, obligations, now, resume_paid) if verified else []
    earlier = held.compensated if held is not None else ()
    detail = "" if verified else "no file_sha256 in the summary: unverified, nothing compensated automatically"
    report = ReconciliationReport(day, RunState.DONE, now, detail, summary, his.sha256, verified, outcome,
                                  his.problems, tuple(dict.fromkeys((*earlier, *compensated))))
    reports.save(report)
    _close_previous_day(reports, day, outcome, now)
    log.info("reconciled", extra={
        "date": day.isoformat(), "matched": outcome.matched, "discrepancies": len(outcome.open),
        "compensated": len(compensated), "malformed_lines": len(his.problems), "verified": verified})
    return report


def _compensate(outcome: Reconciliation, obligations: RefundObligations, now: datetime,
                resume_paid: ResumePaid | None = None) -> list[str]:
    """Record a refund obligation for each approved refund we never executed, and resume each paid order the
    HIS never accounted (its confirmation is sent again under the same key: the HIS confirms it or refuses,
    and a refusal after payment is refunded). Returns the out_refund_nos recorded and "resumed:<order>"."""
    recorded = []
    for d in outcome.open:
        if d.kind is DiscrepancyKind.PAID_NOT_IN_HIS and d.caller_ref and resume_paid is not None:
            try:
                if resume_paid(d.caller_ref, BusinessType(d.business_type)):
                    recorded.append(f"resumed:{d.caller_ref}")
            except ValueError:
                pass  # a business type we do not know: left for staff
            continue
        if not d.handling.auto_compensable or d.his_amount_fen is None or not d.patient_id:
            continue
        out_refund_no = d.reference
        if obligations.get(out_refund_no) is not None:
            continue  # already owed (and perhaps being executed right now)
        try:
            business_type = BusinessType(d.business_type)
        except ValueError:
            continue  # a business type we do not know: left for staff
        obligation = RefundObligation(
            out_refund_no=out_refund_no, business_type=business_type, his_trade_id=d.his_trade_id or "",
            caller_ref=d.caller_ref, amount_fen=d.his_amount_fen, patient_id=d.patient_id,
            source=RefundSource.RECONCILIATION, reason=f"reconciliation {outcome.day.isoformat()}", created_at=now,
            his_refund_id=d.his_refund_id,
        )
        if obligations.record(obligation):
            recorded.append(out_refund_no)
    return recorded


def _close_previous_day(reports: ReconciliationReports, day: date, outcome: Reconciliation, now: datetime) -> None:
    previous = reports.get(day - timedelta(days=1))
    if previous is None or previous.result is None:
        return
    updated = resolve_with_next_day(previous.result, outcome.his_keys)
    if updated is not previous.result:
        reports.save(replace(previous, result=updated, updated_at=now))
