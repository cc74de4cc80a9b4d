"""The cards use cases on fakes: binding with the SMS code to the phone on file, 建档 after the phone is proven,
caps, other users' requests and patients, redelivered HIS results, unbinding and the HIS unlink."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain.cards import CODE_MAX_ATTEMPTS, MAX_PATIENTS_PER_USER, BindState, resident_id_check_char
from chalicelib.domain.his_messages import end_user_pseudonym
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.services import cards
from chalicelib.services.cards import CardsError
from tests.fakes_cards import OPENID, OTHER, T0, WANG, ZHANG, CardsWorld, identity_form


@pytest.fixture
def w() -> CardsWorld:
    return CardsWorld()


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="yiwei")
    return caplog


def deliver(w: CardsWorld, operation: str | None = None) -> list[str]:
    """The bridge's results of everything queued so far, applied in order."""
    return [cards.apply_his_result(r, w.ctx) for r in w.his_results(operation)]


def started(w: CardsWorld, **changes: str) -> str:
    req = cards.start(OPENID, identity_form(**changes), w.ctx)
    assert req.state is BindState.PENDING
    return req.request_id


# ---- binding an existing patient ------------------------------------------------------------------------
def test_identity_binding_sends_the_code_to_the_phone_on_file_and_binds_on_the_right_code(w):
    request_id = started(w)
    [lookup] = w.queue.sent
    assert lookup.operation == "lookupPatient" and lookup.context == {
        "purpose": "cards", "action": "lookup", "bind_request": request_id}
    assert lookup.body == {"method": "identity", "id_type": "resident_id", "id_number": WANG.id_number,
                           "name": "王芳", "phone": WANG.phone}
    assert lookup.end_user == end_user_pseudonym(OPENID, b"test-end-user-key") and OPENID not in str(lookup.to_json())
    assert lookup.idempotency_key == f"{request_id}:lookup"
    assert cards.get(OPENID, request_id, w.ctx).state is BindState.PENDING

    assert deliver(w) == ["code_sent"]
    [(phone, text)] = w.sms.sent
    assert phone == WANG.phone and "验证码是100001" in text and "5分钟" in text
    req = cards.get(OPENID, request_id, w.ctx)
    assert req.state is BindState.CODE_SENT and req.label == "王*" and req.phone_masked == "138****0004"

    done = cards.verify(OPENID, request_id, "100001", None, w.ctx)
    assert done.state is BindState.DONE
    [binding] = w.bindings.patients_of(OPENID)
    assert (binding.patient_id, binding.relation, binding.label) == ("P000987654", Relation.PARENT, "王*")
    info = w.infos.of_user(OPENID)["P000987654"]
    assert [c.card_no_masked for c in info.cards] == ["E202******7654", "1100********5400"]
    assert info.id_tail == "1265" and info.phone_masked == "138****0004"
    # nothing full is kept once bound
    stored = str(w.requests.items[request_id])
    assert WANG.phone not in stored and WANG.id_number not in stored and "王芳" not in stored


def test_the_relation_may_be_changed_when_the_code_is_entered(w):
    request_id = started(w)
    deliver(w)
    cards.verify(OPENID, request_id, "100001", "other", w.ctx)
    assert w.bindings.patients_of(OPENID)[0].relation is Relation.OTHER


def test_the_code_is_single_use(w):
    request_id = started(w)
    deliver(w)
    cards.verify(OPENID, request_id, "100001", None, w.ctx)
    with pytest.raises(CardsError) as err:
        cards.verify(OPENID, request_id, "100001", None, w.ctx)
    assert err.value.code == "ALREADY_DONE"


def test_five_wrong_codes_lock_the_request_even_for_the_right_code(w, audit):
    request_id = started(w)
    deliver(w)
    for left in range(CODE_MAX_ATTEMPTS - 1, 0, -1):
        with pytest.raises(CardsError) as err:
            cards.verify(OPENID, request_id, "999999", None, w.ctx)
        assert (err.value.status, err.value.code, err.value.extra["attempts_left"]) == (400, "WRONG_CODE", left)
    with pytest.raises(CardsError) as err:
        cards.verify(OPENID, request_id, "999999", None, w.ctx)
    assert err.value.code == "CODE_LOCKED" and "次数过多" in err.value.message
    with pytest.raises(CardsError) as err:
        cards.verify(OPENID, request_id, "100001", None, w.ctx)
    assert err.value.code == "CODE_LOCKED"
    assert w.bindings.patients_of(OPENID) == []
    assert "100001" not in audit.text and "999999" not in audit.text


