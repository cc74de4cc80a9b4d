"""Operator actions on the official account itself: publishing the custom menu."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.menu import MENU, MenuItem, menu_document
from chalicelib.services.ports import WeChatMessenger


def publish_menu(messenger: WeChatMessenger, page_url: Callable[[str], str],
                 menu: tuple[MenuItem, ...] = MENU) -> dict[str, Any]:
    """Send the menu defined in code to WeChat; returns the document sent."""
    document = menu_document(page_url, menu)
    messenger.publish_menu(document)
    return document
