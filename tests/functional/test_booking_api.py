"""The booking API through ``chalice.test.Client`` on fakes: book, follow, cancel, reschedule, my appointments,
the waitlist; refusals as Chinese 4xx with codes; another user's appointment is 404 and audited; the saga's
queue results and timers through their Lambda entry points."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.booking import State
from chalicelib.domain.wechat import NoticeKind
from chalicelib.services import h5_login
from tests.fakes_booking import BEFORE_RELEASE, BookingWorld, his_ok, locked_body, schedule
from tests.functional.test_auth_api import OPENID, World, _install, _logged_in, _settings, _validate

EXERCISED = {"/api/appointments", "/api/appointments/{appointment_id}", "/api/appointments/{appointment_id}/cancel",
             "/api/appointments/{appointment_id}/reschedule", "/api/schedules/{schedule_id}/waitlist",
             "/api/schedules/{schedule_id}/waitlist/{patient_id}", "/api/waitlist",
             "/api/waitlist/offers/{offer_id}/claim"}
STRANGER = "oSomeoneElse000000000000000001"


class Api:
    def __init__(self, client: Any, booking: BookingWorld, session: str) -> None:
        self.client, self.w = client, booking
        self.headers = {"cookie": f"yw_session={session}", "Content-Type": "application/json"}

    def post(self, path: str, payload: Any = None) -> Any:
        body = payload if isinstance(payload, str) else json.dumps(payload or {})
        return self.client.http.post(path, headers=self.headers, body=body)

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.http.delete(path, headers=self.headers)

    def book(self, key: str = "req-api-00001", patient: str = "P1", sched: str = "SCH1") -> Any:
        return self.post("/api/appointments", {"schedule_id": sched, "patient_id": patient, "request_key": key})

    def run_results(self) -> None:
        """Answer every lock/confirm the saga sent since the last call, as the bridge would (via on_his_result)."""
        start, self._seen = self._seen, len(self.w.requests.sent)
        for req in self.w.requests.sent[start:self._seen]:
            if req.operation == "lockAppointment":
                fee = self.w.schedules[req.body["schedule_id"]].fee_fen
                result = his_ok(req, locked_body(req, self.w.now, fee), self.w.now)
            elif req.operation == "confirmAppointment":
                confirmed = {"appointment_id": req.path_params["appointment_id"], "status": "confirmed"}
                result = his_ok(req, confirmed, self.w.now)
            elif req.operation == "cancelAppointment":
                result = his_ok(req, {"status": "cancelled"}, self.w.now)
            else:
                continue
            event = self.client.events.generate_sqs_event(queue_name="yiwei-his-results", message_bodies=[json.dumps(
                {"request_id": result.request_id, "operation": result.operation, "outcome": "ok", "status": 200,
                 "body": result.body, "context": result.context, "fetched_at": result.fetched_at.isoformat()})])
            answer = self.client.lambda_.invoke("on_his_result", event)
            assert answer.payload == {"batchItemFailures": []}

    _seen = 0


def body(resp: Any) -> Any:
    return json.loads(resp.body)


@pytest.fixture
def api() -> Any:
    world = World()
    _install(world, _settings())
    w = BookingWorld()
    w.schedules["SCH1"] = schedule("SCH1", capacity=2, fee_fen=0)
    w.schedules["SCH2"] = schedule("SCH2", capacity=2, fee_fen=5000, visit_day=schedule().date + timedelta(days=1))
    w.bind(OPENID, "P1")
    w.bind(OPENID, "P2", label="李*")
    w.bind(STRANGER, "P9")
    bootstrap.override(booking_context=w.context(), patient_bindings=w.bindings)
    with Client(app, stage_name="local") as client:
        yield Api(client, w, _logged_in(client))


def test_book_follow_and_get_the_notice(api):
    resp = api.book()
    assert resp.status_code == 202 and resp.headers["Cache-Control"] == "no-store"
    made = body(resp)["appointment"]
    _validate("/api/appointments", "post", 202, body(resp))
    assert made["state"] == "holding" and made["final"] is False and made["patient"]["label"] == "张*"
    api.run_results()  # lock → confirm
    api.run_results()  # confirm → confirmed
    got = api.get(f"/api/appointments/{made['appointment_id']}")
    _validate("/api/appointments/{appointment_id}", "get", 200, body(got))
    detail = body(got)["appointment"]
    assert detail["state"] == "confirmed" and detail["cancellable"] is True and detail["location"]["text"]
    assert [n.kind for n, _ in api.w.notices] == [NoticeKind.BOOKING_SUCCESS]
    assert api.book().status_code == 202 and body(api.book())["appointment"]["appointment_id"] == made["appointment_id"]


def test_a_paid_registration_says_to_pay_before_the_deadline(api):
    made = body(api.book(sched="SCH2"))["appointment"]
    api.run_results()
    detail = body(api.get(f"/api/appointments/{made['appointment_id']}"))["appointment"]
    assert detail["state"] == "awaiting_payment" and detail["needs_payment"] is True and detail["pay_by"]
    assert detail["fee_text"] == "50.00"


@pytest.mark.parametrize(("payload", "message"), [
    ("not json", "请求格式不正确"), ({"schedule_id": "SCH1", "patient_id": "P1"}, "预约编号"),
    ({"schedule_id": "SCH1", "patient_id": "P1", "request_key": "bad key!"}, "预约编号"),
    ({"schedule_id": "../x", "patient_id": "P1", "request_key": "req-api-00001"}, "时段"),
])
def test_bad_input_is_a_clear_400(api, payload, message):
    resp = api.post("/api/appointments", payload)
    assert resp.status_code == 400 and message in body(resp)["message"]
    _validate("/api/appointments", "post", 400, body(resp))


def test_refusals_carry_their_code_and_a_message_for_people(api):
    api.w.now = BEFORE_RELEASE
    early = api.book()
    assert early.status_code == 409 and body(early)["code"] == "NOT_RELEASED"
    assert body(early)["release_at"].endswith("+08:00")
    _validate("/api/appointments", "post", 409, body(early))
    api.w.now = BEFORE_RELEASE + timedelta(minutes=10)
    api.book("req-api-00002", "P1")
    api.book("req-api-00003", "P2")
    api.w.bind(OPENID, "P3")
    full = api.book("req-api-00004", "P3")
    assert full.status_code == 409 and body(full)["code"] == "SCHEDULE_FULL" and body(full)["waitlist_open"] is True
    assert body(api.book("req-api-00005", "P9"))["code"] == "PATIENT_NOT_FOUND"


def test_too_many_requests_is_a_429_with_retry_after(api):
    api.w.overrides["requests_per_minute"] = 1
    bootstrap.override(booking_context=api.w.context())
    api.book("req-api-00010")
    resp = api.book("req-api-00011", "P2")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1 and body(resp)["retry_after"] >= 1
    _validate("/api/appointments", "post", 429, body(resp))


def _session_of(openid: str) -> str:
    settings = bootstrap.container().settings
    now = bootstrap.container().clock()
    key = h5_login.signing_key(settings.stage, settings.session_secret)
    return h5_login.session_cookie(h5_login.WebSession(openid, now, now + timedelta(hours=1)), key)


def test_another_users_appointment_is_not_found_and_audited(api, logs):
    mine = body(api.book())["appointment"]["appointment_id"]
    stranger = Api(api.client, api.w, _session_of(STRANGER))
    moved = {"schedule_id": "SCH2", "request_key": "req-x-000001"}
    for resp in (stranger.get(f"/api/appointments/{mine}"), stranger.post(f"/api/appointments/{mine}/cancel"),
                 stranger.post(f"/api/appointments/{mine}/reschedule", moved)):
        assert resp.status_code == 404 and body(resp)["message"] == "没有找到该预约"
    assert sum("audit: appointment of another user" in line for line in logs) == 3
    assert not any(STRANGER in line or OPENID in line for line in logs)
    assert api.w.appointments.get(mine).state is State.HOLDING
    assert api.get("/api/appointments/WXO-nope").status_code == 404
    anonymous = Api(api.client, api.w, "")
    assert anonymous.get(f"/api/appointments/{mine}").status_code == 401


def test_cancel_and_the_lists(api):
    made = body(api.book())["appointment"]["appointment_id"]
    api.run_results()
    api.run_results()
    resp = api.post(f"/api/appointments/{made}/cancel")
    assert resp.status_code == 202 and body(resp)["appointment"]["state"] == "cancelling"
    _validate("/api/appointments/{appointment_id}/cancel", "post", 202, body(resp))
    api.run_results()
    listed = api.get("/api/appointments?view=cancelled")
    _validate("/api/appointments", "get", 200, body(listed))
    assert [a["appointment_id"] for a in body(listed)["items"]] == [made]
    assert body(api.get("/api/appointments"))["items"] == []
    assert api.get("/api/appointments?view=everything").status_code == 400
    again = api.post(f"/api/appointments/{made}/cancel")
    assert again.status_code == 409 and "不能取消" in body(again)["message"]


def test_reschedule_through_the_api(api):
    api.w.schedules["SCH3"] = schedule("SCH3", capacity=2, fee_fen=0, visit_day=schedule().date + timedelta(days=2))
    old = body(api.book())["appointment"]["appointment_id"]
    api.run_results()
    api.run_results()
    resp = api.post(f"/api/appointments/{old}/reschedule", {"schedule_id": "SCH3", "request_key": "req-resch-0001"})
    assert resp.status_code == 202
    _validate("/api/appointments/{appointment_id}/reschedule", "post", 202, body(resp))
    api.run_results()
    api.run_results()
    api.run_results()
    assert api.w.appointments.get(old).state is State.CANCELLED


def test_the_waitlist_join_offer_claim_leave(api):
    api.book("req-api-00020", "P1")
    api.w.bind(OPENID, "P3")
    first = body(api.book("req-api-00022", "P2"))["appointment"]["appointment_id"]
    joined = api.post("/api/schedules/SCH1/waitlist", {"patient_id": "P3"})
    assert joined.status_code == 201 and body(joined)["entry"]["place"] == 1
    _validate("/api/schedules/{schedule_id}/waitlist", "post", 201, body(joined))
    api.run_results()
    api.run_results()
    api.post(f"/api/appointments/{first}/cancel")
    api.run_results()  # the cancel frees the slot: it is offered to P3
    listed = body(api.get("/api/waitlist"))
    _validate("/api/waitlist", "get", 200, listed)
    (entry,) = listed["items"]
    assert entry["state"] == "offered" and entry["offer"]["offer_id"]
    assert [n.kind for n, _ in api.w.notices].count(NoticeKind.WAITLIST_OFFER) == 1
    claimed = api.post(f"/api/waitlist/offers/{entry['offer']['offer_id']}/claim", {"request_key": "req-claim-0001"})
    assert claimed.status_code == 202 and body(claimed)["appointment"]["patient"]["patient_id"] == "P3"
    _validate("/api/waitlist/offers/{offer_id}/claim", "post", 202, body(claimed))
    left = api.delete("/api/schedules/SCH1/waitlist/P3")
    assert left.status_code == 204
    assert api.delete("/api/schedules/SCH1/waitlist/P9").status_code == 404


def test_the_timers_run_through_their_schedule_entry_point(api):
    made = body(api.book(sched="SCH2"))["appointment"]["appointment_id"]
    api.run_results()
    api.w.now += timedelta(minutes=17)
    answer = api.client.lambda_.invoke("booking_timers", api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert answer.payload["fired"]["lock_lapse"] == 1
    assert api.w.appointments.get(made).state is State.EXPIRED