def test_an_expired_code_can_be_resent_after_a_minute_and_the_new_one_works(w):
    request_id = started(w)
    deliver(w)
    with pytest.raises(CardsError) as err:
        cards.resend(OPENID, request_id, w.ctx)
    assert err.value.code == "TOO_SOON" and err.value.extra["retry_after"] == 60
    w.clock.advance(minutes=5)
    with pytest.raises(CardsError) as err:
        cards.verify(OPENID, request_id, "100001", None, w.ctx)
    assert err.value.code == "CODE_EXPIRED"
    cards.resend(OPENID, request_id, w.ctx)
    assert w.sms.last_code() == "100002" and len(w.sms.sent) == 2
    with pytest.raises(CardsError):
        cards.verify(OPENID, request_id, "100001", None, w.ctx)  # the old code no longer works
    assert cards.verify(OPENID, request_id, "100002", None, w.ctx).state is BindState.DONE


def test_no_more_than_three_codes_per_request(w):
    request_id = started(w)
    deliver(w)
    for _ in range(2):
        w.clock.advance(seconds=61)
        cards.resend(OPENID, request_id, w.ctx)
    w.clock.advance(seconds=61)
    with pytest.raises(CardsError) as err:
        cards.resend(OPENID, request_id, w.ctx)
    assert err.value.code == "SMS_LIMIT" and len(w.sms.sent) == 3


def test_a_failed_sms_can_be_asked_for_again_at_once(w):
    request_id = started(w)
    w.sms.fail_next = 1
    deliver(w)
    req = cards.get(OPENID, request_id, w.ctx)
    assert req.state is BindState.CODE_SENT and req.sms_failed and w.sms.sent == []
    cards.resend(OPENID, request_id, w.ctx)
    assert len(w.sms.sent) == 1
    assert cards.verify(OPENID, request_id, w.sms.last_code(), None, w.ctx).state is BindState.DONE


def test_identity_mismatch_is_explained_and_binds_nothing(w):
    request_id = started(w, phone="13900000000")
    assert deliver(w) == ["failed"]
    req = cards.get(OPENID, request_id, w.ctx)
    assert (req.state, req.error_code, req.message) == (BindState.FAILED, "IDENTITY_MISMATCH",
                                                       "信息与医院登记不一致，请到窗口核对")
    assert w.sms.sent == [] and req.phone == ""


def test_patient_not_found_offers_card_creation(w):
    request_id = started(w, id_number="11010519880512003" + resident_id_check_char("11010519880512003"),
                         name="刘洋")
    deliver(w)
    req = cards.get(OPENID, request_id, w.ctx)
    assert req.error_code == "PATIENT_NOT_FOUND" and "在线建档" in (req.message or "")


def test_a_busy_his_is_told_in_plain_chinese(w):
    request_id = started(w)
    [lookup] = w.queue.sent
    cards.apply_his_result(w.his.error(lookup, T0, 429, "HIS_BUSY"), w.ctx)
    assert "频繁" in (cards.get(OPENID, request_id, w.ctx).message or "")


def test_a_redelivered_lookup_result_is_applied_once(w):
    request_id = started(w)
    [result] = w.his_results()
    assert cards.apply_his_result(result, w.ctx) == "code_sent"
    assert cards.apply_his_result(result, w.ctx) == "ignored"
    assert len(w.sms.sent) == 1
    assert cards.get(OPENID, request_id, w.ctx).sends == 1


def test_a_result_that_lost_a_race_is_retried_on_the_fresh_request(w):
    started(w)
    w.requests.lose_next_race = 1
    assert deliver(w) == ["code_sent"]
    assert len(w.sms.sent) == 1


def test_a_lookup_the_his_never_answers_fails_after_45_seconds_and_a_late_answer_is_ignored(w):
    request_id = started(w)
    w.clock.advance(seconds=45)
    req = cards.get(OPENID, request_id, w.ctx)
    assert req.state is BindState.FAILED and req.error_code == "TIMEOUT"
    assert deliver(w) == ["ignored"] and w.sms.sent == []


