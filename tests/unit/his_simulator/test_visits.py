"""§7.9 visits over HTTP: completed visits of linked patients, one visit, and completion by the doctor."""

from __future__ import annotations

from .clinical_helpers import at_visit_day, book_li_si, check_in, events_of, monday
from .contract import assert_conforms

LIST = {"completed_from": "2025-06-01T00:00:00+08:00", "completed_to": "2025-06-16T23:59:59+08:00"}


def test_list_only_linked_patients_ordered_by_completion() -> None:
    with monday() as (sim, api, _):
        body = api.get("/v1/visits", LIST).get_json()
        assert_conforms("/visits", "get", 200, body)
        assert [v["visit_id"] for v in body["items"]] == ["V2025061500877"]
        zhang = body["items"][0]
        assert zhang["diagnosis_categories"] == [{"system": "ICD-10", "code": "I10", "primary": True},
                                                 {"system": "ICD-10", "code": "E78", "primary": False}]
        assert (zhang["completed_at"], zhang["version"], zhang["followup_allowed"]) == (
            "2025-06-15T09:31:00+08:00", 1, True)
        sim.link_patient("P000345678")
        sim.link_patient("P000987654")
        wide = {"completed_from": "2025-05-20T00:00:00+08:00", "completed_to": "2025-06-16T00:00:00+08:00"}
        items = api.get("/v1/visits", wide).get_json()["items"]
        assert [v["visit_id"] for v in items] == ["V2025052700312", "V2025060600145", "V2025061500877"]
        assert (items[0]["followup_allowed"], items[0]["diagnosis_categories"]) == (False, [])
        mine = api.get("/v1/visits", wide | {"patient_id": "P000345678"}).get_json()["items"]
        assert [v["patient_id"] for v in mine] == ["P000345678"]
        by_department = api.get("/v1/visits", wide | {"department_id": "D0301"}).get_json()["items"]
        assert [v["visit_id"] for v in by_department] == ["V2025061500877"]
        page = api.get("/v1/visits", wide | {"page_size": "2"}).get_json()
        assert len(page["items"]) == 2 and page["next_cursor"]


def test_list_validation() -> None:
    with monday() as (_, api, _admin):
        too_long = api.get("/v1/visits", {"completed_from": "2025-05-16T00:00:00+08:00",
                                          "completed_to": "2025-06-16T00:00:01+08:00"})
        assert too_long.status_code == 400
        assert_conforms("/visits", "get", 400, too_long.get_json())
        exactly_31_days = {"completed_from": "2025-05-16T00:00:00+08:00", "completed_to": "2025-06-16T00:00:00+08:00"}
        assert api.get("/v1/visits", exactly_31_days).status_code == 200
        utc = api.get("/v1/visits", LIST | {"completed_to": "2025-06-16T00:00:00Z"})
        assert utc.get_json()["details"]["fields"][0]["field"] == "completed_to"
        assert api.get("/v1/visits", {"completed_from": LIST["completed_from"]}).status_code == 400
        backwards = LIST | {"completed_to": "2025-05-01T00:00:00+08:00"}
        assert api.get("/v1/visits", backwards).status_code == 400
        assert api.get("/v1/visits", LIST | {"patient_id": "P000234567"}).get_json()["code"] == "PATIENT_NOT_LINKED"


def test_get_visit() -> None:
    with monday() as (_sim, api, _):
        visit = api.get("/v1/visits/V2025061500877")
        assert visit.status_code == 200
        assert_conforms("/visits/{visit_id}", "get", 200, visit.get_json())
        assert visit.get_json()["department_name"] == "心血管内科"
        assert api.get("/v1/visits/V2099010100001").get_json()["details"]["resource"] == "visit"
        assert api.get("/v1/visits/V2025052700312").get_json()["code"] == "PATIENT_NOT_LINKED"


def test_completion_emits_visit_completed_and_reopening_bumps_the_version() -> None:
    with monday() as (sim, api, admin):
        appt = book_li_si(api)
        at_visit_day(sim, "08:10")
        visit_id = check_in(api, appt).get_json()["visit_id"]
        in_progress = api.get(f"/v1/visits/{visit_id}").get_json()
        assert_conforms("/visits/{visit_id}", "get", 200, in_progress)
        assert (in_progress["status"], in_progress["completed_at"], in_progress["appointment_id"]) == (
            "in_progress", None, appt["appointment_id"])
        at_visit_day(sim, "09:31")
        admin.post(f"/_sim/visits/{visit_id}/complete", json={"diagnosis_categories": ["I10", "E78"]})
        assert admin.post(f"/_sim/visits/{visit_id}/complete", json={}).status_code == 409
        at_visit_day(sim, "10:15")
        reopened = admin.post(f"/_sim/visits/{visit_id}/reopen").get_json()
        assert (reopened["status"], reopened["version"]) == ("in_progress", 2)
        at_visit_day(sim, "10:20")
        admin.post(f"/_sim/visits/{visit_id}/complete")
        completed = events_of(sim, "visit.completed", "VisitCompletedEvent")
        assert [(e["data"]["version"], e["data"]["completed_at"]) for e in completed] == [
            (1, "2025-06-23T09:31:00+08:00"), (2, "2025-06-23T10:20:00+08:00")]
        assert completed[0]["data"] == {
            "visit_id": visit_id, "patient_id": "P000123456", "appointment_id": appt["appointment_id"],
            "department_id": "D0301", "doctor_id": "DR10023", "completed_at": "2025-06-23T09:31:00+08:00",
            "followup_allowed": True, "version": 1}
        listed = api.get("/v1/visits", {"completed_from": "2025-06-23T00:00:00+08:00",
                                        "completed_to": "2025-06-23T23:59:59+08:00"}).get_json()["items"]
        assert [(v["visit_id"], v["version"]) for v in listed] == [(visit_id, 2)]
        assert [d["code"] for d in listed[0]["diagnosis_categories"]] == ["I10", "E78"]
        statuses = [e["data"]["new_status"] for e in events_of(sim, "appointment.status_changed")
                    if e["data"]["appointment_id"] == appt["appointment_id"]]
        assert statuses == ["confirmed", "checked_in", "completed"]


def test_followup_policy_on_completion() -> None:
    with monday() as (sim, api, admin):
        appt = book_li_si(api)
        at_visit_day(sim, "08:10")
        visit_id = check_in(api, appt).get_json()["visit_id"]
        bad = admin.post(f"/_sim/visits/{visit_id}/complete", json={"diagnosis_categories": ["I10.901"]})
        assert bad.status_code == 400
        sensitive = admin.post(f"/_sim/visits/{visit_id}/complete", json={"diagnosis_categories": ["F32"]}).get_json()
        assert (sensitive["followup_allowed"], sensitive["diagnosis_categories"]) == (False, [])
        admin.post(f"/_sim/visits/{visit_id}/reopen")
        declined = admin.post(f"/_sim/visits/{visit_id}/complete", json={
            "diagnosis_categories": ["I10"], "followup_allowed": False}).get_json()
        assert declined["followup_allowed"] is False
        admin.post(f"/_sim/visits/{visit_id}/reopen")
        allowed = admin.post(f"/_sim/visits/{visit_id}/complete", json={"diagnosis_categories": ["I10"]}).get_json()
        assert (allowed["followup_allowed"], allowed["version"]) == (True, 3)
        assert [e["data"]["followup_allowed"] for e in events_of(sim, "visit.completed")] == [False, False, True]
