"""Tags and user information, with WeChat's shapes and limits."""

from __future__ import annotations

import pytest

from devstack.wechat_fake.state import FakeState

from .conftest import CHEN, LI, ZHANG, WeChatApi


def create(wx: WeChatApi, name: str) -> int:
    return int(wx.post("/cgi-bin/tags/create", {"tag": {"name": name}})["tag"]["id"])


def test_tag_lifecycle(wx: WeChatApi):
    tag = create(wx, "高血压随访")
    assert tag == 100
    assert wx.post("/cgi-bin/tags/members/batchtagging", {"tagid": tag, "openid_list": [CHEN, LI, ZHANG]})["errcode"] == 0
    assert wx.post("/cgi-bin/tags/getidlist", {"openid": CHEN}) == {"tagid_list": [tag]}
    members = wx.post("/cgi-bin/user/tag/get", {"tagid": tag, "next_openid": ""})
    assert members["count"] == 2 and set(members["data"]["openid"]) == {CHEN, LI}, "only followers are listed"
    tags = {t["id"]: t for t in wx.get("/cgi-bin/tags/get")["tags"]}
    assert tags[tag] == {"id": tag, "name": "高血压随访", "count": 3} and tags[2]["name"] == "星标组"

    assert wx.post("/cgi-bin/tags/update", {"tag": {"id": tag, "name": "慢病随访"}})["errcode"] == 0
    assert wx.post("/cgi-bin/tags/members/batchuntagging", {"tagid": tag, "openid_list": [LI]})["errcode"] == 0
    assert wx.post("/cgi-bin/tags/getidlist", {"openid": LI}) == {"tagid_list": []}
    assert wx.post("/cgi-bin/tags/delete", {"tag": {"id": tag}})["errcode"] == 0
    assert wx.post("/cgi-bin/tags/getidlist", {"openid": CHEN}) == {"tagid_list": []}
    assert tag not in {t["id"] for t in wx.get("/cgi-bin/tags/get")["tags"]}


@pytest.mark.parametrize(("path", "body", "errcode"), [
    ("/cgi-bin/tags/create", {"tag": {"name": "星标组"}}, 45157),
    ("/cgi-bin/tags/create", {"tag": {"name": "长" * 11}}, 45158),  # 33 bytes
    ("/cgi-bin/tags/create", {"tag": {}}, 45157),
    ("/cgi-bin/tags/update", {"tag": {"id": 2, "name": "改名"}}, 45058),
    ("/cgi-bin/tags/update", {"tag": {"id": 555, "name": "改名"}}, 45159),
    ("/cgi-bin/tags/delete", {"tag": {"id": 1}}, 45058),
    ("/cgi-bin/tags/members/batchtagging", {"tagid": 555, "openid_list": [CHEN]}, 45159),
    ("/cgi-bin/tags/members/batchtagging", {"tagid": 2, "openid_list": []}, 40032),
    ("/cgi-bin/tags/members/batchtagging", {"tagid": 2, "openid_list": [CHEN] * 51}, 40032),
    ("/cgi-bin/tags/members/batchtagging", {"tagid": 2, "openid_list": [CHEN, "o-nobody"]}, 40003),
    ("/cgi-bin/tags/getidlist", {"openid": "o-nobody"}, 40003),
])
def test_tag_errors(wx: WeChatApi, path, body, errcode):
    assert wx.post(path, body)["errcode"] == errcode


def test_a_user_has_at_most_20_tags(wx: WeChatApi):
    tags = [create(wx, f"标签{i}") for i in range(21)]
    for tag in tags[:20]:
        wx.post("/cgi-bin/tags/members/batchtagging", {"tagid": tag, "openid_list": [CHEN]})
    assert wx.post("/cgi-bin/tags/members/batchtagging", {"tagid": tags[20], "openid_list": [CHEN]})["errcode"] == 45059


def test_user_info_of_a_follower_and_of_someone_who_is_not(wx: WeChatApi):
    info = wx.get("/cgi-bin/user/info", openid=CHEN, lang="zh_CN")
    assert info["subscribe"] == 1 and info["openid"] == CHEN and info["subscribe_scene"] == "ADD_SCENE_QR_CODE"
    assert info["qr_scene_str"] == "dept:D0301" and "nickname" not in info, "WeChat stopped returning nicknames"
    assert wx.get("/cgi-bin/user/info", openid=ZHANG) == {"subscribe": 0, "openid": ZHANG}
    assert wx.get("/cgi-bin/user/info", openid="o-nobody")["errcode"] == 40003
    batch = wx.post("/cgi-bin/user/info/batchget", {"user_list": [{"openid": CHEN}, {"openid": ZHANG}]})
    assert [u["subscribe"] for u in batch["user_info_list"]] == [1, 0]


def test_user_list_has_followers_only(wx: WeChatApi, state: FakeState):
    listed = wx.get("/cgi-bin/user/get")
    assert listed["total"] == 2 and listed["data"]["openid"] == [LI, CHEN] and listed["next_openid"] == CHEN
    state.subscribe(ZHANG, None)
    assert wx.get("/cgi-bin/user/get", next_openid=CHEN)["data"]["openid"] == [ZHANG]


def test_qrcode_create(wx: WeChatApi, state: FakeState):
    body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "checkin:C01-3F-305"}}}
    created = wx.post("/cgi-bin/qrcode/create", body)
    assert created["ticket"] and created["url"].startswith("http://weixin.qq.com/q/") and "expire_seconds" not in created
    assert state.qrcodes[created["ticket"]]["scene"] == "checkin:C01-3F-305"
    temporary = wx.post("/cgi-bin/qrcode/create", {"expire_seconds": 600, "action_name": "QR_STR_SCENE",
                                                   "action_info": {"scene": {"scene_str": "dept:D0301"}}})
    assert temporary["expire_seconds"] == 600
    assert wx.post("/cgi-bin/qrcode/create", {"action_name": "QR_STR_SCENE", "action_info": {}})["errcode"] == 40097