def test_a_patient_already_in_the_list_is_not_bound_twice(w):
    w.bindings.bind(PatientBinding(OPENID, WANG.patient_id, Relation.PARENT, "王*", T0))
    request_id = started(w)
    deliver(w)
    assert cards.get(OPENID, request_id, w.ctx).error_code == "ALREADY_BOUND" and w.sms.sent == []


# ---- caps -----------------------------------------------------------------------------------------------
def test_the_daily_cap_counts_every_attempt_of_the_shanghai_day():
    w = CardsWorld(binds_per_day=2)
    started(w)
    started(w, phone="13900000000")
    with pytest.raises(CardsError) as err:
        started(w)
    assert (err.value.status, err.value.code) == (429, "DAILY_LIMIT") and "明天" in err.value.message
    assert len(w.queue.sent) == 2
    assert cards.family(OPENID, w.ctx).binds_left_today == 0
    w.clock.advance(hours=15)  # 01:00 the next day in Shanghai
    assert cards.family(OPENID, w.ctx).binds_left_today == 2
    started(w)


def test_a_user_has_at_most_five_patients():
    w = CardsWorld(*(PatientBinding(OPENID, f"P00000000{i}", Relation.CHILD, "张*", T0)
                     for i in range(MAX_PATIENTS_PER_USER)))
    with pytest.raises(CardsError) as err:
        started(w)
    assert err.value.code == "PATIENT_LIMIT" and w.queue.sent == []
    assert w.quota.used(OPENID, "2026-11-26") == 0  # refused before it counted


def test_only_one_self(w):
    w.bindings.bind(PatientBinding(OPENID, ZHANG.patient_id, Relation.SELF, "张*", T0))
    with pytest.raises(CardsError) as err:
        started(w, relation="self")
    assert err.value.code == "SELF_BOUND"


def test_the_nightly_maintenance_window_refuses_before_anything_is_sent(w):
    w.clock.now = T0.replace(hour=15, minute=45)  # 23:45 Shanghai
    with pytest.raises(CardsError) as err:
        started(w)
    assert (err.value.status, err.value.code) == (503, "HIS_MAINTENANCE") and w.queue.sent == []


def test_bad_input_names_the_field(w):
    with pytest.raises(CardsError) as err:
        cards.start(OPENID, identity_form(id_number="110101199003070012"), w.ctx)
    assert (err.value.status, err.value.extra["field"]) == (400, "id_number")
    with pytest.raises(CardsError) as err:
        cards.start(OPENID, {"method": "card"}, w.ctx)
    assert err.value.status == 400


# ---- other users ----------------------------------------------------------------------------------------
def test_another_users_request_is_not_found_and_audited_by_pseudonym(w, audit):
    request_id = started(w)
    deliver(w)
    for call in (lambda: cards.get(OTHER, request_id, w.ctx),
                 lambda: cards.verify(OTHER, request_id, "100001", None, w.ctx),
                 lambda: cards.resend(OTHER, request_id, w.ctx)):
        with pytest.raises(CardsError) as err:
            call()
        assert (err.value.status, err.value.code) == (404, "NOT_FOUND")
    refused = [r for r in audit.records if "security" in r.getMessage()]
    assert len(refused) == 3
    assert all(r.end_user == end_user_pseudonym(OTHER, b"test-end-user-key") for r in refused)  # type: ignore[attr-defined]
    assert OTHER not in audit.text and OPENID not in audit.text
    # the owner's request is untouched (no attempt counted)
    assert cards.get(OPENID, request_id, w.ctx).attempts == 0


def test_another_users_patient_cannot_be_unbound(w, audit):
    w.bindings.bind(PatientBinding(OTHER, WANG.patient_id, Relation.SELF, "王*", T0))
    with pytest.raises(CardsError) as err:
        cards.unbind(OPENID, WANG.patient_id, w.ctx)
    assert err.value.status == 404
    assert w.bindings.openids_of(WANG.patient_id) == [OTHER]
    assert any("security" in r.getMessage() for r in audit.records)


# ---- unbinding ------------------------------------------------------------------------------------------
def _bind(w: CardsWorld, openid: str) -> None:
    req = cards.start(openid, identity_form(), w.ctx)
    for r in w.his_results("lookupPatient"):
        if r.context["bind_request"] == req.request_id:
            cards.apply_his_result(r, w.ctx)
    cards.verify(openid, req.request_id, w.sms.last_code(), None, w.ctx)


