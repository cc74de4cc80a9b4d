"""Finding the effect of a write whose outcome is unknown, by its business key (§5.2)."""

import pytest

from his_bridge.client import HisResponse, HisUnavailableError
from his_bridge.resolve import RESOLVERS, find_effect


class Reads:
    """Answers reads from a dict keyed by (operation, id or query value); records the calls."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def call(self, operation, *, path_params=None, query=None, deadline=None, **_):
        key = next(iter((path_params or query or {}).values()), None)
        self.calls.append((operation, key, deadline))
        answer = self.answers.get((operation, key))
        if answer is None:
            return HisResponse(404, {"code": "RESOURCE_NOT_FOUND", "message": "", "retryable": False})
        return answer if isinstance(answer, HisResponse) else HisResponse(200, answer)


APPT = {"appointment_id": "A1", "order_id": "WXO1", "status": "locked", "visit_id": None, "payment": None}
PAYMENT = {"transaction_id": "4200001", "amount_fen": 5000}


def test_every_write_with_a_business_key_has_a_resolver():
    assert set(RESOLVERS) == {"lockAppointment", "confirmAppointment", "cancelAppointment", "checkInAppointment",
                              "prepareSettlement", "confirmSettlement", "cancelSettlement", "refundSettlementItems"}


def test_lock_is_found_by_order_id():
    reads = Reads({("queryAppointments", "WXO1"): {"items": [APPT], "next_cursor": None}})
    effect = find_effect(reads, "lockAppointment", {}, {"order_id": "WXO1"}, deadline=9.0)
    assert effect.status == 201 and effect.body == APPT and reads.calls == [("queryAppointments", "WXO1", 9.0)]
    assert find_effect(Reads({("queryAppointments", "WXO2"): {"items": []}}), "lockAppointment", {},
                       {"order_id": "WXO2"}) is None


@pytest.mark.parametrize(("operation", "status", "found"), [
    ("confirmAppointment", "locked", False), ("confirmAppointment", "confirmed", True),
    ("confirmAppointment", "checked_in", True), ("confirmAppointment", "expired", False),
    ("cancelAppointment", "confirmed", False), ("cancelAppointment", "cancelled", True),
    ("checkInAppointment", "confirmed", False), ("checkInAppointment", "checked_in", True),
])
def test_appointment_writes_are_found_by_reading_the_appointment(operation, status, found):
    appt = APPT | {"status": status, "visit_id": "V1" if status == "checked_in" else None}
    effect = find_effect(Reads({("getAppointment", "A1"): appt}), operation, {"appointment_id": "A1"},
                         {"order_id": "WXO1", "payment": PAYMENT})
    assert (effect is not None) == found
    if found:
        assert effect.status == 200 and effect.body["status"] == status


def test_a_confirmation_later_cancelled_by_the_hospital_is_recognised_by_its_payment():
    cancelled = APPT | {"status": "cancelled", "payment": PAYMENT}
    reads = Reads({("getAppointment", "A1"): cancelled})
    assert find_effect(reads, "confirmAppointment", {"appointment_id": "A1"}, {"payment": PAYMENT}) is not None
    other = {"payment": PAYMENT | {"transaction_id": "4200999"}}
    assert find_effect(reads, "confirmAppointment", {"appointment_id": "A1"}, other) is None


def test_settlement_writes_are_found_by_request_no_and_by_id():
    st = {"settlement_id": "ST1", "settlement_request_no": "STL1", "status": "pending", "refunds": []}
    reads = Reads({("querySettlements", "STL1"): {"items": [st]}, ("getSettlement", "ST1"): st})
    assert find_effect(reads, "prepareSettlement", {}, {"settlement_request_no": "STL1"}).status == 201
    assert find_effect(reads, "confirmSettlement", {"settlement_id": "ST1"}, {}) is None
    assert find_effect(reads, "cancelSettlement", {"settlement_id": "ST1"}, {}) is None
    st["status"] = "settled"
    assert find_effect(reads, "confirmSettlement", {"settlement_id": "ST1"}, {}).body["status"] == "settled"
    st["status"] = "cancelled"
    assert find_effect(reads, "cancelSettlement", {"settlement_id": "ST1"}, {}).status == 200


def test_a_refund_is_found_in_the_settlements_refunds():
    refund = {"his_refund_id": "HR1", "refund_request_no": "RFS1", "refund_amount_fen": 1850}
    st = {"settlement_id": "ST1", "status": "partially_refunded", "refunds": [refund]}
    reads = Reads({("getSettlement", "ST1"): st})
    effect = find_effect(reads, "refundSettlementItems", {"settlement_id": "ST1"}, {"refund_request_no": "RFS1"})
    assert effect.status == 201 and effect.body == refund
    assert find_effect(reads, "refundSettlementItems", {"settlement_id": "ST1"}, {"refund_request_no": "RFS2"}) is None


def test_identity_writes_and_reads_have_no_query():
    reads = Reads({})
    assert find_effect(reads, "createPatient", {}, {"name": "x"}) is None
    assert find_effect(reads, "listCampuses", {}, None) is None and reads.calls == []


def test_a_query_that_cannot_answer_leaves_the_outcome_unknown():
    busy = HisResponse(503, {"code": "HIS_UNAVAILABLE", "message": "", "retryable": True})
    with pytest.raises(HisUnavailableError):
        find_effect(Reads({("queryAppointments", "WXO1"): busy}), "lockAppointment", {}, {"order_id": "WXO1"})
