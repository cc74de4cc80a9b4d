"""``/_fake/sms``: the local stack's SMS outbox (cards: one-time codes), behind Flask's test client."""

from __future__ import annotations


def test_messages_are_stored_listed_by_phone_and_after_an_id_and_cleared(client, state):
    first = client.post("/_fake/sms", json={"phone": "13800000004", "text": "【医院】您的验证码是123456"})
    assert first.status_code == 201 and first.json["phone"] == "13800000004" and first.json["at"] > 0
    client.post("/_fake/sms", json={"phone": "13800000001", "text": "另一条"})
    assert [m["text"] for m in client.get("/_fake/sms").json["messages"]] == ["【医院】您的验证码是123456", "另一条"]
    assert [m["phone"] for m in client.get("/_fake/sms?phone=13800000001").json["messages"]] == ["13800000001"]
    assert client.get(f"/_fake/sms?after={first.json['id']}").json["messages"][0]["text"] == "另一条"
    assert client.delete("/_fake/sms").json == {"ok": True}
    assert client.get("/_fake/sms").json["messages"] == []


def test_reset_forgets_them(client):
    client.post("/_fake/sms", json={"phone": "13800000004", "text": "x"})
    client.post("/_fake/reset")
    assert client.get("/_fake/sms").json["messages"] == []


def test_bad_messages_are_refused(client):
    assert client.post("/_fake/sms", json={"phone": "12345", "text": "x"}).status_code == 400
    assert client.post("/_fake/sms", json={"phone": "13800000004", "text": ""}).status_code == 400
    assert client.post("/_fake/sms", data="not json").status_code == 400
    assert client.get("/_fake/sms?after=x").status_code == 400


def test_the_simulator_page_has_the_sms_panel(client):
    page = client.get("/_sim/").get_data(as_text=True)
    assert 'id="sms-btn"' in page and 'id="sms-list"' in page and 'id="sms-toast"' in page