def test_unbinding_unlinks_at_the_his_only_when_nobody_else_of_ours_is_bound(w):
    _bind(w, OPENID)
    _bind(w, OTHER)
    assert w.bindings.openids_of(WANG.patient_id) == sorted([OPENID, OTHER])
    cards.unbind(OPENID, WANG.patient_id, w.ctx)
    assert w.bindings.patients_of(OPENID) == [] and w.infos.of_user(OPENID) == {}
    assert [r.operation for r in w.queue.sent if r.operation == "unlinkPatient"] == []
    cards.unbind(OTHER, WANG.patient_id, w.ctx)
    [unlink] = [r for r in w.queue.sent if r.operation == "unlinkPatient"]
    assert unlink.path_params == {"patient_id": WANG.patient_id} and unlink.context["action"] == "unlink"
    assert deliver(w, "unlinkPatient") == ["unlinked"]


# ---- 建档 -------------------------------------------------------------------------------------------------
def _create_form(**changes: object) -> dict[str, object]:
    number = "11010519880512003" + resident_id_check_char("11010519880512003")
    return {"method": "create", "relation": "self", "name": "刘洋", "id_type": "resident_id", "id_number": number,
            "phone": "13900000009", **changes}


def test_creation_proves_the_phone_before_the_his_is_asked(w):
    req = cards.start(OPENID, _create_form(), w.ctx)
    assert req.state is BindState.CODE_SENT and w.queue.sent == []
    assert w.sms.sent[0][0] == "13900000009" and "在线建档" in w.sms.sent[0][1]
    creating = cards.verify(OPENID, req.request_id, "100001", None, w.ctx)
    assert creating.state is BindState.CREATING
    [create] = w.queue.sent
    assert create.operation == "createPatient" and create.idempotency_key == f"{req.request_id}:create"
    assert create.body is not None and create.body["birth_date"] == "1988-05-12" and create.body["gender"] == "male"
    stored = str(w.requests.items[req.request_id])
    assert "13900000009" not in stored and create.body["id_number"] not in stored  # the form left with the request
    assert deliver(w) == ["bound"]
    done = cards.get(OPENID, req.request_id, w.ctx)
    assert done.state is BindState.DONE and done.patient is not None
    [binding] = w.bindings.patients_of(OPENID)
    assert binding.relation is Relation.SELF and binding.label == "刘*"
    assert deliver(w) == ["ignored"]  # redelivered: once


def test_creation_of_an_already_registered_document_sends_the_user_to_the_identity_method(w):
    req = cards.start(OPENID, _create_form(name="王芳", id_number=WANG.id_number, relation="parent"), w.ctx)
    cards.verify(OPENID, req.request_id, "100001", None, w.ctx)
    assert deliver(w) == ["failed"]
    failed = cards.get(OPENID, req.request_id, w.ctx)
    assert failed.error_code == "ALREADY_REGISTERED" and "已有就诊卡" in (failed.message or "")
    assert w.bindings.patients_of(OPENID) == []


def test_a_double_verify_of_a_creation_sends_the_same_request(w):
    req = cards.start(OPENID, _create_form(), w.ctx)
    w.requests.lose_next_race = 1  # the first state change loses to a concurrent verify
    cards.verify(OPENID, req.request_id, "100001", None, w.ctx)
    creates = [r for r in w.queue.sent if r.operation == "createPatient"]
    assert {(r.request_id, r.idempotency_key, str(r.body)) for r in creates} == {
        (f"{req.request_id}-create", f"{req.request_id}:create", str(creates[0].body))}


def test_a_child_without_guardian_is_refused(w):
    child = _create_form(relation="child", name="刘小雨",
                         id_number="11010520200101002" + resident_id_check_char("11010520200101002"))
    with pytest.raises(CardsError) as err:
        cards.start(OPENID, child, w.ctx)
    assert err.value.extra["field"] == "guardian"


# ---- the family list ------------------------------------------------------------------------------------
def test_the_family_list_has_masked_cards_and_old_bindings_without_them(w):
    w.bindings.bind(PatientBinding(OPENID, ZHANG.patient_id, Relation.CHILD, "张*", T0 - timedelta(days=3)))
    _bind(w, OPENID)
    members = cards.family(OPENID, w.ctx).members
    assert [m.binding.patient_id for m in members] == [ZHANG.patient_id, WANG.patient_id]
    assert members[0].info is None and members[1].info is not None
    assert replace(members[1].info, updated_at=T0).cards[0].card_type == "e_card"
