"""The fake WeChat platform as one Flask app: WeChat's APIs (``/cgi-bin``, ``/sns``, ``/connect``), the admin API
(``/_fake``) and the simulator page (``/_sim``).

Hooks: before a WeChat API call, an injected fault for its path answers instead (``/_fake/faults``), then
``/cgi-bin`` calls other than the token ones need a valid ``access_token``; after it, the call is recorded
(``/_fake/calls``) with secrets redacted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from . import admin, api, messages, oauth, simulator, sms
from .config import DEFAULT_ACCOUNT_ID, FakeConfig
from .errors import WeChatError
from .state import FakeState
from .web import EXTENSION, error_response, fake, reply

log = logging.getLogger(__name__)
WECHAT_PREFIXES = ("/cgi-bin/", "/sns/", "/connect/")
REDACTED = {"secret", "appsecret"}
TRUNCATED = {"access_token", "refresh_token", "ticket"}


def create_app(state: FakeState) -> Flask:
    app = Flask(__name__)
    app.extensions[EXTENSION] = state
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    for module in (api, messages, oauth, admin, simulator, sms):
        app.register_blueprint(module.bp)
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(WeChatError, error_response)
    app.register_error_handler(admin.AdminError, admin.admin_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _before() -> Response | None:
    if not request.path.startswith(WECHAT_PREFIXES):
        return None
    fault = fake().take_fault(request.path)
    if fault is not None:
        return error_response(fault)
    if request.path.startswith("/cgi-bin/") and request.path not in api.TOKEN_PATHS:
        fake().check_token(request.args.get("access_token"))
    return None


def _after(response: Response) -> Response:
    if request.path.startswith(WECHAT_PREFIXES):
        try:
            _record(response)
        except Exception:  # recording must never break the answer
            log.exception("could not record %s %s", request.method, request.path)
    return response


def _http_error(error: HTTPException) -> Response:
    if request.path.startswith(WECHAT_PREFIXES):
        return reply({"errcode": error.code, "errmsg": f"{error.name}: the fake has no {request.method} {request.path}"},
                     error.code or 500)
    return reply({"error": f"{error.code} {error.name}"}, error.code or 500)


def _clean(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: "***" if k in REDACTED else (f"{str(v)[:12]}…" if k in TRUNCATED and v else _clean(v))
                for k, v in data.items()}
    if isinstance(data, list):
        return [_clean(v) for v in data]
    return data


def _openids(*sources: Any) -> list[str]:
    found: list[str] = []
    for source in sources:
        if not isinstance(source, dict):
            continue
        for key in ("openid", "touser", "openid_list"):
            value = source.get(key)
            values = value if isinstance(value, list) else [value]
            found.extend(v for v in values if isinstance(v, str) and v not in found)
    return found


def _record(response: Response) -> None:
    body = request.get_json(silent=True, force=True) if request.method == "POST" else None
    answer: Any = response.get_json(silent=True) if response.is_json else None
    if answer is None and response.status_code in (301, 302):
        answer = {"location": response.headers.get("Location", "")}
    query = request.args.to_dict()
    openids = _openids(query, body, answer)
    if request.path == "/connect/oauth2/authorize" and request.cookies.get(oauth.COOKIE):
        openids.append(request.cookies[oauth.COOKIE])
    errcode = answer.get("errcode", 0) if isinstance(answer, dict) else None
    fake().record_call({
        "at": fake().now(), "method": request.method, "path": request.path, "query": _clean(query),
        "body": _clean(body), "status": response.status_code, "response": _clean(answer), "errcode": errcode,
        "openid": openids[0] if openids else None, "openids": openids,
    })


# ---------------------------------------------------------------- running it
def start_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    webhook_url: str,
    appid: str,
    secret: str,
    token: str,
    aes_key: str,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> tuple[BaseWSGIServer, threading.Thread, str]:
    """Serve in a daemon thread (threaded werkzeug). Returns (server, thread, base_url) — base_url is what the app's
    ``WECHAT_API_BASE_URL`` should be; the simulator page is ``base_url + "/_sim/"``. ``server.state`` is the
    ``FakeState``. Stop with ``server.shutdown()``; ``port=0`` picks a free port."""
    config = FakeConfig(appid=appid, secret=secret, token=token, aes_key=aes_key, account_id=account_id,
                        webhook_url=webhook_url)
    state = FakeState(config)
    server = make_server(host, port, create_app(state), threaded=True)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name=f"wechat-fake-{server.server_port}", daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_port}"
