"""H5 login and JS-SDK on the WeChat API: the OAuth2 code exchange (``snsapi_base``) and the shared
``jsapi_ticket``.

References:
  * web OAuth2: https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
  * JS-SDK ticket: https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62

Neither the code, the user's access token nor the openid is logged or put in an error message.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import BaseAdapter

from chalicelib.adapters.wechat.client import (
    DEFAULT_TIMEOUT,
    SharedTokenWeChatClient,
    expect_dict,
    wechat_errors,
    wechat_http_session,
)
from chalicelib.services.ports import WeChatSendError


class WeChatApiOAuth:
    """``OAuthCodeExchange``: the openid an OAuth2 code stands for. WeChat refuses a code that is
    invalid or expired (40029) or already used (40163); these come back as ``WeChatSendError``."""

    def __init__(self, appid: str, secret: str, api_base_url: str, *,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, transport: BaseAdapter | None = None) -> None:
        self._appid = appid
        self._secret = secret
        self._base = api_base_url.rstrip("/")
        self._http = wechat_http_session(api_base_url, timeout, transport)

    def openid_for_code(self, code: str) -> str:
        with wechat_errors("oauth_code_exchange"):
            res = self._http.get(f"{self._base}/sns/oauth2/access_token", params={
                "appid": self._appid, "secret": self._secret, "code": code, "grant_type": "authorization_code"})
            result = _answer(res)
            openid = result.get("openid")
            if not isinstance(openid, str) or not openid:
                raise WeChatSendError(None, "answer has no openid")
            return openid


def _answer(res: requests.Response) -> dict[str, Any]:
    if res.status_code >= 400:
        raise WeChatSendError(None, f"HTTP {res.status_code}")
    try:
        result = expect_dict(res.json())
    except ValueError:
        raise WeChatSendError(None, "answer is not JSON") from None
    errcode = int(result.get("errcode") or 0)
    if errcode:
        raise WeChatSendError(errcode, str(result.get("errmsg", "")))
    return result


class WeChatApiJsapi:
    """``JsapiTicketSource``: the JS-SDK ticket, shared by all Lambdas and refreshed by one of them."""

    def __init__(self, client: SharedTokenWeChatClient) -> None:
        self._client = client

    def ticket(self) -> str:
        with wechat_errors("jsapi_ticket"):
            return self._client.jsapi_ticket()
