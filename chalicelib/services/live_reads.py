"""Live reads: ask the HIS now through the bridge, and fall back to the last good answer.

Pages that show a patient's current data (reports, later charges and queues) cannot wait for the
queue-based bridge. ``live_read`` invokes the bridge directly with a short timeout
(``HisLiveReader``); a good answer is shown and kept (``LiveCopies``, 7 days). When the bridge does not
answer in time, or the HIS is unavailable, busy or in its nightly maintenance, the kept copy is shown
with the time it was fetched. A definite refusal by the HIS (a 4xx business error that is not
retryable, e.g. ``REPORT_NOT_VIEWABLE``) is the answer and is never hidden behind an older copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.his_messages import OUTCOME_NOT_MODIFIED, OUTCOME_OK, HisError, HisRequest, HisResult
from chalicelib.observability import get_logger
from chalicelib.services.ports import BlobStore, Clock, HisLiveReader, LiveCopies, LiveCopy

log = get_logger("live_reads")

COPY_TTL = timedelta(days=7)
UNAVAILABLE_MESSAGE = "医院系统暂时无法访问，请稍后再试"
MAINTENANCE_MESSAGE = "医院系统每晚23:30至次日0:30维护，请稍后再试"


@dataclass(frozen=True)
class LiveView:
    body: Any
    as_of: datetime  # when the HIS gave this answer
    live: bool  # False: a kept copy, shown because the HIS could not answer now


class LiveReadUnavailableError(Exception):
    """Neither the HIS nor a kept copy can answer; ``message`` is Chinese, for the patient."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE, code: str = "HIS_UNAVAILABLE") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class HisRefusedError(Exception):
    """The HIS gave a definite answer that is not data (a non-retryable 4xx business error)."""

    def __init__(self, status: int, error: HisError) -> None:
        super().__init__(error.code)
        self.status = status
        self.error = error

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def details(self) -> Mapping[str, Any]:
        return self.error.details if self.error is not None else {}


def is_definite_refusal(result: HisResult) -> bool:
    """A business error that will not change by asking again (spec §6: 4xx with ``retryable: false``)."""
    return result.error is not None and not result.error.retryable and 400 <= result.status < 500


def result_body(result: HisResult, blobs: BlobStore | None) -> Any:
    """The JSON body of a good result, from wherever the bridge put it."""
    if result.body_ref is None:
        return result.body
    if blobs is None:
        raise LiveReadUnavailableError()
    return blobs.get_json(result.body_ref["bucket"], result.body_ref["key"])


def _kept(key: str, copies: LiveCopies, now: datetime) -> LiveCopy | None:
    copy = copies.get(key)
    if copy is None or now - copy.as_of > COPY_TTL:
        return None
    return copy


def live_read(
    key: str,
    request: HisRequest,
    reader: HisLiveReader,
    copies: LiveCopies,
    clock: Clock,
    blobs: BlobStore | None = None,
) -> LiveView:
    """The HIS's answer to ``request`` now, else the copy kept under ``key``.

    Raises ``HisRefusedError`` for a definite business error and ``LiveReadUnavailableError`` when
    there is nothing to show."""
    result = reader.read(request)
    if result is not None and result.outcome == OUTCOME_OK:
        body = result_body(result, blobs)
        try:
            copies.put(key, body, result.fetched_at)
        except Exception:  # keeping the copy is best effort: the patient still gets the live answer
            log.exception("could not keep the live copy", extra={"operation": request.operation})
        return LiveView(body, result.fetched_at, live=True)
    if result is not None and result.error is not None and is_definite_refusal(result):
        raise HisRefusedError(result.status, result.error)
    copy = _kept(key, copies, clock())
    if result is not None and result.outcome == OUTCOME_NOT_MODIFIED and copy is not None:
        return LiveView(copy.body, result.fetched_at, live=True)
    code = result.error.code if result is not None and result.error else "NO_ANSWER"
    log.warning("live read fell back", extra={"operation": request.operation, "his_code": code,
                                              "kept_copy": copy is not None})
    if copy is not None:
        return LiveView(copy.body, copy.as_of, live=False)
    if code == "HIS_MAINTENANCE":
        raise LiveReadUnavailableError(MAINTENANCE_MESSAGE, code)
    raise LiveReadUnavailableError()
