"""The custom menu: WeChat's validation rules for ``menu/create`` and its two read formats.

Rules (WeChat's documentation of 自定义菜单): 1-3 top-level buttons, each either a leaf or 1-5 sub-buttons
(no deeper); names ≤ 16 bytes (top) / ≤ 60 bytes (sub); ``key`` ≤ 128 bytes for click, scancode_*, pic_* and
location_select; ``url`` ≤ 1024 bytes, http(s), for view and miniprogram. Each violation has its own errcode,
one set for top-level buttons and one for sub-buttons.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import WeChatError

KEY_TYPES = {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
             "location_select"}
URL_TYPES = {"view", "miniprogram"}
MEDIA_TYPES = {"media_id", "view_limited"}
ARTICLE_TYPES = {"article_id", "article_view_limited"}
BUTTON_TYPES = KEY_TYPES | URL_TYPES | MEDIA_TYPES | ARTICLE_TYPES

# (top-level, sub-button) errcodes
_SIZE = (40016, 40023)
_TYPE = (40017, 40024)
_NAME = (40018, 40025)
_KEY = (40019, 40026)
_URL = (40020, 40027)
_DOMAIN = (40055, 40054)
_NAME_BYTES = (16, 60)


def _utf8_len(value: Any) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else 0


def _check_leaf(button: dict[str, Any], level: int) -> None:
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise WeChatError(_TYPE[level])
    if kind in KEY_TYPES and not 0 < _utf8_len(button.get("key")) <= 128:
        raise WeChatError(_KEY[level])
    if kind in URL_TYPES:
        url = button.get("url")
        if not 0 < _utf8_len(url) <= 1024:
            raise WeChatError(_URL[level])
        if not str(url).startswith(("http://", "https://")):
            raise WeChatError(_DOMAIN[level])
    if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
        raise WeChatError(40097)
    if kind in MEDIA_TYPES and not button.get("media_id"):
        raise WeChatError(40007)
    if kind in ARTICLE_TYPES and not button.get("article_id"):
        raise WeChatError(40007)


def _check_button(button: Any, level: int) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise WeChatError(47001)
    if not 0 < _utf8_len(button.get("name")) <= _NAME_BYTES[level]:
        raise WeChatError(_NAME[level])
    subs = button.get("sub_button")
    if subs:
        if level == 1:
            raise WeChatError(40022)
        if not isinstance(subs, list):
            raise WeChatError(47001)
        if len(subs) > 5:
            raise WeChatError(_SIZE[1])
        return {"name": button["name"], "sub_button": [_check_button(s, 1) for s in subs]}
    _check_leaf(button, level)
    return {k: copy.deepcopy(v) for k, v in button.items() if k != "sub_button"}


def validate_menu(data: Any) -> list[dict[str, Any]]:
    """The buttons of a ``menu/create`` body, or the errcode WeChat answers."""
    if not isinstance(data, dict) or not isinstance(data.get("button"), list):
        raise WeChatError(47001)
    buttons = data["button"]
    if not 0 < len(buttons) <= 3:
        raise WeChatError(_SIZE[0])
    return [_check_button(b, 0) for b in buttons]


def menu_get_format(buttons: list[dict[str, Any]], menu_id: int) -> dict[str, Any]:
    """``GET /cgi-bin/menu/get``: every button carries ``sub_button`` (empty for leaves)."""
    return {"menu": {"button": [{**b, "sub_button": b.get("sub_button", [])} for b in buttons], "menuid": menu_id}}


def selfmenu_format(buttons: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``GET /cgi-bin/get_current_selfmenu_info``: sub-buttons wrapped in ``{"list": [...]}``."""
    if not buttons:
        return {"is_menu_open": 0, "selfmenu_info": {"button": []}}
    out = [{"name": b["name"], "sub_button": {"list": b["sub_button"]}} if "sub_button" in b else b for b in buttons]
    return {"is_menu_open": 1, "selfmenu_info": {"button": out}}
