"""``WeChatMessenger`` on the WeChat API (through ``SharedTokenWeChatClient``).

References:
  * customer-service messages: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
  * template messages: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
  * user tags: https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html
  * mass sends by tag: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html
  * custom menu: https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html

Every method raises ``WeChatSendError`` (errcode None for transport failures). Openids and message
contents are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wechatpy.exceptions import WeChatClientException

from chalicelib.adapters.wechat.client import SharedTokenWeChatClient, expect_dict, wechat_errors
from chalicelib.domain.wechat import Reply
from chalicelib.services.ports import WeChatSendError

TAG_BATCH = 50  # WeChat tags / untags at most 50 openids per call
DUPLICATE_TAG_NAME = 45157  # "invalid tag name": also what WeChat answers when the name is taken


class WeChatApiMessenger:
    def __init__(self, client: SharedTokenWeChatClient) -> None:
        self._client = client
        self._tags: dict[str, int] = {}

    def send_custom(self, openid: str, reply: Reply) -> None:
        """A customer-service message (only within 48 h of the user's last interaction). An empty
        reply sends nothing."""
        message = self._client.message
        with wechat_errors("send_custom"):
            if reply.articles:
                articles = [{"title": a.title, "description": a.description, "url": a.url, "picurl": a.image}
                            for a in reply.articles]
                expect_dict(message.send_articles(openid, articles))
            elif reply.text:
                expect_dict(message.send_text(openid, reply.text))

    def send_template(self, openid: str, template_id: str, fields: Mapping[str, str], url: str) -> str:
        data = {key: {"value": value} for key, value in fields.items()}
        with wechat_errors("send_template"):
            result = expect_dict(self._client.message.send_template(openid, template_id, data, url=url or None))
            return str(result["msgid"])

    # ---- tags ---------------------------------------------------------------------------------------
    def ensure_tag(self, name: str) -> int:
        """The id of the tag called ``name``, created when missing; cached for the container's life."""
        if name in self._tags:
            return self._tags[name]
        with wechat_errors("ensure_tag"):
            tag_id = self._find_tag(name)
            if tag_id is None:
                tag_id = self._create_tag(name)
        self._tags[name] = tag_id
        return tag_id

    def _find_tag(self, name: str) -> int | None:
        tags = self._client.tag.get()
        if not isinstance(tags, list):
            raise WeChatSendError(None, "answer is not a tag list")
        return next((int(t["id"]) for t in tags if t.get("name") == name), None)

    def _create_tag(self, name: str) -> int:
        try:
            return int(expect_dict(self._client.tag.create(name))["id"])
        except WeChatClientException as exc:
            if exc.errcode != DUPLICATE_TAG_NAME:
                raise
        # Someone else created it between our list and our create.
        tag_id = self._find_tag(name)
        if tag_id is None:
            raise WeChatSendError(DUPLICATE_TAG_NAME, "invalid tag name")
        return tag_id

    def tag_users(self, tag_id: int, openids: list[str]) -> None:
        with wechat_errors("tag_users"):
            for start in range(0, len(openids), TAG_BATCH):
                expect_dict(self._client.tag.tag_user(tag_id, openids[start:start + TAG_BATCH]))

    def untag_users(self, tag_id: int, openids: list[str]) -> None:
        with wechat_errors("untag_users"):
            for start in range(0, len(openids), TAG_BATCH):
                expect_dict(self._client.tag.untag_user(tag_id, openids[start:start + TAG_BATCH]))

    # ---- mass sends and the menu ---------------------------------------------------------------------
    def mass_send_text(self, tag_id: int, content: str, client_msg_id: str | None = None) -> str:
        """Send ``content`` to everyone tagged ``tag_id``; returns WeChat's msg_id. ``client_msg_id``
        makes WeChat refuse a repeat of the same send within 24 h (45065)."""
        # wechatpy 1.8 still sends the old ``group_id`` filter; WeChat's current API takes ``tag_id``.
        body: dict[str, Any] = {
            "filter": {"is_to_all": False, "tag_id": tag_id},
            "text": {"content": content},
            "msgtype": "text",
            "send_ignore_reprint": 0,
        }
        if client_msg_id:
            body["clientmsgid"] = client_msg_id
        with wechat_errors("mass_send_text"):
            return str(expect_dict(self._client.post("message/mass/sendall", data=body))["msg_id"])

    def publish_menu(self, document: Mapping[str, Any]) -> None:
        with wechat_errors("publish_menu"):
            expect_dict(self._client.menu.create(dict(document)))

