"""HTTP middleware: one access-log line per request, and no raw 500 ever reaches a patient."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.api.errors import error_response
from chalicelib.observability import get_logger

log = get_logger("http")
BUSY_MESSAGE = "服务暂时繁忙，请稍后再试"


def access_log_and_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    started = time.perf_counter()
    try:
        response = get_response(event)
    except Exception:
        # Details go to the log (redacted); the patient gets a calm message and can retry.
        log.exception("unhandled error", extra={"path": event.path, "method": event.method})
        response = error_response(503, "SERVICE_UNAVAILABLE", BUSY_MESSAGE)
    if response.status_code == 500:
        # Chalice has already logged the traceback of a failed view; the patient gets a calm message.
        response = error_response(503, "SERVICE_UNAVAILABLE", BUSY_MESSAGE)
    log.info(
        "request",
        extra={
            "method": event.method,
            "path": event.path,  # query strings are never logged: they may carry personal data
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return response
