import json

from tests.fakes import FakeReferenceRepository


def _get(client, path):
    resp = client.http.get(path)
    return resp.status_code, json.loads(resp.body or b"null")


def test_hospital_overview(client):
    status, body = _get(client, "/api/hospital")
    assert status == 200
    assert body["name"] == "示例市第一人民医院"
    assert [c["name"] for c in body["campuses"]] == ["本部院区", "东院区"]  # inactive 旧院区 hidden
    assert body["stats"] == {"departments": 4, "doctors": 4}
    assert body["as_of"] == "2026-11-26T08:00:00+08:00"


def test_departments_grouped_and_filtered_by_campus(client):
    status, body = _get(client, "/api/departments")
    assert status == 200
    assert [g["name"] for g in body["groups"]] == ["内科", "妇产科", "其他科室"]
    cardio = body["groups"][0]["departments"][0]
    assert cardio == {"department_id": "D0301", "name": "心血管内科", "campus_id": "C01", "campus_name": "本部院区",
                      "location_text": "门诊楼 3F 305诊室", "restriction": None}
    status, body = _get(client, "/api/departments?campus_id=C02")
    assert [d["name"] for g in body["groups"] for d in g["departments"]] == ["儿科"]


def test_bad_campus_parameter_is_a_clear_400(client):
    status, body = _get(client, "/api/departments?campus_id=%3Cscript%3E")
    assert status == 400 and body["code"] == "BAD_REQUEST" and "院区" in body["message"]


def test_department_detail_with_doctors_and_fees(client):
    status, body = _get(client, "/api/departments/D0301")
    assert status == 200
    assert body["department"]["location"]["description"] == "出电梯右转B区"
    assert [d["name"] for d in body["doctors"]] == ["李明", "赵强", "王芳"]  # by seniority; inactive hidden
    assert body["campus"]["campus_id"] == "C01"
    assert [(f["reg_type"], f["fee_text"]) for f in body["fees"]] == [
        ("general", "10.00"), ("expert", "50.00"), ("expert", "30.00"), ("special_needs", "300.00")]


def test_unknown_inactive_or_parent_department_is_404_in_chinese(client):
    for dept in ("NOPE", "D0303", "D03", "a" * 41):
        status, body = _get(client, f"/api/departments/{dept}")
        assert status == 404 and body["code"] == "NOT_FOUND" and "科室" in body["message"], dept


def test_doctor_detail(client):
    status, body = _get(client, "/api/doctors/DR10024")
    assert status == 200
    assert body["doctor"]["title_name"] == "主治医师"
    assert [d["name"] for d in body["departments"]] == ["心血管内科", "呼吸内科"]
    status, body = _get(client, "/api/doctors/DR10027")  # inactive
    assert status == 404 and "医生" in body["message"]


def test_fee_schedule(client):
    status, body = _get(client, "/api/fee-schedule?campus_id=C02")
    assert status == 200
    assert [f["fee_fen"] for f in body["items"]] == [1000, 5000, 3000]
    assert body["items"][1]["components"] == [{"name": "诊察费", "amount_fen": 5000, "amount_text": "50.00"}]


def test_before_first_sync_everything_is_empty_not_an_error(client):
    from chalicelib import bootstrap

    bootstrap.override(reference_repository=FakeReferenceRepository())
    status, body = _get(client, "/api/hospital")
    assert status == 200 and body["campuses"] == [] and body["as_of"] is None
    status, body = _get(client, "/api/departments")
    assert status == 200 and body["groups"] == []


def test_storage_failure_becomes_a_calm_503(client):
    from chalicelib import bootstrap

    class Broken(FakeReferenceRepository):
        def campuses(self):
            raise ConnectionError("dynamodb unreachable")

    bootstrap.override(reference_repository=Broken())
    status, body = _get(client, "/api/campuses")
    assert status == 503 and body["code"] == "SERVICE_UNAVAILABLE" and "稍后" in body["message"]
