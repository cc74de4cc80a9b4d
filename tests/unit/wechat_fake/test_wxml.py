"""WeChat's XML, signatures and AES envelope, checked against wechatpy's own verification."""

from __future__ import annotations

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from devstack.wechat_fake.config import FakeConfig
from devstack.wechat_fake.wxml import build_xml, envelope, message_xml, open_reply

from .conftest import ACCOUNT, AES_KEY, APPID, CHEN, TOKEN

CONFIG = FakeConfig(appid=APPID, secret="s", token=TOKEN, aes_key=AES_KEY, account_id=ACCOUNT)


def test_cdata_survives_its_own_terminator_and_numbers_are_bare():
    xml = build_xml({"Content": "a]]>b<c>&", "CreateTime": 123, "Latitude": 30.5})
    assert "<CreateTime>123</CreateTime><Latitude>30.5</Latitude>" in xml
    assert xmltodict.parse(xml)["xml"]["Content"] == "a]]>b<c>&"


def test_plain_envelope_is_signed_over_token_timestamp_nonce():
    xml = message_xml(ACCOUNT, CHEN, 1700000000, "text", {"Content": "你好", "MsgId": 1})
    signed = envelope(CONFIG, xml, CHEN, "plain", 1700000000, "12345")
    assert signed.body == xml
    assert signed.params["openid"] == CHEN and "encrypt_type" not in signed.params
    check_signature(TOKEN, signed.params["signature"], "1700000000", "12345")


def test_aes_envelope_decrypts_with_wechatpy():
    xml = message_xml(ACCOUNT, CHEN, 1700000000, "text", {"Content": "你好", "MsgId": 1})
    signed = envelope(CONFIG, xml, CHEN, "aes", 1700000000, "12345")
    assert signed.params["encrypt_type"] == "aes"
    check_signature(TOKEN, signed.params["signature"], "1700000000", "12345")
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    assert crypto.decrypt_message(signed.body, signed.params["msg_signature"], "1700000000", "12345") == xml
    assert xmltodict.parse(signed.body)["xml"]["ToUserName"] == ACCOUNT


def test_encrypted_reply_opens():
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    reply = build_xml({"ToUserName": CHEN, "FromUserName": ACCOUNT, "MsgType": "text", "Content": "好"})
    opened = open_reply(CONFIG, crypto.encrypt_message(reply, "999", "1700000000"), "aes")
    assert opened is not None and opened["Content"] == "好"
    assert open_reply(CONFIG, " success\n", "aes") is None
