"""The WeChat API client: wechatpy's ``WeChatClient`` with a shared access_token / jsapi_ticket, one
refresher at a time, every request sent to ``api_base_url``, and timeouts on every call.

Why:
  * every ``/cgi-bin/token`` fetch invalidates the previous token, so Lambdas that each refreshed on
    their own would keep invalidating each other's token. The token lives in a shared store
    (``DynamoCredentialStore``); a missing or expired one is fetched by the holder of a short lease
    while the others wait for it, and a token WeChat rejects (40001 / 40014 / 42001) is replaced once,
    only if the store still holds the rejected one (otherwise someone already replaced it);
  * wechatpy builds most URLs from ``API_BASE_URL`` but uses absolute ``https://api.weixin.qq.com/...``
    URLs for the token fetch and a dozen others: a transport adapter rewrites that host for every request,
    so a local fake WeChat server receives all of them.

References:
  * access token: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html
  * JS-SDK ticket: https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62

Imports ``requests`` and ``wechatpy`` (≈250 ms): only ``bootstrap``'s lazy factories import this module.
Nothing here logs a token, secret, code or openid; exceptions raised from here carry no URL.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from chalicelib.observability import get_logger
from chalicelib.services.ports import WeChatSendError

log = get_logger("wechat.client")

WECHAT_API_ORIGIN = "https://api.weixin.qq.com"
TOKEN_URL = f"{WECHAT_API_ORIGIN}/cgi-bin/token"
# invalid credential / invalid access_token / access_token expired
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
DEFAULT_TIMEOUT = (2.0, 4.0)  # (connect, read) seconds


class CredentialStore(Protocol):
    """What the client needs from the shared store (``DynamoCredentialStore``)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, ttl: int | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def acquire_lease(self, name: str, holder: str, seconds: float) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...


# ---- transport -------------------------------------------------------------------------------------
class WeChatTransport(BaseAdapter):
    """Sends ``https://api.weixin.qq.com/...`` requests to ``api_base_url`` instead, and gives every
    request a timeout. ``inner`` does the sending (a plain ``HTTPAdapter`` unless a test passes one)."""

    def __init__(self, api_base_url: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 inner: BaseAdapter | None = None) -> None:
        super().__init__()
        self._base = api_base_url.rstrip("/")
        self._timeout = timeout
        self._inner = inner if inner is not None else HTTPAdapter(max_retries=0)

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float, float] | tuple[float, None] | None = None, verify: bool | str = True,
             cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        url = request.url or ""
        if url.startswith(WECHAT_API_ORIGIN + "/") and self._base != WECHAT_API_ORIGIN:
            request.url = self._base + url[len(WECHAT_API_ORIGIN):]
        return self._inner.send(request, stream=stream, timeout=self._timeout if timeout is None else timeout,
                                verify=verify, cert=cert, proxies=proxies)

    def close(self) -> None:
        self._inner.close()


def wechat_http_session(api_base_url: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                        transport: BaseAdapter | None = None) -> requests.Session:
    """A ``requests`` session whose every request goes through ``WeChatTransport``."""
    http = requests.Session()
    adapter = WeChatTransport(api_base_url, timeout, transport)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    _quiet_urllib3()
    return http


_SENSITIVE_QUERY = re.compile(r"((?:access_token|secret|code|openid|ticket)=)[^&\s\"]+")


