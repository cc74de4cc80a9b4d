"""Cards domain: masking, document checks (resident ID check digit, birth date and gender), the guardian rule,
forms, codes (expiry, attempts, single use) and the request's states."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain import cards as d
from chalicelib.domain.cards import BindState, CardFormError, CodeOutcome, IdType
from chalicelib.domain.patients import Relation

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 26)
KEY = b"k"


def resident_id(prefix17: str) -> str:
    return prefix17 + d.resident_id_check_char(prefix17)


# ---- masking --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("张小明", "张**"), ("欧阳娜娜", "欧***"),
                                              ("SMITH JOHN", "S***"), ("李", "李*")])
def test_names_show_only_their_first_character(name, masked):
    assert d.mask_name(name) == masked


def test_phones_ids_and_cards_are_masked():
    assert d.mask_phone("13800000001") == "138****0001"
    assert d.id_tail("110101199003070011") == "0011"
    assert d.id_tail("110101********0011") == "0011"
    assert d.id_tail("110101**********") == ""
    assert d.id_tail(None) == ""
    assert d.mask_card_no("E2025000123456") == "E202******3456"
    assert d.mask_card_no("00098765") == "****8765"
    assert d.mask_card_no("123") == "***"


def test_a_phone_agrees_with_a_mask_only_in_every_visible_digit():
    assert d.phone_matches_masked("13800000001", "138****0001")
    assert not d.phone_matches_masked("13800000002", "138****0001")
    assert not d.phone_matches_masked("13900000001", "138****0001")
    assert not d.phone_matches_masked("13800000001", None)


# ---- documents ------------------------------------------------------------------------------------------
def test_the_spec_examples_resident_id_is_valid_and_encodes_birth_and_gender():
    assert d.resident_id_problem("110101199003070011", TODAY) is None
    assert d.resident_id_birth_and_gender("110101199003070011") == (date(1990, 3, 7), "male")
    assert d.resident_id_problem("110101199003070011", TODAY, "male", date(1990, 3, 7)) is None


def test_a_resident_id_with_an_x_check_character():
    number = next(n for n in (resident_id(f"11010119900307{i:03d}") for i in range(200)) if n.endswith("X"))
    assert d.resident_id_problem(number, TODAY) is None
    assert d.resident_id_problem(number.lower(), TODAY) is None


@pytest.mark.parametrize(("number", "why"), [
    ("110101199003070012", "有误"),  # check digit
    ("11010119900307001", "18位"),
    ("1101011990030700AA", "18位"),
    (resident_id("11010119900230001"), "出生日期"),  # 30 February
    (resident_id("11010120991231001"), "出生日期"),  # the future
])
def test_bad_resident_ids_are_refused_with_a_reason(number, why):
    problem = d.resident_id_problem(number, TODAY)
    assert problem is not None and why in problem


def test_birth_date_and_gender_must_agree_with_the_number():
    assert "出生日期" in (d.resident_id_problem("110101199003070011", TODAY, birth=date(1990, 3, 8)) or "")
    assert "性别" in (d.resident_id_problem("110101199003070011", TODAY, gender="female") or "")


def test_a_guardian_is_needed_under_14_and_without_a_document():
    assert d.needs_guardian(date(2012, 11, 27), IdType.RESIDENT_ID, TODAY)  # 13, turns 14 tomorrow
    assert not d.needs_guardian(date(2012, 11, 26), IdType.RESIDENT_ID, TODAY)  # 14 today
    assert d.needs_guardian(date(1990, 1, 1), IdType.NONE, TODAY)


# ---- forms ----------------------------------------------------------------------------------------------
def _identity(**changes: str) -> dict[str, str]:
    return {"relation": "child", "name": " 张三 ", "id_type": "resident_id", "id_number": "110101199003070011",
            "phone": "138 0000 0001", **changes}


def test_the_identity_form_is_cleaned_and_becomes_the_lookup_body():
    form = d.parse_identity_form(_identity(), TODAY)
    assert form.lookup_body() == {"method": "identity", "id_type": "resident_id", "id_number": "110101199003070011",
                                  "name": "张三", "phone": "13800000001"}
    assert form.relation is Relation.CHILD


@pytest.mark.parametrize(("changes", "field"), [
    ({"relation": "cousin"}, "relation"), ({"name": ""}, "name"), ({"name": "张3"}, "name"),
    ({"phone": "23800000001"}, "phone"), ({"id_number": "110101199003070012"}, "id_number"),
    ({"id_type": "none"}, "id_type"), ({"id_type": "passport", "id_number": "P!"}, "id_number"),
])
def test_identity_form_errors_name_their_field_in_chinese(changes, field):
    with pytest.raises(CardFormError) as err:
        d.parse_identity_form(_identity(**changes), TODAY)
    assert err.value.field == field and err.value.message


def _create(**changes: object) -> dict[str, object]:
    return {"relation": "self", "name": "刘洋", "id_type": "resident_id", "id_number": resident_id("11010519880512003"),
            "phone": "13900000009", **changes}


def test_create_reads_birth_date_and_gender_from_a_resident_id():
    form = d.parse_create_form(_create(), TODAY)
    assert form.birth_date == date(1988, 5, 12) and form.gender == "male" and form.guardian is None
    body = form.create_body()
    assert body["birth_date"] == "1988-05-12" and body["guardian"] is None and body["id_type"] == "resident_id"


def test_create_refuses_a_birth_date_or_gender_that_disagrees_with_the_number():
    with pytest.raises(CardFormError, match="出生日期"):
        d.parse_create_form(_create(birth_date="1988-05-13"), TODAY)
    with pytest.raises(CardFormError, match="性别"):
        d.parse_create_form(_create(gender="female"), TODAY)


GUARDIAN = {"name": "刘洋", "id_type": "resident_id", "id_number": resident_id("11010519880512003"),
            "phone": "13900000009", "relationship": "father"}


def test_a_child_needs_an_adult_guardian():
    child = _create(relation="child", name="刘小雨", id_number=resident_id("11010520200101002"))
    with pytest.raises(CardFormError, match="监护人"):
        d.parse_create_form(child, TODAY)
    form = d.parse_create_form({**child, "guardian": GUARDIAN}, TODAY)
    assert form.guardian is not None and form.create_body()["guardian"]["relationship"] == "father"
    minor_guardian = {**GUARDIAN, "id_number": resident_id("11010520150101003")}
    with pytest.raises(CardFormError, match="成年"):
        d.parse_create_form({**child, "guardian": minor_guardian}, TODAY)


def test_a_newborn_without_a_document_needs_gender_birth_date_and_a_guardian():
    newborn = _create(relation="child", name="刘宝宝", id_type="none", id_number="")
    with pytest.raises(CardFormError, match="性别"):
        d.parse_create_form(newborn, TODAY)
    form = d.parse_create_form({**newborn, "gender": "female", "birth_date": "2026-11-20", "guardian": GUARDIAN}, TODAY)
    assert form.id_number is None and form.create_body()["id_number"] is None
    with pytest.raises(CardFormError, match="无证件"):
        d.parse_create_form({**newborn, "id_number": "X1", "gender": "female", "birth_date": "2026-11-20"}, TODAY)


# ---- codes ----------------------------------------------------------------------------------------------
def _sent() -> d.BindRequest:
    form = d.parse_identity_form(_identity(), TODAY)
    req = d.new_lookup("req00000001", "oUser", form, "his1", T0)
    patient = d.patient_from_his({"patient_id": "P1", "name": "张三", "id_number_masked": "110101********0011",
                                  "phone_masked": "138****0001", "cards": [{"card_no": "E2025000123456",
                                                                            "card_type": "e_card"}]})
    return d.found(req, patient, d.code_digest(KEY, "req00000001", "123456"), T0)


def test_codes_are_stored_only_as_a_keyed_digest_bound_to_the_request():
    req = _sent()
    assert "123456" not in str(d.request_to_json(req))
    assert d.code_digest(KEY, "req00000001", "123456") != d.code_digest(KEY, "req00000002", "123456")
    assert d.code_digest(KEY, "req00000001", "123456") != d.code_digest(b"other", "req00000001", "123456")


def test_a_found_patient_is_kept_masked_and_the_code_is_waiting():
    req = _sent()
    assert req.state is BindState.CODE_SENT and req.version == 2 and req.sends == 1
    assert req.label == "张*" and req.phone_masked == "138****0001" and req.id_tail == "0011"
    assert req.patient is not None and req.patient.cards[0].card_no_masked == "E202******3456"
    assert "E2025000123456" not in str(d.request_to_json(req))


def test_the_right_code_before_it_expires():
    req = _sent()
    check = d.check_code(req, d.code_digest(KEY, req.request_id, "123456"), T0 + timedelta(minutes=4, seconds=59))
    assert check.outcome is CodeOutcome.OK
    done = d.bound(check.request, req.patient, T0)  # type: ignore[arg-type]
    assert done.state is BindState.DONE and done.code_digest is None and done.phone == ""
    # single use: the digest is gone with the state change
    assert d.check_code(done, d.code_digest(KEY, req.request_id, "123456"), T0).outcome is CodeOutcome.NOT_WAITING


def test_a_code_expires_after_five_minutes():
    req = _sent()
    check = d.check_code(req, d.code_digest(KEY, req.request_id, "123456"), T0 + timedelta(minutes=5))
    assert check.outcome is CodeOutcome.EXPIRED and check.request is req


def test_five_wrong_codes_lock_the_request():
    req = _sent()
    wrong = d.code_digest(KEY, req.request_id, "000000")
    for left in (4, 3, 2, 1):
        check = d.check_code(req, wrong, T0)
        assert check.outcome is CodeOutcome.WRONG and check.request.attempts_left == left
        req = check.request
    check = d.check_code(req, wrong, T0)
    assert check.outcome is CodeOutcome.LOCKED
    assert check.request.state is BindState.FAILED and check.request.error_code == "CODE_LOCKED"
    assert check.request.phone == "" and check.request.code_digest is None
    # even the right code is refused now
    assert d.check_code(check.request, d.code_digest(KEY, req.request_id, "123456"), T0).outcome is CodeOutcome.NOT_WAITING


def test_a_request_lives_fifteen_minutes_and_a_lookup_waits_45_seconds():
    req = _sent()
    assert d.timed_out(req, T0 + timedelta(minutes=14)) is None
    gone = d.check_code(req, "x", T0 + timedelta(minutes=15))
    assert gone.outcome is CodeOutcome.GONE and gone.request.error_code == "EXPIRED"
    pending = d.new_lookup("req00000002", "oUser", d.parse_identity_form(_identity(), TODAY), "his2", T0)
    assert d.timed_out(pending, T0 + timedelta(seconds=44)) is None
    late = d.timed_out(pending, T0 + timedelta(seconds=45))
    assert late is not None and late.error_code == "TIMEOUT" and late.phone == ""


def test_resending_waits_a_minute_and_stops_after_three_codes():
    req = _sent()
    assert req.resend_at() == T0 + d.RESEND_AFTER
    req = d.resent(req, "digest2", T0 + timedelta(seconds=60))
    req = d.resent(req, "digest3", T0 + timedelta(seconds=120))
    assert req.sends == 3 and req.resend_at() is None
    failed_send = d.sms_failed(_sent(), T0)
    assert failed_send.resend_at() == T0 and failed_send.sends == 0


def test_a_creation_sends_its_code_first_and_forgets_the_form_once_with_the_his():
    form = d.parse_create_form(_create(), TODAY)
    req = d.new_creation("req00000003", "oUser", form, "digest", T0)
    assert req.state is BindState.CODE_SENT and req.create_body is not None and req.label == "刘*"
    creating = d.creating(req, "req00000003-create", T0)
    assert creating.create_body is None and creating.phone == "" and creating.code_digest is None
    assert not creating.expired(T0 + timedelta(hours=1))  # its result may still come


def test_requests_survive_their_storage_form():
    req = replace(_sent(), attempts=2, sms_failed=True)
    assert d.request_from_json(d.request_to_json(req)) == req


def test_the_nightly_maintenance_window_and_the_shanghai_day():
    assert d.in_maintenance(datetime(2026, 11, 26, 15, 30, tzinfo=UTC))  # 23:30 Shanghai
    assert d.in_maintenance(datetime(2026, 11, 26, 16, 29, tzinfo=UTC))  # 00:29
    assert not d.in_maintenance(datetime(2026, 11, 26, 16, 30, tzinfo=UTC))  # 00:30
    assert d.shanghai_day(datetime(2026, 11, 26, 16, 0, tzinfo=UTC)) == "2026-11-27"


def test_his_refusals_map_to_our_codes_and_plain_chinese():
    assert d.his_refusal("IDENTITY_MISMATCH", 422) == "IDENTITY_MISMATCH"
    assert d.REFUSALS["IDENTITY_MISMATCH"] == "信息与医院登记不一致，请到窗口核对"
    assert d.his_refusal("VALIDATION_ERROR", 400) == "INVALID_DATA"
    assert d.his_refusal("HIS_BUSY", 429) == "HIS_BUSY"
    assert d.his_refusal("INTERNAL_ERROR", 500) == "HIS_UNAVAILABLE"
