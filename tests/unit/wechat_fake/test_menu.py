"""``menu/create`` follows WeChat's rules, each violation with its errcode; the menu reads back in both formats."""

from __future__ import annotations

import pytest

from .conftest import WeChatApi


def click(name="按钮", key="K"):
    return {"type": "click", "name": name, "key": key}


def view(name="网页", url="http://127.0.0.1:8080/"):
    return {"type": "view", "name": name, "url": url}


VALID = {"button": [
    click("科室介绍", "DEPTS"),
    {"name": "就医服务", "sub_button": [view("预约挂号"), click("排队叫号", "QUEUE")]},
    view("我的"),
]}


def test_valid_menu_reads_back_in_both_formats(wx: WeChatApi):
    assert wx.post("/cgi-bin/menu/create", VALID) == {"errcode": 0, "errmsg": "ok"}
    menu = wx.get("/cgi-bin/menu/get")["menu"]
    assert [b["name"] for b in menu["button"]] == ["科室介绍", "就医服务", "我的"]
    assert menu["button"][0] == {**click("科室介绍", "DEPTS"), "sub_button": []}
    assert menu["button"][1]["sub_button"][1] == click("排队叫号", "QUEUE")
    info = wx.get("/cgi-bin/get_current_selfmenu_info")
    assert info["is_menu_open"] == 1
    assert info["selfmenu_info"]["button"][1] == {"name": "就医服务",
                                                  "sub_button": {"list": [view("预约挂号"), click("排队叫号", "QUEUE")]}}


def test_limits_are_inclusive():
    from devstack.wechat_fake.menu import validate_menu

    buttons = validate_menu({"button": [
        click("一二三四五A", "k" * 128),  # 16 bytes, 128-byte key
        {"name": "子", "sub_button": [click("二" * 20, f"K{i}") for i in range(5)]},  # 60-byte names, 5 subs
        view(url="https://x/" + "a" * 1014),  # 1024 bytes
    ]})
    assert len(buttons) == 3 and len(buttons[1]["sub_button"]) == 5


@pytest.mark.parametrize(("buttons", "errcode"), [
    ([], 40016),
    ([click(f"B{i}", f"K{i}") for i in range(4)], 40016),
    ([{"name": "多", "sub_button": [click(f"S{i}", f"K{i}") for i in range(6)]}], 40023),
    ([click("一二三四五六", "K")], 40018),  # 18 bytes
    ([click("", "K")], 40018),
    ([{"name": "子", "sub_button": [click("一" * 21, "K")]}], 40025),  # 63 bytes
    ([{"type": "click", "name": "无键"}], 40019),
    ([click("长键", "k" * 129)], 40019),
    ([{"name": "子", "sub_button": [click("长键", "k" * 129)]}], 40026),
    ([{"type": "view", "name": "无址"}], 40020),
    ([{"name": "子", "sub_button": [{"type": "view", "name": "无址"}]}], 40027),
    ([view(url="javascript:alert(1)")], 40055),
    ([{"name": "子", "sub_button": [view(url="ftp://files/")]}], 40054),
    ([{"type": "bogus", "name": "怪"}], 40017),
    ([{"name": "无类型"}], 40017),
    ([{"name": "子", "sub_button": [{"type": "bogus", "name": "怪"}]}], 40024),
    ([{"name": "子", "sub_button": [{"name": "孙", "sub_button": [click()]}]}], 40022),
    ([{"type": "media_id", "name": "素材"}], 40007),
])
def test_violations(wx: WeChatApi, buttons, errcode):
    wx.post("/cgi-bin/menu/create", VALID)
    assert wx.post("/cgi-bin/menu/create", {"button": buttons})["errcode"] == errcode
    assert wx.get("/cgi-bin/menu/get")["menu"]["button"][0]["name"] == "科室介绍", "a rejected menu changes nothing"


def test_body_must_be_a_json_menu(client, wx: WeChatApi):
    token = wx.token()
    assert client.post("/cgi-bin/menu/create", query_string={"access_token": token}, data=b"").json["errcode"] == 44002
    assert client.post("/cgi-bin/menu/create", query_string={"access_token": token}, data=b"{nope").json["errcode"] == 47001
    assert wx.post("/cgi-bin/menu/create", {"buttons": []})["errcode"] == 47001


def test_delete(wx: WeChatApi):
    wx.post("/cgi-bin/menu/create", VALID)
    assert wx.get("/cgi-bin/menu/delete")["errcode"] == 0
    assert wx.get("/cgi-bin/menu/get")["errcode"] == 46003
    assert wx.get("/cgi-bin/get_current_selfmenu_info") == {"is_menu_open": 0, "selfmenu_info": {"button": []}}
