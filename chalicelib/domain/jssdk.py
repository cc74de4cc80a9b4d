"""The JS-SDK signature a page passes to ``wx.config``.

WeChat's rule (JS-SDK 说明文档, 附录1 "JS-SDK使用权限签名算法",
https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html): SHA-1 of
``jsapi_ticket=…&noncestr=…&timestamp=…&url=…`` with the fields in that (ASCII) order, the values
as they are (not URL-encoded), and the page URL without its ``#`` fragment. SHA-1 is WeChat's choice.
"""

from __future__ import annotations

import hashlib

MAX_PAGE_URL_CHARS = 2048


def page_url(url: str) -> str:
    """The part of a page URL that is signed: everything before the first ``#``."""
    return url.split("#", 1)[0]


def signature(*, jsapi_ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    plain = f"jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page_url(url)}"
    return hashlib.sha1(plain.encode("utf-8"), usedforsecurity=False).hexdigest()


def is_page_of(url: str, base_url: str) -> bool:
    """True when ``url`` is a page under ``base_url`` (our H5 origin, no trailing slash).

    Anything with whitespace or control characters, or not starting with ``base_url + "/"``, is
    refused: ``https://h5.example@evil`` or ``https://h5.example.evil/`` do not qualify.
    """
    if not base_url or not url or len(url) > MAX_PAGE_URL_CHARS:
        return False
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return False
    return page_url(url).startswith(base_url.rstrip("/") + "/")
