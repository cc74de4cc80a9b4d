"""The cards API through ``chalice.test.Client``: the family list, binding with the SMS code (the HIS result
arriving over the result queue's Lambda handler), 建档, refusals as Chinese 4xx, another user's request or
patient as 404 with an audit line under the pseudonym, and unbinding."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.cards import resident_id_check_char
from chalicelib.domain.his_messages import end_user_pseudonym
from chalicelib.domain.patients import PatientBinding, Relation
from tests.fakes_cards import OTHER, WANG, ZHANG, CardsWorld, identity_form
from tests.functional.test_auth_api import OPENID, World, _install, _logged_in, _settings, _validate

# Documented operations this module exercises (JSON bodies validated against the document by ``_validate``).
EXERCISED = {"/api/cards", "/api/cards/bind-requests", "/api/cards/bind-requests/{request_id}",
             "/api/cards/bind-requests/{request_id}/verify", "/api/cards/bind-requests/{request_id}/resend",
             "/api/cards/{patient_id}"}
REQ = "/api/cards/bind-requests/{request_id}"
END_USER_KEY = b"test-end-user-key"  # the CardsWorld context's


class Api:
    def __init__(self, client: Any, cards: CardsWorld, session: str) -> None:
        self.client, self.cards = client, cards
        self.cookie = {"cookie": f"yw_session={session}"}

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=self.cookie)

    def post(self, path: str, payload: Any = None, raw: str | None = None) -> Any:
        return self.client.http.post(path, headers={**self.cookie, "content-type": "application/json"},
                                     body=raw if raw is not None else json.dumps(payload or {}))

    def delete(self, path: str) -> Any:
        return self.client.http.delete(path, headers=self.cookie)

    def deliver_results(self) -> Any:
        """What the bridge would publish for every queued request, through the result queue's Lambda handler."""
        bodies = [json.dumps({"request_id": r.request_id, "operation": r.operation, "outcome": r.outcome,
                              "status": r.status, "body": r.body, "fetched_at": r.fetched_at.isoformat(),
                              "error": None if r.error is None else {"code": r.error.code, "message": r.error.message,
                                                                     "retryable": r.error.retryable},
                              "context": r.context}) for r in self.cards.his_results()]
        event = self.client.events.generate_sqs_event(message_bodies=bodies, queue_name="yiwei-his-results")
        return self.client.lambda_.invoke("on_his_result", event).payload


@pytest.fixture
def api() -> Any:
    world = World()
    _install(world, _settings())
    cards = CardsWorld(PatientBinding(OPENID, ZHANG.patient_id, Relation.CHILD, "张*", world.clock.now - timedelta(days=3)))
    cards.clock.now = world.clock.now
    bootstrap.override(cards_context=cards.ctx, patient_bindings=cards.bindings)
    with Client(app, stage_name="local") as client:
        yield Api(client, cards, _logged_in(client))


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def test_the_family_list_keeps_the_patient_fields_and_adds_masked_cards(api):
    resp = api.get("/api/cards")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    data = body(resp)
    _validate("/api/cards", "get", 200, data)
    assert data["items"] == [{"patient_id": ZHANG.patient_id, "label": "张*", "relation": "child",
                              "relation_name": "子女", "bound_at": "2026-11-23T16:00:00+08:00", "cards": [],
                              "id_tail": None, "phone_masked": None}]
    assert data["max_patients"] == 5 and data["binds_left_today"] == 5
    assert {"value": "parent", "name": "父母"} in data["relations"]


@pytest.mark.parametrize(("method", "path"), [("get", "/api/cards"), ("post", "/api/cards/bind-requests"),
                                              ("get", "/api/cards/bind-requests/req00000001"),
                                              ("delete", f"/api/cards/{ZHANG.patient_id}")])
def test_every_route_needs_a_login(api, method, path):
    resp = getattr(api.client.http, method)(path, **({"headers": {"content-type": "application/json"}, "body": "{}"}
                                                      if method == "post" else {}))
    assert resp.status_code == 401 and body(resp)["code"] == "LOGIN_REQUIRED"
    assert api.cards.queue.sent == []


