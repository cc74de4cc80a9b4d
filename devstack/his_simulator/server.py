"""HTTP server of the HIS simulator: the hospital middleware contract (``spec/openapi.yaml``) under ``/v1`` and an
unsigned admin API under ``/_sim``.

Every ``/v1`` request except ``GET /v1/health`` must be signed (§4); every response carries ``X-His-Trace-Id`` and
echoes ``X-Request-Id``; errors follow §6. Every operation of the spec has a route; events are served by
``GET /v1/events`` and pushed to ``SimConfig.push_url`` (§8.1, ``push.py``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.serving import ThreadedWSGIServer

from . import routes
from .auth import SIGNATURE_HEADERS, SignedRequest, raw_path_and_query
from .errors import HisError, validation_error
from .simulator import Simulator
from .web import DROP_CONNECTION, error_response
from .web import sim as _simulator

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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
    app.wsgi_app = DropConnection(app.wsgi_app)  # type: ignore[method-assign]
    return app


class DropConnection:
    """WSGI middleware: when a ``when: drop`` fault marked the request, the operation has run and its outcome is
    stored; instead of the response the connection is closed (the client sees a reset / RemoteDisconnected)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = self.app(environ, start_response)
        if not environ.get(DROP_CONNECTION):
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()
        connection = environ.get("werkzeug.socket")
        if isinstance(connection, socket.socket):  # werkzeug keeps the connection open after a ConnectionError
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        raise ConnectionError("response dropped by an injected fault")


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
    simulator = _simulator()
    simulator.push.wake()  # the request may have recorded events
    if request.path.startswith("/_sim/"):
        return response
    code = None
    if response.status_code >= 400 and response.is_json:
        body: Any = response.get_json(silent=True)
        code = body.get("code") if isinstance(body, dict) else None
    entry = {
        "at": simulator.now().isoformat(timespec="seconds"),
        "method": request.method,
        "path": request.path,
        "operation": g.get("operation_id"),
        "status": response.status_code,
        "code": code,
        "replayed": bool(g.get("replayed", False)),
        "trace_id": g.get("trace_id", ""),
    }
    if request.environ.get(DROP_CONNECTION):
        entry["dropped"] = True  # status is what would have been answered
    simulator.record_request(entry)
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


class SimulatorServer(ThreadedWSGIServer):
    """The threaded werkzeug server, holding its simulator; ``shutdown()`` also stops the event deliverer."""

    simulator: Simulator

    def shutdown(self) -> None:
        super().shutdown()
        self.simulator.close()


def make_simulator_server(host: str, port: int, sim: Simulator | None = None) -> SimulatorServer:
    app = create_app(sim)
    server = SimulatorServer(host, port, app)
    server.simulator = app.extensions["his_simulator"]
    return server


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, sim: Simulator | None = None
) -> tuple[SimulatorServer, threading.Thread, str]:
    """Serve in a daemon thread (threaded werkzeug server). Returns (server, thread, base_url ending in /v1);
    stop it with ``server.shutdown()`` (which also stops the event deliverer). ``port=0`` picks a free port. The
    simulator is ``server.simulator`` (and ``server.app.extensions["his_simulator"]``)."""
    server = make_simulator_server(host, port, sim)
    thread = threading.Thread(target=server.serve_forever, name=f"his-simulator-{server.server_port}", daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_port}/v1"
