"""§7.2 reference data: contents, filters, ETag/304, pagination, validation and 404s, checked against the contract."""

from __future__ import annotations

import re

import pytest

from devstack.his_simulator.simulator import Simulator

from .conftest import SignedClient
from .contract import assert_conforms

HAN = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


def test_campuses(api: SignedClient) -> None:
    response = api.get("/v1/campuses")
    assert response.status_code == 200
    body = response.get_json()
    assert_conforms("/campuses", "get", 200, body)
    campuses = {c["campus_id"]: c for c in body["items"]}
    assert set(campuses) == {"C01", "C02"}
    assert campuses["C01"]["name"] == "本部院区" and campuses["C02"]["name"] == "东院区"
    for campus in campuses.values():
        assert campus["location"]["coordinate_system"] == "GCJ-02"
        assert 18 < campus["location"]["latitude"] < 54 and 73 < campus["location"]["longitude"] < 135  # China
        assert campus["address"].startswith("示例市") and campus["phone"] and campus["transport"]


def test_campuses_etag_and_304(api: SignedClient) -> None:
    first = api.get("/v1/campuses")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    second = api.get("/v1/campuses", headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.data == b""
    assert second.headers["ETag"] == etag and second.headers["X-His-Trace-Id"]
    assert api.get("/v1/campuses", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_departments_have_parents_locations_and_restrictions(api: SignedClient) -> None:
    body = api.get("/v1/departments").get_json()
    assert_conforms("/departments", "get", 200, body)
    depts = {d["department_id"]: d for d in body["items"]}
    parents = {d["department_id"] for d in depts.values() if d["parent_id"] is None}
    assert all(not depts[p]["bookable"] for p in parents)
    assert {depts[p]["name"] for p in parents} >= {"内科", "外科", "妇产科", "儿科", "五官科", "其他"}
    bookable = [d for d in depts.values() if d["bookable"]]
    assert len(bookable) >= 15
    for dept in bookable:
        assert dept["parent_id"] in parents and depts[dept["parent_id"]]["campus_id"] == dept["campus_id"]
        assert dept["location"]["building"] and dept["location"]["floor"] and dept["location"]["description"]
        assert dept["intro"]
    by_name = {d["name"]: d for d in bookable if d["campus_id"] == "C01"}
    assert by_name["妇科"]["gender_restriction"] == "female"
    assert by_name["产科"]["gender_restriction"] == "female"
    assert by_name["小儿内科"]["max_age_years"] == 14
    assert by_name["心血管内科"]["department_id"] == "D0301"
    east = {d["name"]: d["department_id"] for d in bookable if d["campus_id"] == "C02"}
    assert east["心血管内科"] != "D0301"  # same department at both campuses, distinct ids


def test_departments_filters(api: SignedClient) -> None:
    east = api.get("/v1/departments", {"campus_id": "C02"}).get_json()["items"]
    assert east and all(d["campus_id"] == "C02" for d in east)
    bookable = api.get("/v1/departments", {"bookable": "true"}).get_json()["items"]
    assert bookable and all(d["bookable"] for d in bookable)
    groups = api.get("/v1/departments", {"bookable": "false"}).get_json()["items"]
    assert groups and not any(d["bookable"] for d in groups)
    response = api.get("/v1/departments", {"bookable": "yes"})
    assert response.status_code == 400
    assert response.get_json()["details"]["fields"] == [{"field": "bookable", "reason": "must be true or false"}]


def test_department_by_id_and_404(api: SignedClient) -> None:
    response = api.get("/v1/departments/D0301")
    assert response.status_code == 200
    assert_conforms("/departments/{department_id}", "get", 200, response.get_json())
    missing = api.get("/v1/departments/D9999")
    assert missing.status_code == 404
    body = missing.get_json()
    assert_conforms("/departments/{department_id}", "get", 404, body)
    assert body["code"] == "RESOURCE_NOT_FOUND" and body["details"]["resource"] == "department"


def test_department_change_bumps_updated_at_and_etag(api: SignedClient, sim: Simulator) -> None:
    before = api.get("/v1/departments")
    sim.advance(60)
    api.client.post("/_sim/departments/D0301", json={"intro": "新的科室介绍"})
    after = api.get("/v1/departments", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    dept = next(d for d in after.get_json()["items"] if d["department_id"] == "D0301")
    assert dept["intro"] == "新的科室介绍"
    old = next(d for d in before.get_json()["items"] if d["department_id"] == "D0301")
    assert dept["updated_at"] > old["updated_at"]


def test_doctors(api: SignedClient) -> None:
    body = api.get("/v1/doctors", {"page_size": 200}).get_json()
    assert_conforms("/doctors", "get", 200, body)
    doctors = body["items"]
    assert len(doctors) >= 40 and body["next_cursor"] is None
    assert {d["title_code"] for d in doctors} == {
        "chief_physician", "associate_chief_physician", "attending_physician", "resident_physician"}
    for doc in doctors:
        assert HAN.match(doc["name"]), doc["name"]
        assert doc["specialties"] and doc["intro"] and doc["photo_url"] is None
        assert re.fullmatch(r"DR\d{5}", doc["doctor_id"])
    li = next(d for d in doctors if d["doctor_id"] == "DR10023")
    assert (li["name"], li["title_name"]) == ("李四", "主任医师")


def test_doctor_filters(api: SignedClient) -> None:
    cardio = api.get("/v1/doctors", {"department_id": "D0301"}).get_json()["items"]
    assert {"DR10023", "DR10088"} <= {d["doctor_id"] for d in cardio}
    assert all("D0301" in d["department_ids"] for d in cardio)
    east = api.get("/v1/doctors", {"campus_id": "C02", "page_size": 200}).get_json()["items"]
    assert any(d["doctor_id"] == "DR10023" for d in east)  # 李四 also sees patients at the east campus
    by_name = api.get("/v1/doctors", {"keyword": "李"}).get_json()["items"]
    assert by_name and all("李" in d["name"] or any("李" in s for s in d["specialties"]) for d in by_name)
    by_specialty = api.get("/v1/doctors", {"keyword": "高血压"}).get_json()["items"]
    assert by_specialty and all(any("高血压" in s for s in d["specialties"]) for d in by_specialty)
    assert api.get("/v1/doctors", {"keyword": "x" * 21}).status_code == 400


def test_doctor_pagination_walks_every_doctor_once(api: SignedClient) -> None:
    everyone = api.get("/v1/doctors", {"page_size": 200}).get_json()["items"]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"page_size": 7} | ({"cursor": cursor} if cursor else {})
        body = api.get("/v1/doctors", query).get_json()
        assert len(body["items"]) <= 7
        seen += [d["doctor_id"] for d in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [d["doctor_id"] for d in everyone]
    assert pages == -(-len(everyone) // 7)


def test_cursor_of_another_query_is_rejected(api: SignedClient) -> None:
    cursor = api.get("/v1/doctors", {"page_size": 5}).get_json()["next_cursor"]
    response = api.get("/v1/doctors", {"page_size": 5, "department_id": "D0301", "cursor": cursor})
    assert response.status_code == 400
    assert response.get_json()["details"]["fields"][0]["field"] == "cursor"
    assert api.get("/v1/doctors", {"cursor": "garbage!"}).status_code == 400


@pytest.mark.parametrize("size", ["0", "201", "abc", "-1"])
def test_page_size_must_be_1_to_200(api: SignedClient, size: str) -> None:
    response = api.get("/v1/doctors", {"page_size": size})
    assert response.status_code == 400
    body = response.get_json()
    assert_conforms("/doctors", "get", 400, body)
    assert body["code"] == "VALIDATION_ERROR" and body["details"]["fields"][0]["field"] == "page_size"


def test_doctor_by_id_and_404(api: SignedClient) -> None:
    response = api.get("/v1/doctors/DR10088")
    assert_conforms("/doctors/{doctor_id}", "get", 200, response.get_json())
    assert response.get_json()["name"] == "王五"
    missing = api.get("/v1/doctors/DR00000").get_json()
    assert missing["code"] == "RESOURCE_NOT_FOUND" and missing["details"]["resource"] == "doctor"


def test_fee_schedule(api: SignedClient) -> None:
    response = api.get("/v1/fee-schedule")
    body = response.get_json()
    assert_conforms("/fee-schedule", "get", 200, body)
    assert response.headers["ETag"]
    entries = body["items"]
    assert {e["reg_type"] for e in entries} == {"general", "expert", "special_needs"}
    for entry in entries:
        assert entry["fee_fen"] == sum(c["amount_fen"] for c in entry["components"])
        assert isinstance(entry["fee_fen"], int)
        assert any(c["name"] == "诊察费" for c in entry["components"])
    main = api.get("/v1/fee-schedule", {"campus_id": "C01"}).get_json()["items"]
    assert all(e["campus_id"] in (None, "C01") for e in main)
    assert len(main) < len(entries)  # the east campus' 特需号 entry is left out
    assert api.get("/v1/fee-schedule", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_schedule_fees_follow_the_fee_schedule(api: SignedClient, sim: Simulator) -> None:
    entries = api.get("/v1/fee-schedule").get_json()["items"]
    unchanged = [s for s in sim.state.schedules.values() if s.version == 1]  # a substitute keeps the booked fee
    for schedule in unchanged:
        campus = schedule.location.campus_id
        title = sim.state.doctors[schedule.doctor_id].title_code if schedule.doctor_id else None
        matching = [e for e in entries if e["reg_type"] == schedule.reg_type and e["campus_id"] in (None, campus)
                    and e["title_code"] in (None, title if schedule.reg_type != "special_needs" else None)]
        best = max(matching, key=lambda e: (e["campus_id"] is not None) + (e["title_code"] is not None))
        assert schedule.fee_fen == best["fee_fen"], schedule.schedule_id


def test_policies(api: SignedClient) -> None:
    body = api.get("/v1/policies").get_json()
    assert_conforms("/policies", "get", 200, body)
    assert body["slot_release"] == {"days_ahead": 7, "time": "08:00"}
    assert body["appointment"]["lock_ttl_seconds"] == 900


def test_unknown_endpoint_and_wrong_method(api: SignedClient) -> None:
    missing = api.get("/v1/no-such-thing")
    assert missing.status_code == 404 and missing.get_json()["code"] == "RESOURCE_NOT_FOUND"
    wrong = api.request("PUT", "/v1/campuses")
    assert wrong.status_code == 405 and wrong.get_json()["code"] == "VALIDATION_ERROR"
