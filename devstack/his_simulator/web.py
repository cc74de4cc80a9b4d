"""HTTP plumbing shared by the route modules: JSON responses, ETags, and the ``operation`` decorator that applies
rate limits (§5.4), maintenance (§5.5), injected faults, idempotency (§5.3) and the state lock around a view."""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, request

from .errors import HisError, validation_error
from .idempotency import KEY_PATTERN, StoredResponse, fingerprint
from .simulator import Simulator

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# WSGI environ key set when an injected fault wants the connection closed without a response (server.DropConnection).
DROP_CONNECTION = "his_simulator.drop_connection"

# Operation kinds: what the nightly maintenance window blocks (§5.5).
SYSTEM = "system"
REFERENCE = "reference"  # reference data, schedules, slots, notices: served (from cache) during maintenance
PATIENT_READ = "patient_read"
WRITE = "write"

F = TypeVar("F", bound=Callable[..., Response])


def sim() -> Simulator:
    return cast(Simulator, current_app.extensions["his_simulator"])


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(dumps(body), status=status, content_type=JSON_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: HisError) -> Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return json_response(error.body(g.get("trace_id", "")), error.http_status, headers)


def etag_response(body: Any) -> Response:
    """200 with a strong ETag over the content, or 304 when ``If-None-Match`` names it (§2.2)."""
    payload = dumps(body)
    etag = hashlib.sha256(payload).hexdigest()[:32]
    if request.if_none_match.contains(etag) or request.if_none_match.star_tag:
        response = Response(status=304)
        response.set_etag(etag)
        return response
    response = Response(payload, status=200, content_type=JSON_CONTENT_TYPE)
    response.set_etag(etag)
    return response


def json_body() -> Any:
    """The parsed JSON request body, or VALIDATION_ERROR."""
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise validation_error({"body": "must be valid UTF-8 JSON"}) from None


def operation(operation_id: str, kind: str = REFERENCE, idempotent: bool = False) -> Callable[[F], F]:
    """Mark a view as the spec operation ``operation_id`` and run it with the cross-cutting rules."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            g.operation_id = operation_id
            simulator = sim()
            try:
                _check_rate_limits(simulator, operation_id)
                _check_maintenance(simulator, kind)
                if idempotent:
                    return _run_idempotent(simulator, operation_id, view, args, kwargs)
                return _run(simulator, operation_id, view, args, kwargs, None)
            except HisError as error:
                return error_response(error)

        wrapper.operation_id = operation_id  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def _check_rate_limits(simulator: Simulator, operation_id: str) -> None:
    app_id = g.get("app_id")
    if app_id is None:  # unsigned (GET /v1/health)
        return
    refusal = simulator.rate_limited(app_id, operation_id, request.view_args)
    if refusal is not None:
        raise HisError(
            "HIS_BUSY",
            details={"reason": "rate_limit", "scope": refusal.scope},
            retry_after=refusal.retry_after,
        )


def _check_maintenance(simulator: Simulator, kind: str) -> None:
    if not simulator.config.enforce_maintenance or kind in (SYSTEM, REFERENCE):
        return
    now = simulator.now()
    inside, _, end = simulator.maintenance_window(now)
    if inside:
        raise HisError(
            "HIS_MAINTENANCE",
            details={"window_end": end.isoformat(timespec="seconds")},
            retry_after=max(int((end - now).total_seconds()), 1),
        )


def _run(
    simulator: Simulator,
    operation_id: str,
    view: Callable[..., Response],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_outcome: Callable[[Response], None] | None,
) -> Response:
    fault = simulator.faults.take(operation_id)
    if fault is not None and fault.delay_seconds and fault.delay_at == "before":
        time.sleep(fault.delay_seconds)  # outside the lock: concurrent requests keep being served
    if fault is not None and fault.code and fault.when == "before":
        raise fault.error()
    with simulator.lock:
        try:
            simulator.tick()
            response = view(*args, **kwargs)
        except HisError as error:
            response = error_response(error)
    if on_outcome is not None:
        on_outcome(response)  # committed: a same-key retry from now on is replayed
    if fault is not None and fault.delay_seconds and fault.delay_at == "after":
        time.sleep(fault.delay_seconds)
    if fault is not None and fault.when == "drop":
        request.environ[DROP_CONNECTION] = True
    if fault is not None and fault.code and fault.when == "after":
        raise fault.error()
    return response


def _run_idempotent(
    simulator: Simulator,
    operation_id: str,
    view: Callable[..., Response],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Response:
    key = request.headers.get("Idempotency-Key", "")
    if not KEY_PATTERN.match(key):
        raise validation_error({"Idempotency-Key": "required: 8-64 characters of A-Z a-z 0-9 . _ : -"})
    raw = request.get_data(cache=True)
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = {"__unparsable__": raw.decode("latin-1")}
    app_id: str = g.app_id
    store = simulator.idempotency
    begin = store.begin(app_id, operation_id, key, fingerprint(request.path, parsed), simulator.now())
    if begin.reused:
        raise HisError("IDEMPOTENCY_KEY_REUSED", details={"idempotency_key": key})
    if begin.in_progress:
        raise HisError("REQUEST_IN_PROGRESS", details={"idempotency_key": key}, retry_after=1)
    if begin.replay is not None:
        stored = begin.replay
        response = Response(stored.body, status=stored.status, content_type=JSON_CONTENT_TYPE)
        for name, value in stored.headers.items():
            response.headers[name] = value
        response.headers["Idempotent-Replayed"] = "true"
        g.replayed = True
        return response

    stored_outcome = False

    def store_outcome(response: Response) -> None:
        nonlocal stored_outcome
        kept = {k: v for k, v in response.headers.items() if k in ("Retry-After", "Location")}
        store.finish(app_id, operation_id, key, StoredResponse(response.status_code, response.get_data(), kept))
        stored_outcome = True

    try:
        return _run(simulator, operation_id, view, args, kwargs, store_outcome)
    except BaseException:
        if not stored_outcome:  # nothing happened (fault before, crash): a retry runs again
            store.abandon(app_id, operation_id, key)
        raise