class _RedactQuery(logging.Filter):
    """urllib3 logs request URLs at DEBUG; WeChat puts the token and secret in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_SENSITIVE_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in args)
        return True


def _quiet_urllib3() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactQuery) for f in logger.filters):
        logger.addFilter(_RedactQuery())


# ---- one refresher -----------------------------------------------------------------------------------
class SharedCredential:
    """A credential in the shared store that one caller at a time refreshes.

    ``current()`` returns the stored value, or refreshes it when absent. ``replace(rejected)`` refreshes
    only if the store still holds ``rejected`` (compare-and-swap): when someone else already replaced it,
    their value is returned and nothing is fetched. A refresh takes the store's lease; a caller that does
    not get it polls the store for up to ``wait_seconds`` for the holder's value, then gives up with
    ``WeChatSendError(None, ...)`` - it never fetches alongside the holder.
    """

    def __init__(self, store: CredentialStore, name: str, fetch: Callable[[], tuple[str, int]], *,
                 wait_seconds: float = 3.0, poll_seconds: float = 0.05, lease_seconds: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 kind: str = "credential") -> None:
        self._store = store
        self._name = name
        self._fetch = fetch
        self._wait = wait_seconds
        self._poll = poll_seconds
        self._lease = lease_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self._kind = kind

    def current(self) -> str:
        value = self._store.get(self._name)
        if isinstance(value, str) and value:
            return value
        return self._refresh(rejected=None)

    def replace(self, rejected: str) -> str:
        return self._refresh(rejected=rejected)

    def _fresh(self, rejected: str | None) -> str | None:
        value = self._store.get(self._name)
        if isinstance(value, str) and value and value != rejected:
            return value
        return None

    def _refresh(self, rejected: str | None) -> str:
        deadline = self._monotonic() + self._wait
        holder = uuid.uuid4().hex
        while True:
            value = self._fresh(rejected)
            if value is not None:
                return value
            if self._store.acquire_lease(self._name, holder, self._lease):
                try:
                    # Someone may have finished a refresh between our read and our lease.
                    value = self._fresh(rejected)
                    if value is not None:
                        return value
                    value, expires_in = self._fetch()
                    self._store.set(self._name, value, expires_in)
                    log.info("wechat %s refreshed", self._kind, extra={"expires_in": expires_in})
                    return value
                finally:
                    self._store.release_lease(self._name, holder)
            if self._monotonic() >= deadline:
                log.warning("gave up waiting for another caller's wechat %s refresh", self._kind)
                raise WeChatSendError(None, f"timed out waiting for the {self._kind} refresh")
            self._sleep(self._poll)


# ---- the client ----------------------------------------------------------------------------------------
class SharedTokenWeChatClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with the token in ``store`` (shared by all Lambdas) and every request sent to
    ``api_base_url``. Raises wechatpy's exceptions (and ``requests``' for transport failures) like the
    original; wrap calls in ``wechat_errors()`` to get ``WeChatSendError``.

    A rejected token (40001 / 40014 / 42001) is replaced once and the call retried once; a second
    rejection is raised, never retried again.
    """

    def __init__(self, appid: str, secret: str, store: CredentialStore,
                 api_base_url: str = WECHAT_API_ORIGIN, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 transport: BaseAdapter | None = None, wait_seconds: float = 3.0, poll_seconds: float = 0.05,
                 lease_seconds: float = 10.0, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        # auto_retry=False: wechatpy's own retry refetches unconditionally and recurses without bound.
        super().__init__(appid, secret, session=store, timeout=timeout, auto_retry=False)
        self._http = wechat_http_session(api_base_url, timeout, transport)
        timing: dict[str, Any] = {"wait_seconds": wait_seconds, "poll_seconds": poll_seconds,
                                  "lease_seconds": lease_seconds, "sleep": sleep, "monotonic": monotonic}
        self._token = SharedCredential(store, self.access_token_key, self._fetch_token, kind="access_token",
                                       **timing)
        self._ticket = SharedCredential(store, f"{appid}_jsapi_ticket", self._fetch_ticket, kind="jsapi_ticket",
                                        **timing)

    # ---- credentials ------------------------------------------------------------------------------
    @property
    def access_token(self) -> str:
        return self._token.current()

    def fetch_access_token(self) -> dict[str, Any]:
        """Replace the stored token (through the lease, like any refresh)."""
        stored = self.session.get(self.access_token_key)
        return {"access_token": self._token.replace(stored if isinstance(stored, str) else "")}

    def jsapi_ticket(self) -> str:
        """The JS-SDK ticket, shared and refreshed like the token."""
        return self._ticket.current()

    def _fetch_token(self) -> tuple[str, int]:
        result = self._checked(self._http.get(TOKEN_URL, params={
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret}))
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    def _fetch_ticket(self) -> tuple[str, int]:
        result = self.jsapi.get_ticket("jsapi")
        return str(result["ticket"]), int(result.get("expires_in", 7200))

    def _checked(self, res: requests.Response) -> dict[str, Any]:
        if res.status_code >= 400:
            raise WeChatClientException(None, f"HTTP {res.status_code}", client=self)
        try:
            result = res.json()
        except ValueError:
            raise WeChatClientException(None, "answer is not JSON", client=self) from None
        if not isinstance(result, dict):
            raise WeChatClientException(None, "answer is not a JSON object", client=self)
        if int(result.get("errcode") or 0) != 0:
            raise WeChatClientException(int(result["errcode"]), str(result.get("errmsg", "")), client=self)
        return result

    # ---- requests ---------------------------------------------------------------------------------
    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        params = kwargs.get("params")
        if params is not None and (not isinstance(params, dict) or "access_token" in params):
            # The caller manages the token itself (or passes params wechatpy cannot amend): send as is.
            return super()._request(method, url_or_endpoint, **kwargs)
        token = self.access_token
        try:
            return self._send(method, url_or_endpoint, token, kwargs)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
            log.info("wechat rejected the access token; replacing it once", extra={"errcode": exc.errcode})
        return self._send(method, url_or_endpoint, self._token.replace(token), kwargs)

    def _send(self, method: str, url_or_endpoint: str, token: str, kwargs: dict[str, Any]) -> Any:
        # wechatpy's _request mutates kwargs (pops, encodes data): give each attempt its own copy.
        attempt = {**kwargs, "params": {**(kwargs.get("params") or {}), "access_token": token}}
        return super()._request(method, url_or_endpoint, **attempt)


# ---- errors ---------------------------------------------------------------------------------------------
@contextmanager
def wechat_errors(operation: str) -> Iterator[None]:
    """Turn wechatpy / requests failures into ``WeChatSendError`` (errcode None for transport failures).
    The originals are not chained: their messages and requests carry URLs with the token in them."""
    try:
        yield
    except WeChatSendError:
        raise
    except WeChatClientException as exc:
        errcode = int(exc.errcode) if exc.errcode is not None else None
        errmsg = str(exc.errmsg) if exc.errmsg else _http_status(exc)
        error = WeChatSendError(errcode, errmsg)
    except requests.RequestException as exc:
        error = WeChatSendError(None, f"{operation}: {type(exc).__name__}")
    except (KeyError, ValueError) as exc:
        error = WeChatSendError(None, f"{operation}: unexpected answer ({type(exc).__name__})")
    else:
        return
    raise error from None


def _http_status(exc: WeChatClientException) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return f"HTTP {status}" if status is not None else "no answer"


def expect_dict(result: Any) -> dict[str, Any]:
    """wechatpy returns the raw ``Response`` when WeChat's answer is not JSON."""
    if not isinstance(result, dict):
        raise WeChatSendError(None, "answer is not a JSON object")
    return result
