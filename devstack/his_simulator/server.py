"""HTTP server of the HIS simulator: the hospital middleware contract (``spec/openapi.yaml``) under ``/v1`` and an
unsigned admin API under ``/_sim``.

Every ``/v1`` request except ``GET /v1/health`` must be signed (§4); every response carries ``X-His-Trace-Id`` and
echoes ``X-Request-Id``; errors follow §6. Operations not implemented yet have no route (404) and are listed in
``NOT_YET_IMPLEMENTED``.

NOT_YET_IMPLEMENTED:
    GET  /v1/patients/{patient_id}/reports, /reports/{report_id}, /reports/{report_id}/pdf
    GET  /v1/patients/{patient_id}/charges
    POST /v1/appointments/{appointment_id}/check-in; GET /v1/visits/{visit_id}/queue
    GET  /v1/visits, /v1/visits/{visit_id}
    POST /v1/settlements, /settlements/{id}/confirm, /cancel, /refunds; GET /v1/settlements, /settlements/{id}
    GET  /v1/reconciliation/{date}, /reconciliation/{date}/file
    Event push to the integrator's endpoint (§8.1); the log is recorded and served by GET /v1/events
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.serving import BaseWSGIServer, make_server

from . import routes
from .auth import SIGNATURE_HEADERS, SignedRequest, raw_path_and_query
from .errors import HisError, validation_error
from .simulator import Simulator
from .web import error_response
from .web import sim as _simulator

NOT_YET_IMPLEMENTED: tuple[str, ...] = (
    "listReports",
    "getReport",
    "getReportPdf",
    "listCharges",
    "checkInAppointment",
    "getQueueStatus",
    "listVisits",
    "getVisit",
    "prepareSettlement",
    "querySettlements",
    "getSettlement",
    "confirmSettlement",
    "cancelSettlement",
    "refundSettlementItems",
    "getReconciliationSummary",
    "getReconciliationFile",
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_END_USER = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
log = logging.getLogger(__name__)


def create_app(sim: Simulator | None = None) -> Flask:
    app = Flask(__name__)
    app.extensions["his_simulator"] = sim or Simulator()
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    routes.register(app)
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(HisError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def _before() -> Response | None:
    g.trace_id = uuid.uuid4().hex[:16]
    request_id = request.headers.get("X-Request-Id")
    if request_id is not None and _REQUEST_ID.match(request_id):
        g.request_id = request_id
    if not request.path.startswith("/v1/"):
        return None
    if request_id is not None and not _REQUEST_ID.match(request_id):
        raise validation_error({"X-Request-Id": "at most 64 characters of A-Z a-z 0-9 . _ : -"})
    if request.method == "GET" and request.path == "/v1/health":
        return None
    path, raw_query = raw_path_and_query(request.environ)
    headers = {name: request.headers.get(name, "") for name in SIGNATURE_HEADERS}
    g.app_id = _simulator().verifier.verify(
        SignedRequest(request.method, path, raw_query, request.get_data(cache=True), headers)
    )
    end_user = request.headers.get("X-His-End-User")
    if end_user is not None and not _END_USER.match(end_user):
        raise validation_error({"X-His-End-User": "16-64 characters of A-Z a-z 0-9 _ -"})
    return None


def _after(response: Response) -> Response:
    response.headers["X-His-Trace-Id"] = g.get("trace_id", "")
    if g.get("request_id"):
        response.headers["X-Request-Id"] = g.request_id
    if request.path.startswith("/_sim/"):
        return response
    code = None
    if response.status_code >= 400 and response.is_json:
        body: Any = response.get_json(silent=True)
        code = body.get("code") if isinstance(body, dict) else None
    simulator = _simulator()
    simulator.record_request(
        {
            "at": simulator.now().isoformat(timespec="seconds"),
            "method": request.method,
            "path": request.path,
            "operation": g.get("operation_id"),
            "status": response.status_code,
            "code": code,
            "replayed": bool(g.get("replayed", False)),
            "trace_id": g.get("trace_id", ""),
        }
    )
    return response


def _http_error(error: HTTPException) -> Response:
    if isinstance(error, NotFound):
        return error_response(HisError("RESOURCE_NOT_FOUND", "no such endpoint", {"resource": "endpoint"}))
    if isinstance(error, MethodNotAllowed):
        response = error_response(HisError("VALIDATION_ERROR", "method not allowed", status=405))
        if error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response
    status = error.code or 500
    code = "VALIDATION_ERROR" if 400 <= status < 500 else "INTERNAL_ERROR"
    return error_response(HisError(code, error.description or "", status=status))


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    log.exception("unexpected error in %s %s", request.method, request.path)
    return error_response(HisError("INTERNAL_ERROR"))


# ---------------------------------------------------------------- running it


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, sim: Simulator | None = None
) -> tuple[BaseWSGIServer, threading.Thread, str]:
    """Serve in a daemon thread (threaded werkzeug server). Returns (server, thread, base_url ending in /v1);
    stop it with ``server.shutdown()``. ``port=0`` picks a free port. The simulator is ``server.app`` 's
    ``extensions["his_simulator"]`` and also ``server.simulator``."""
    app = create_app(sim)
    server = make_server(host, port, app, threaded=True)
    server.simulator = app.extensions["his_simulator"]  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name=f"his-simulator-{server.server_port}", daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_port}/v1"
