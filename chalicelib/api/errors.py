"""Errors as the H5 pages show them: ``{"code": ..., "message": <Chinese, for people>}``."""

from __future__ import annotations

from datetime import datetime

from chalice.app import Response

from chalicelib.domain.refusals import RefusalError

JSON = {"Content-Type": "application/json; charset=utf-8"}
NO_STORE = {"Cache-Control": "no-store"}  # personal answers


def error_response(status: int, code: str, message: str) -> Response:
    return Response(body={"code": code, "message": message}, status_code=status, headers=dict(JSON))


def bad_request(message: str) -> Response:
    return error_response(400, "BAD_REQUEST", message)


def not_found(message: str) -> Response:
    return error_response(404, "NOT_FOUND", message)


def refusal(exc: RefusalError) -> Response:
    """Any feature's refusal as the page reads it: code, message and what it needs to act (times in Shanghai
    time; ``retry_after`` also as the ``Retry-After`` header). Personal answers are never cached."""
    from chalicelib.api.views import local_time

    extra = {k: local_time(v) if isinstance(v, datetime) else v for k, v in exc.extra.items()}
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else {}
    return Response(body={"code": exc.code, "message": exc.message, **extra}, status_code=exc.status,
                    headers={**JSON, **NO_STORE, **headers})
