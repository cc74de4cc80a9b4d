"""Errors as the H5 pages show them: ``{"code": ..., "message": <Chinese, for people>}``."""

from __future__ import annotations

from chalice.app import Response

JSON = {"Content-Type": "application/json; charset=utf-8"}


def error_response(status: int, code: str, message: str) -> Response:
    return Response(body={"code": code, "message": message}, status_code=status, headers=dict(JSON))


def bad_request(message: str) -> Response:
    return error_response(400, "BAD_REQUEST", message)


def not_found(message: str) -> Response:
    return error_response(404, "NOT_FOUND", message)
