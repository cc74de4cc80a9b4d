"""Two AWS fronts of our Lambdas, locally, on one threaded HTTP server.

* **Lambda's Invoke API** (``POST /2015-03-31/functions/{name}/invocations``), so the app's boto3 Lambda
  client (``LAMBDA_ENDPOINT_URL``) reaches a registered Python handler the way it reaches Lambda:
  ``X-Amz-Invocation-Type`` ``RequestResponse`` (default), ``Event`` (202, runs in the background) or
  ``DryRun`` (204); the payload is the JSON event, the handler's return value the JSON answer. A handler
  that raises, returns something that is not JSON, or overruns its timeout answers ``200`` with
  ``X-Amz-Function-Error: Unhandled`` and Lambda's error payload (``errorMessage``, ``errorType``). An
  unknown function is ``404 ResourceNotFoundException``; a payload that is not JSON ``400``.
* **An internal ALB** in front of a Lambda target: an HTTP request to a registered path (e.g.
  ``/his/events``, where the middleware pushes events) becomes the ALB event (``httpMethod``, ``path``,
  lower-case ``headers``, ``queryStringParameters`` as sent, not decoded, ``body``, ``isBase64Encoded``)
  and the handler's response dict (``statusCode``, ``headers``, ``body``, ``isBase64Encoded``) the HTTP
  response; a handler that fails or answers nonsense is ``502``, as the ALB does.

``start_in_thread(host, port, functions, routes)`` serves both; stop it with ``server.shutdown()``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.pump import LambdaContext
from devstack.servers import LocalServer

Handler = Callable[[Any, Any], Any]
log = logging.getLogger("devstack.lambda_gateway")

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"
DEFAULT_TIMEOUT_SECONDS = 30.0
ACCOUNT = "000000000000"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded", "application/javascript")


def function_name(raw: str) -> str:
    """The function's name from what a caller may send: a name, ``name:qualifier``, or an ARN."""
    name = urllib.parse.unquote(raw)
    if name.startswith("arn:"):
        parts = name.split(":")
        return parts[6] if len(parts) > 6 else name
    return name.split(":", 1)[0]


def run_with_timeout(handler: Handler, event: Any, context: LambdaContext, timeout: float) -> tuple[bool, Any]:
    """Run ``handler`` in a worker thread: ``(True, result)``, ``(False, error payload)``. An overrunning
    handler is abandoned (its thread runs on, as a frozen Lambda sandbox would) and reported as timed out."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = handler(event, context)
        except Exception as exc:
            outcome["error"] = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                                "stackTrace": traceback.format_tb(exc.__traceback__)}

    worker = threading.Thread(target=work, name=f"lambda-{context.function_name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return False, {"errorMessage": f"{context.aws_request_id} Task timed out after {timeout:.2f} seconds",
                       "errorType": "Sandbox.Timedout"}
    if "error" in outcome:
        return False, outcome["error"]
    return True, outcome.get("result")


def alb_event(method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The event an ALB sends its Lambda target (single-value headers and query parameters)."""
    path, _, query = raw_path.partition("?")
    params: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        params[name] = value  # the ALB passes them as sent, still percent-encoded
    content_type = headers.get("content-type", "")
    text = None
    if not body or content_type.startswith(_TEXT_TYPES):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return {
        "requestContext": {"elb": {"targetGroupArn": f"arn:aws:elasticloadbalancing:local:{ACCOUNT}:targetgroup/local/0"}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": params,
        "headers": dict(headers),
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": text is None,
    }


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    functions: Mapping[str, Handler] = {}
    timeouts: Mapping[str, float] = {}
    routes: Mapping[str, Handler] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: payloads may carry patient data, and handlers log for themselves

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _aws_error(self, status: int, error_type: str, message: str) -> None:
        self._json(status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": error_type})

    # ---- Lambda Invoke ------------------------------------------------------------------------
    def _invoke(self, raw_name: str) -> None:
        body = self._body()
        name = function_name(raw_name)
        handler = self.functions.get(name)
        if handler is None:
            self._aws_error(404, "ResourceNotFoundException", f"Function not found: {name}")
            return
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            self._aws_error(400, "InvalidRequestContentException", "Could not parse request body into json")
            return
        invocation = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        timeout = self.timeouts.get(name, DEFAULT_TIMEOUT_SECONDS)
        context = LambdaContext(name, invoked_function_arn=f"arn:aws:lambda:local:{ACCOUNT}:function:{name}",
                                deadline_ms=time.time() * 1000 + timeout * 1000)
        if invocation == "DryRun":
            self._send(204, b"")
            return
        if invocation == "Event":
            threading.Thread(target=run_with_timeout, args=(handler, event, context, timeout), daemon=True).start()
            self._send(202, b"")
            return
        ok, result = run_with_timeout(handler, event, context, timeout)
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": context.aws_request_id}
        if ok:
            try:
                self._json(200, result, headers)
                return
            except (TypeError, ValueError) as exc:
                result = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError"}
        log.warning("function %s failed: %s", name, result.get("errorType"))
        self._json(200, result, {**headers, "X-Amz-Function-Error": "Unhandled"})

    # ---- ALB ----------------------------------------------------------------------------------
    def _alb(self, handler: Handler) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        event = alb_event(self.command, self.path, headers, self._body())
        ok, response = run_with_timeout(handler, event, LambdaContext("alb-target"), DEFAULT_TIMEOUT_SECONDS)
        if not ok or not isinstance(response, Mapping) or not isinstance(response.get("statusCode"), int):
            log.warning("ALB target failed or answered no response dict")
            self._send(502, b"502 Bad Gateway", {"Content-Type": "text/plain"})
            return
        raw = response.get("body") or ""
        try:
            body = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode("utf-8")
        except (binascii.Error, ValueError):
            self._send(502, b"502 Bad Gateway", {"Content-Type": "text/plain"})
            return
        out = {str(k): str(v) for k, v in (response.get("headers") or {}).items() if str(k).lower() != "content-length"}
        self._send(response["statusCode"], body, out)

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.command == "POST" and path.startswith(INVOKE_PREFIX) and path.endswith(INVOKE_SUFFIX):
            self._invoke(path[len(INVOKE_PREFIX):-len(INVOKE_SUFFIX)])
        elif path in self.routes:
            self._alb(self.routes[path])
        else:
            self._body()
            self._send(404, b"Not Found", {"Content-Type": "text/plain"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


def start_in_thread(
    host: str,
    port: int,
    functions: Mapping[str, Handler],
    routes: Mapping[str, Handler] | None = None,
    timeouts: Mapping[str, float] | None = None,
) -> tuple[ThreadingHTTPServer, threading.Thread, str]:
    """Serve in a daemon thread; returns (server, thread, base_url). ``port=0`` picks a free port;
    ``timeouts`` are seconds per function (default 30)."""
    bound = type("BoundGatewayHandler", (GatewayHandler,),
                 {"functions": dict(functions), "routes": dict(routes or {}), "timeouts": dict(timeouts or {})})
    server = LocalServer((host, port), bound)
    thread = threading.Thread(target=server.serve_forever, name=f"lambda-gateway-{server.server_port}", daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_port}"
