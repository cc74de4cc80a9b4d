"""The official account's custom menu, defined in code: 诊前 / 诊中 / 诊后.

A ``click`` item is answered by the handler registered for its key; a ``view`` item opens an H5 page.
``publish-menu`` (``python -m chalicelib.cli publish-menu``) sends it to WeChat.

Menu reference: https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote


class MenuKey(StrEnum):
    """Keys of the ``click`` items; each has a handler (``chalicelib.services.wechat_handlers``)."""

    NEAREST_CAMPUS = "NEAREST_CAMPUS"
    QUEUE = "QUEUE"
    ARTICLES = "ARTICLES"
    FOLLOW_UP = "FOLLOW_UP"
    CONSULT = "CONSULT"
    FAQ = "FAQ"
    CONTACT = "CONTACT"


@dataclass(frozen=True)
class MenuItem:
    name: str
    key: MenuKey | None = None  # click
    page: str | None = None  # view: a path under the H5 base URL
    children: tuple[MenuItem, ...] = ()
    # The page shows the user's own data: open it through WeChat login (OAuth) straight away, rather than
    # loading it, getting a 401 and redirecting.
    login: bool = False

    def url_path(self) -> str:
        assert self.page is not None
        return f"{LOGIN_PATH}?next=/{quote(self.page, safe='')}" if self.login else self.page


LOGIN_PATH = "api/auth/login"


MENU: tuple[MenuItem, ...] = (
    MenuItem("诊前", children=(
        MenuItem("医院介绍", page="index.html"),
        MenuItem("科室医生", page="departments.html"),
        MenuItem("预约挂号", page="booking.html"),
        MenuItem("就近院区", key=MenuKey.NEAREST_CAMPUS),
        MenuItem("收费标准", page="fees.html"),
    )),
    MenuItem("诊中", children=(
        MenuItem("就诊卡", page="cards.html", login=True),  # cards: the family list and binding
        MenuItem("排队叫号", key=MenuKey.QUEUE),
        MenuItem("门诊缴费", page="charges.html", login=True),  # payments: unpaid charges, pay, e-receipt
        MenuItem("报告查询", page="reports.html", login=True),
        MenuItem("院区导航", page="campuses.html"),
    )),
    MenuItem("诊后", children=(
        MenuItem("健康资讯", key=MenuKey.ARTICLES),
        MenuItem("随访问卷", key=MenuKey.FOLLOW_UP),
        MenuItem("咨询医生", key=MenuKey.CONSULT),
        MenuItem("常见问题", key=MenuKey.FAQ),
        MenuItem("联系我们", key=MenuKey.CONTACT),
    )),
)


def menu_keys(menu: tuple[MenuItem, ...] = MENU) -> list[MenuKey]:
    return [i.key for top in menu for i in (top, *top.children) if i.key is not None]


def menu_pages(menu: tuple[MenuItem, ...] = MENU) -> list[str]:
    return [i.page for top in menu for i in (top, *top.children) if i.page is not None]


def menu_document(page_url: Callable[[str], str], menu: tuple[MenuItem, ...] = MENU) -> dict[str, Any]:
    """The ``menu/create`` body; ``page_url`` turns a page path into the public H5 URL."""

    def button(item: MenuItem) -> dict[str, Any]:
        if item.children:
            return {"name": item.name, "sub_button": [button(c) for c in item.children]}
        if item.key is not None:
            return {"type": "click", "name": item.name, "key": item.key.value}
        if item.page is not None:
            return {"type": "view", "name": item.name, "url": page_url(item.url_path())}
        raise ValueError(f"menu item {item.name!r} has neither a key, a page nor children")

    return {"button": [button(top) for top in menu]}
