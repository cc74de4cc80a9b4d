"""§7.4 lookup, card creation (建档) and §4.6 linking; masking of identifiers (§4.5)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from devstack.his_simulator.identity import make_resident_id
from devstack.his_simulator.simulator import Simulator

from .conftest import ZHANG_IDENTITY, SignedClient
from .contract import assert_conforms, example

CHILD = example("03-create-patient-child.json")["request"]["body"]
ADULT_ID = make_resident_id("110105", date(1992, 4, 18), 64, "female")
BAD_CHECK_DIGIT = ADULT_ID[:-1] + ("1" if ADULT_ID[-1] != "1" else "2")


def adult(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "周敏",
        "gender": "female",
        "birth_date": "1992-04-18",
        "id_type": "resident_id",
        "id_number": ADULT_ID,
        "phone": "13900000011",
        "address": None,
        "guardian": None,
    }
    return body | overrides


def fields(response: Any) -> set[str]:
    return {f["field"] for f in response.get_json()["details"]["fields"]}


# ---------------------------------------------------------------- lookup


def test_lookup_by_identity_links_the_patient(api: SignedClient) -> None:
    assert api.get("/v1/patients/P000123456").get_json()["code"] == "PATIENT_NOT_LINKED"
    response = api.post("/v1/patients/lookup", ZHANG_IDENTITY)
    assert response.status_code == 200
    body = response.get_json()
    assert_conforms("/patients/lookup", "post", 200, body)
    assert body["patient_id"] == "P000123456"
    assert body["id_number_masked"] == "110101********0011" and body["phone_masked"] == "138****0001"
    got = api.get("/v1/patients/P000123456")
    assert got.status_code == 200
    assert_conforms("/patients/{patient_id}", "get", 200, got.get_json())


def test_lookup_by_card(api: SignedClient) -> None:
    response = api.post("/v1/patients/lookup", {"method": "card", "card_no": "E2025000123456", "name": "张三"})
    assert response.status_code == 200 and response.get_json()["patient_id"] == "P000123456"
    physical = api.post("/v1/patients/lookup", {"method": "card", "card_no": "0009876543", "name": "赵建国"})
    assert physical.get_json()["patient_id"] == "P000555001"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"method": "card", "card_no": "E0000000000000", "name": "张三"}, "PATIENT_NOT_FOUND"),
        ({"method": "card", "card_no": "E2025000123456", "name": "张四"}, "IDENTITY_MISMATCH"),
        (ZHANG_IDENTITY | {"id_number": "110101199003070038"}, "PATIENT_NOT_FOUND"),
        (ZHANG_IDENTITY | {"name": "张叁"}, "IDENTITY_MISMATCH"),
        (ZHANG_IDENTITY | {"phone": "13800000009"}, "IDENTITY_MISMATCH"),
        (ZHANG_IDENTITY | {"id_type": "passport"}, "PATIENT_NOT_FOUND"),
    ],
)
def test_lookup_failures(api: SignedClient, body: dict[str, Any], code: str) -> None:
    response = api.post("/v1/patients/lookup", body)
    assert response.status_code == {"PATIENT_NOT_FOUND": 404, "IDENTITY_MISMATCH": 422}[code]
    payload = response.get_json()
    assert_conforms("/patients/lookup", "post", response.status_code, payload)
    assert payload["code"] == code
    assert api.get("/v1/patients/P000123456").get_json()["code"] == "PATIENT_NOT_LINKED"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"card_no": "E1", "name": "张三"}, {"method"}),
        ({"method": "face", "name": "张三"}, {"method"}),
        ({"method": "card", "name": "张三"}, {"card_no"}),
        ({"method": "card", "card_no": "E1", "name": "张三", "phone": "13800000001"}, {"phone"}),
        (ZHANG_IDENTITY | {"phone": "1380000000"}, {"phone"}),
        (ZHANG_IDENTITY | {"id_type": "driving_licence"}, {"id_type"}),
    ],
)
def test_lookup_validation(api: SignedClient, body: dict[str, Any], expected: set[str]) -> None:
    response = api.post("/v1/patients/lookup", body)
    assert response.status_code == 400
    assert fields(response) == expected
    assert "1380000000" not in response.get_data(as_text=True)  # submitted values are not echoed


def test_lookup_rejects_non_json(api: SignedClient) -> None:
    response = api.post("/v1/patients/lookup", raw_body=b"{not json")
    assert response.status_code == 400 and fields(response) == {"body"}


def test_failed_lookups_are_throttled_per_end_user_when_enabled(api: SignedClient, sim: Simulator) -> None:
    sim.config.enforce_rate_limits = True
    user = {"X-His-End-User": "9c41e0b27d5a4f3e8b61c2d7a05f3e98"}
    wrong = ZHANG_IDENTITY | {"name": "张叁"}
    for _ in range(10):
        assert api.post("/v1/patients/lookup", wrong, headers=user).status_code == 422
    throttled = api.post("/v1/patients/lookup", ZHANG_IDENTITY, headers=user)
    assert throttled.status_code == 429
    assert throttled.get_json()["details"]["reason"] == "rate_limit" and int(throttled.headers["Retry-After"]) > 0
    other_user = {"X-His-End-User": "0000e0b27d5a4f3e8b61c2d7a05f0000"}
    assert api.post("/v1/patients/lookup", ZHANG_IDENTITY, headers=other_user).status_code == 200
    sim.advance(3601)
    assert api.post("/v1/patients/lookup", ZHANG_IDENTITY, headers=user).status_code == 200


def test_malformed_end_user_is_rejected(api: SignedClient) -> None:
    response = api.post("/v1/patients/lookup", ZHANG_IDENTITY, headers={"X-His-End-User": "oVx-openid 123"})
    assert response.status_code == 400 and fields(response) == {"X-His-End-User"}


# ---------------------------------------------------------------- get and unlink


def test_get_patient_requires_link_and_unknown_is_404(api: SignedClient, linked_zhang: str) -> None:
    assert api.get(f"/v1/patients/{linked_zhang}").status_code == 200
    missing = api.get("/v1/patients/P999999999")
    assert missing.status_code == 404 and missing.get_json()["details"]["resource"] == "patient"
    not_linked = api.get("/v1/patients/P000234567")
    assert not_linked.status_code == 403
    assert_conforms("/patients/{patient_id}", "get", 403, not_linked.get_json())


def test_unlink_is_idempotent_and_stops_access(api: SignedClient, linked_zhang: str) -> None:
    first = api.delete(f"/v1/patients/{linked_zhang}/link")
    assert first.status_code == 204 and first.data == b""
    assert api.delete(f"/v1/patients/{linked_zhang}/link").status_code == 204
    assert api.get(f"/v1/patients/{linked_zhang}").get_json()["code"] == "PATIENT_NOT_LINKED"
    assert api.delete("/v1/patients/P999999999/link").status_code == 404


def test_family_members_are_separate_patients(api: SignedClient, linked_zhang: str) -> None:
    child = api.post("/v1/patients/lookup", {"method": "card", "card_no": "E2023000345678", "name": "张小明"})
    assert child.status_code == 200 and child.get_json()["patient_id"] == "P000345678"
    assert api.get("/v1/patients/P000345678").status_code == 200
    api.delete(f"/v1/patients/{linked_zhang}/link")
    assert api.get("/v1/patients/P000345678").status_code == 200  # unlinking the parent leaves the child linked


# ---------------------------------------------------------------- create


def test_create_child_with_guardian(api: SignedClient) -> None:
    response = api.post("/v1/patients", CHILD, idempotency_key="newpt-child-0001")
    assert response.status_code == 201
    body = response.get_json()
    assert_conforms("/patients", "post", 201, body)
    assert body["created"] is True and body["name"] == "张小雨"
    assert body["id_number_masked"] == "110101********0025"
    assert body["cards"][0]["card_type"] == "e_card" and body["cards"][0]["card_no"].startswith("E")
    assert api.get(f"/v1/patients/{body['patient_id']}").status_code == 200  # creation links


def test_create_replays_and_refuses_key_reuse(api: SignedClient) -> None:
    first = api.post("/v1/patients", CHILD, idempotency_key="newpt-child-0002")
    again = api.post("/v1/patients", json.loads(json.dumps(CHILD)), idempotency_key="newpt-child-0002")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    reordered = dict(reversed(list(CHILD.items())))  # bodies compare as parsed JSON
    assert api.post("/v1/patients", reordered, idempotency_key="newpt-child-0002").status_code == 201
    other = api.post("/v1/patients", CHILD | {"address": "示例市东湖区1号"}, idempotency_key="newpt-child-0002")
    assert other.status_code == 422
    assert_conforms("/patients", "post", 422, other.get_json())
    assert other.get_json()["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_create_is_idempotent_on_identity(api: SignedClient) -> None:
    created = api.post("/v1/patients", adult(), idempotency_key="newpt-adult-0001")
    assert created.status_code == 201
    again = api.post("/v1/patients", adult(phone="13900000099"), idempotency_key="newpt-adult-0002")
    assert again.status_code == 200
    body = again.get_json()
    assert_conforms("/patients", "post", 200, body)
    assert body["created"] is False and body["patient_id"] == created.get_json()["patient_id"]
    assert body["phone_masked"] == "139****0011"  # the phone on file never changes here
    mismatch = api.post("/v1/patients", adult(name="周敏敏"), idempotency_key="newpt-adult-0003")
    assert mismatch.status_code == 422 and mismatch.get_json()["code"] == "IDENTITY_MISMATCH"


def test_create_existing_seeded_patient_returns_it(api: SignedClient) -> None:
    body = {"name": "张三", "gender": "male", "birth_date": "1990-03-07", "id_type": "resident_id",
            "id_number": "110101199003070011", "phone": "13800000001"}
    response = api.post("/v1/patients", body, idempotency_key="newpt-zhang-0001")
    assert response.status_code == 200
    assert response.get_json()["patient_id"] == "P000123456" and response.get_json()["created"] is False


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"id_number": BAD_CHECK_DIGIT}, {"id_number"}),
        ({"gender": "male"}, {"id_number"}),  # gender digit disagrees
        ({"birth_date": "1992-04-19"}, {"id_number"}),  # birth date disagrees
        ({"id_number": None}, {"id_number"}),
        ({"birth_date": "19920418"}, {"birth_date"}),
        ({"phone": "+8613900000011"}, {"phone"}),
        ({"gender": "unknown"}, {"gender"}),
        ({"nickname": "小周"}, {"nickname"}),
        ({"birth_date": "2999-01-01", "id_type": "passport", "id_number": "PX1"}, {"birth_date"}),
    ],
)
def test_create_validation(api: SignedClient, overrides: dict[str, Any], expected: set[str]) -> None:
    response = api.post("/v1/patients", adult(**overrides), idempotency_key="newpt-invalid-01")
    assert response.status_code == 400
    assert_conforms("/patients", "post", 400, response.get_json())
    assert fields(response) == expected
    assert BAD_CHECK_DIGIT not in response.get_data(as_text=True)


def test_minor_needs_a_guardian(api: SignedClient) -> None:
    response = api.post("/v1/patients", CHILD | {"guardian": None}, idempotency_key="newpt-child-nogd")
    assert response.status_code == 400 and fields(response) == {"guardian"}
    bad_guardian = CHILD["guardian"] | {"phone": "12"}
    response = api.post("/v1/patients", CHILD | {"guardian": bad_guardian}, idempotency_key="newpt-child-badgd")
    assert response.status_code == 400 and fields(response) == {"guardian.phone"}
    minor_guardian = CHILD["guardian"] | {"id_number": make_resident_id("110101", date(2012, 1, 1), 11, "male")}
    response = api.post("/v1/patients", CHILD | {"guardian": minor_guardian}, idempotency_key="newpt-child-kidgd")
    assert response.status_code == 400 and fields(response) == {"guardian.id_number"}


def test_newborn_without_document(api: SignedClient, sim: Simulator) -> None:
    newborn = {"name": "张宝宝", "gender": "male", "birth_date": sim.now().date().isoformat(), "id_type": "none",
               "phone": "13800000001"}
    refused = api.post("/v1/patients", newborn, idempotency_key="newpt-newborn-01")
    assert refused.status_code == 400 and fields(refused) == {"guardian"}
    accepted = api.post("/v1/patients", newborn | {"guardian": CHILD["guardian"]}, idempotency_key="newpt-newborn-02")
    assert accepted.status_code == 201
    assert accepted.get_json()["id_number_masked"] is None
    twin = api.post("/v1/patients", newborn | {"guardian": CHILD["guardian"]}, idempotency_key="newpt-newborn-03")
    assert twin.status_code == 201 and twin.get_json()["patient_id"] != accepted.get_json()["patient_id"]


@pytest.mark.parametrize("key", [None, "short", "has space in it", "x" * 65])
def test_create_requires_a_valid_idempotency_key(api: SignedClient, key: str | None) -> None:
    response = api.post("/v1/patients", adult(), idempotency_key=key)
    assert response.status_code == 400 and fields(response) == {"Idempotency-Key"}


def test_full_identifiers_never_leave_the_simulator(api: SignedClient, linked_zhang: str) -> None:
    texts = [
        api.get(f"/v1/patients/{linked_zhang}").get_data(as_text=True),
        api.post("/v1/patients/lookup", ZHANG_IDENTITY).get_data(as_text=True),
        api.client.get("/_sim/requests").get_data(as_text=True),
    ]
    for text in texts:
        assert "110101199003070011" not in text and "13800000001" not in text