def test_binding_a_parent_through_the_code_sent_to_the_phone_on_file(api, logs):
    resp = api.post("/api/cards/bind-requests", identity_form(WANG, relation="parent"))
    assert resp.status_code == 202
    started = body(resp)["request"]
    _validate("/api/cards/bind-requests", "post", 202, body(resp))
    assert started["state"] == "pending" and started["label"] == "王*" and started["phone_masked"] == "138****0004"
    assert started["id_tail"] == "1265" and WANG.id_number.encode() not in resp.body and WANG.phone.encode() not in resp.body
    request_id = started["request_id"]

    assert api.deliver_results() == {"batchItemFailures": []}
    resp = api.get(f"/api/cards/bind-requests/{request_id}")
    polled = body(resp)
    _validate(REQ, "get", 200, polled)
    assert polled["request"]["state"] == "code_sent" and polled["request"]["resend_in"] == 60
    assert polled["request"]["attempts_left"] == 5 and polled["request"]["sends_left"] == 2
    [(phone, _text)] = api.cards.sms.sent

    resp = api.post(f"/api/cards/bind-requests/{request_id}/verify", {"code": "000000"})
    assert resp.status_code == 400 and body(resp)["code"] == "WRONG_CODE" and body(resp)["attempts_left"] == 4
    _validate(REQ + "/verify", "post", 400, body(resp))

    resp = api.post(f"/api/cards/bind-requests/{request_id}/verify", {"code": api.cards.sms.last_code()})
    assert resp.status_code == 200
    _validate(REQ + "/verify", "post", 200, body(resp))
    done = body(resp)["request"]
    assert done["state"] == "done" and [c["card_no_masked"] for c in done["patient"]["cards"]] == [
        "E202******7654", "1100********5400"]

    family = body(api.get("/api/cards"))["items"]
    assert [(m["label"], m["relation_name"]) for m in family] == [("张*", "子女"), ("王*", "父母")]
    assert family[1]["cards"][1] == {"card_no_masked": "1100********5400", "card_type": "insurance_card",
                                     "card_type_name": "医保卡", "status": "active", "status_name": "正常"}
    assert family[1]["id_tail"] == "1265" and family[1]["phone_masked"] == "138****0004"
    # the reports feature's list keeps its fields and sees the new patient
    assert {"patient_id": WANG.patient_id, "label": "王*", "relation": "parent", "relation_name": "父母"} in body(
        api.get("/api/patients"))["items"]
    text = "\n".join(logs)
    assert phone not in text and WANG.id_number not in text and api.cards.sms.last_code() not in text
    assert OPENID not in text and "王芳" not in text


def test_resend_too_soon_says_when(api):
    request_id = body(api.post("/api/cards/bind-requests", identity_form(WANG)))["request"]["request_id"]
    api.deliver_results()
    resp = api.post(f"/api/cards/bind-requests/{request_id}/resend", {})
    assert resp.status_code == 429 and body(resp)["code"] == "TOO_SOON" and body(resp)["retry_after"] == 60
    _validate(REQ + "/resend", "post", 429, body(resp))
    api.cards.clock.advance(seconds=60)
    resp = api.post(f"/api/cards/bind-requests/{request_id}/resend", {})
    assert resp.status_code == 200 and len(api.cards.sms.sent) == 2
    _validate(REQ + "/resend", "post", 200, body(resp))


def test_identity_mismatch_is_shown_in_plain_chinese(api):
    request_id = body(api.post("/api/cards/bind-requests", identity_form(WANG, phone="13911112222")))["request"][
        "request_id"]
    api.deliver_results()
    failed = body(api.get(f"/api/cards/bind-requests/{request_id}"))["request"]
    assert failed["state"] == "failed" and failed["error_code"] == "IDENTITY_MISMATCH"
    assert failed["message"] == "信息与医院登记不一致，请到窗口核对"
    resp = api.post(f"/api/cards/bind-requests/{request_id}/verify", {"code": "123456"})
    assert resp.status_code == 409 and body(resp)["code"] == "IDENTITY_MISMATCH"
    _validate(REQ + "/verify", "post", 409, body(resp))


@pytest.mark.parametrize(("payload", "field"), [
    (identity_form(WANG, id_number="110102197804151266"), "id_number"),
    (identity_form(WANG, phone="1380000"), "phone"),
    (identity_form(WANG, relation="neighbour"), "relation"),
])
def test_bad_input_is_a_400_naming_the_field(api, payload, field):
    resp = api.post("/api/cards/bind-requests", payload)
    assert resp.status_code == 400 and body(resp)["field"] == field and body(resp)["message"]
    _validate("/api/cards/bind-requests", "post", 400, body(resp))
    assert api.cards.queue.sent == [] and api.cards.quota.counts == {}


def test_a_body_that_is_not_json_is_a_400(api):
    resp = api.post("/api/cards/bind-requests", raw="{not json")
    assert resp.status_code == 400 and body(resp)["code"] == "BAD_REQUEST"


def test_the_daily_cap_is_a_429(api):
    for i in range(5):
        assert api.post("/api/cards/bind-requests", identity_form(WANG, phone=f"1390000000{i}")).status_code == 202
    resp = api.post("/api/cards/bind-requests", identity_form(WANG))
    assert resp.status_code == 429 and body(resp)["code"] == "DAILY_LIMIT" and "明天" in body(resp)["message"]
    _validate("/api/cards/bind-requests", "post", 429, body(resp))
    assert body(api.get("/api/cards"))["binds_left_today"] == 0


def test_the_patient_cap_is_a_409(api):
    for i in range(4):
        api.cards.bindings.bind(PatientBinding(OPENID, f"P00000000{i}", Relation.OTHER, "李*", api.cards.clock.now))
    resp = api.post("/api/cards/bind-requests", identity_form(WANG))
    assert resp.status_code == 409 and body(resp)["code"] == "PATIENT_LIMIT"
    _validate("/api/cards/bind-requests", "post", 409, body(resp))


