"""§8 event log: status changes of linked patients' appointments, pulled with GET /v1/events and cursors."""

from __future__ import annotations

from devstack.his_simulator.simulator import Simulator

from .booking_helpers import cancel, confirm, lock, lock_body
from .conftest import SignedClient
from .contract import assert_conforms, assert_schema


def test_pull_events_with_cursors(booking: tuple[Simulator, SignedClient]) -> None:
    _, api = booking
    start = api.get("/v1/events", {"since": "2025-06-16T08:00:00+08:00"}).get_json()
    assert start["items"] == [] and start["next_cursor"]
    appt = lock(api, lock_body()).get_json()
    confirm(api, appt)
    cancel(api, appt)

    everything = api.get("/v1/events", {"since": "2025-06-16T08:00:00+08:00"})
    body = everything.get_json()
    assert_conforms("/events", "get", 200, body)
    assert [e["data"]["new_status"] for e in body["items"]] == ["confirmed", "cancelled"]
    for envelope in body["items"]:
        assert_schema("AppointmentStatusChangedEvent", envelope)
        assert envelope["app_id"] == "wxoa-cloud-test" and envelope["event_id"].startswith("evt_")
        assert "name" not in envelope["data"] and "phone" not in envelope["data"]
    assert body["items"][1]["data"]["refund"]["refund_amount_fen"] == 5000

    first = api.get("/v1/events", {"after": start["next_cursor"], "page_size": 1}).get_json()
    assert [e["event_id"] for e in first["items"]] == [body["items"][0]["event_id"]]
    second = api.get("/v1/events", {"after": first["next_cursor"], "page_size": 1}).get_json()
    assert [e["event_id"] for e in second["items"]] == [body["items"][1]["event_id"]]
    idle = api.get("/v1/events", {"after": second["next_cursor"]}).get_json()
    assert idle == {"items": [], "next_cursor": second["next_cursor"]}
    assert api.get("/v1/events", {"after": start["next_cursor"], "event_type": "queue.called"}).get_json()[
        "items"] == []


def test_events_only_for_linked_patients(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    appt = lock(api, lock_body()).get_json()
    api.delete("/v1/patients/P000123456/link")
    sim.advance(901)  # the lock expires while nobody is linked
    assert sim.state.appointments[appt["appointment_id"]].status == "locked"  # expiry is applied lazily ...
    api.get("/v1/campuses")  # ... on the next request
    assert sim.state.appointments[appt["appointment_id"]].status == "expired"
    assert api.get("/v1/events", {"since": "2025-06-16T08:00:00+08:00"}).get_json()["items"] == []


def test_bad_event_cursor(api: SignedClient) -> None:
    response = api.get("/v1/events", {"after": "not-a-cursor"})
    assert response.status_code == 400
    assert response.get_json()["details"]["fields"][0]["field"] == "after"
    assert api.get("/v1/events", {"since": "2025-06-16T08:00:00Z"}).status_code == 400
