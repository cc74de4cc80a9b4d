from datetime import UTC, datetime

import pytest

from chalicelib.domain.his_reference import ReferencePayloadError, snapshot_from_payload
from chalicelib.domain.reference import Dataset
from tests.conftest import load_fixture

AT = datetime(2026, 11, 26, tzinfo=UTC)


def test_campuses_tolerate_unknown_fields_nulls_and_skip_unusable_items():
    snap, skipped = snapshot_from_payload(Dataset.CAMPUSES, load_fixture("his/reference_campuses.json"), AT, '"e1"')
    assert skipped == 1  # the campus without an id
    assert [c.campus_id for c in snap.campuses] == ["C01", "C02", "C09"]
    east = snap.campuses[1]
    assert east.phone is None and east.short_name is None and east.active
    assert not snap.campuses[2].active
    assert snap.etag == '"e1"' and snap.fetched_at == AT


def test_doctors_keep_unknown_title_codes():
    snap, skipped = snapshot_from_payload(Dataset.DOCTORS, load_fixture("his/reference_doctors.json"), AT, None)
    assert skipped == 0
    special = next(d for d in snap.doctors if d.doctor_id == "DR10026")
    assert (special.title_code, special.title_name) == ("consultant", "特聘专家")
    assert special.specialties == () and special.intro is None


def test_fees_reject_non_integer_money():
    snap, skipped = snapshot_from_payload(Dataset.FEE_SCHEDULE, load_fixture("his/reference_fee_schedule.json"), AT,
                                          None)
    assert skipped == 1  # fee_fen 12.5 is not fen
    assert all(isinstance(f.fee_fen, int) for f in snap.fees)
    assert snap.fees[0].components[0].name == "诊察费"


@pytest.mark.parametrize("payload", [None, [], {"items": None}, {"data": []}, "x"])
def test_payload_without_items_list_is_an_error(payload):
    with pytest.raises(ReferencePayloadError):
        snapshot_from_payload(Dataset.CAMPUSES, payload, AT, None)