def test_the_nightly_maintenance_is_a_503(api):
    api.cards.clock.now = api.cards.clock.now.replace(hour=16, minute=0)  # 00:00 Shanghai
    resp = api.post("/api/cards/bind-requests", identity_form(WANG))
    assert resp.status_code == 503 and body(resp)["code"] == "HIS_MAINTENANCE"
    _validate("/api/cards/bind-requests", "post", 503, body(resp))


def test_another_users_request_is_404_and_audited_under_the_pseudonym(api, logs):
    api.cards.ctx.bindings.bind(PatientBinding(OTHER, WANG.patient_id, Relation.SELF, "王*", api.cards.clock.now))
    from chalicelib.services import cards as service

    theirs = service.start(OTHER, identity_form(ZHANG, relation="child"), api.cards.ctx).request_id
    for resp in (api.get(f"/api/cards/bind-requests/{theirs}"),
                 api.post(f"/api/cards/bind-requests/{theirs}/verify", {"code": "123456"}),
                 api.post(f"/api/cards/bind-requests/{theirs}/resend", {})):
        assert resp.status_code == 404 and body(resp)["code"] == "NOT_FOUND"
    _validate(REQ, "get", 404, body(api.get(f"/api/cards/bind-requests/{theirs}")))
    resp = api.delete(f"/api/cards/{WANG.patient_id}")
    assert resp.status_code == 404
    _validate("/api/cards/{patient_id}", "delete", 404, body(resp))
    audit = [json.loads(line) for line in logs if "security" in line]
    assert len(audit) == 5
    assert {a["end_user"] for a in audit} == {end_user_pseudonym(OPENID, END_USER_KEY)}
    assert OPENID not in "\n".join(logs)
    assert api.cards.bindings.openids_of(WANG.patient_id) == [OTHER]


def test_unbinding_the_last_user_unlinks_the_patient_at_the_his(api):
    resp = api.delete(f"/api/cards/{ZHANG.patient_id}")
    assert resp.status_code == 204 and resp.headers["Cache-Control"] == "no-store"
    assert body(api.get("/api/cards"))["items"] == []
    [unlink] = api.cards.queue.sent
    assert unlink.operation == "unlinkPatient" and unlink.path_params == {"patient_id": ZHANG.patient_id}
    assert api.deliver_results() == {"batchItemFailures": []}
    assert api.delete(f"/api/cards/{ZHANG.patient_id}").status_code == 404


def test_creating_a_record_for_a_child_with_a_guardian(api):
    child_id = "11010520200101002" + resident_id_check_char("11010520200101002")
    payload = {"method": "create", "relation": "child", "name": "张小雨", "id_type": "resident_id",
               "id_number": child_id, "phone": "13800000001", "address": None,
               "guardian": {"name": "张三", "id_type": "resident_id", "id_number": ZHANG.id_number,
                            "phone": "13800000001", "relationship": "father"}}
    resp = api.post("/api/cards/bind-requests", payload)
    assert resp.status_code == 202
    started = body(resp)["request"]
    assert started["state"] == "code_sent" and started["method"] == "create" and api.cards.queue.sent == []
    resp = api.post(f"/api/cards/bind-requests/{started['request_id']}/verify", {"code": api.cards.sms.last_code()})
    assert resp.status_code == 202 and body(resp)["request"]["state"] == "creating"
    _validate(REQ + "/verify", "post", 202, body(resp))
    [create] = api.cards.queue.sent
    assert create.body is not None and create.body["guardian"]["relationship"] == "father"
    api.deliver_results()
    done = body(api.get(f"/api/cards/bind-requests/{started['request_id']}"))["request"]
    assert done["state"] == "done" and done["label"] == "张**"
    assert [m["label"] for m in body(api.get("/api/cards"))["items"]] == ["张*", "张**"]


def test_a_child_without_a_guardian_is_told_what_is_missing(api):
    child_id = "11010520200101002" + resident_id_check_char("11010520200101002")
    resp = api.post("/api/cards/bind-requests", {"method": "create", "relation": "child", "name": "张小雨",
                                                 "id_type": "resident_id", "id_number": child_id,
                                                 "phone": "13800000001"})
    assert resp.status_code == 400 and body(resp)["field"] == "guardian" and "监护人" in body(resp)["message"]


# ---- the menu -----------------------------------------------------------------------------------------
def test_cards_is_a_menu_page_and_an_old_menus_click_gets_the_link():
    from chalicelib.domain.menu import menu_document, menu_pages
    from chalicelib.domain.wechat import InboundMessage
    from chalicelib.services import wechat_handlers

    assert "cards.html" in menu_pages()
    document = menu_document(lambda p: f"https://h5.example.cn/{p}")
    items = {b["name"]: b for top in document["button"] for b in top["sub_button"]}
    assert items["就诊卡"] == {"type": "view", "name": "就诊卡",
                             "url": "https://h5.example.cn/api/auth/login?next=/cards.html"}
    ctx = type("Ctx", (), {"page_url": staticmethod(lambda p: f"https://h5.example.cn/{p}")})()
    reply = wechat_handlers.MENU.get("CARDS")(InboundMessage.__new__(InboundMessage), ctx)
    assert reply.articles[0].url == "https://h5.example.cn/cards.html"
