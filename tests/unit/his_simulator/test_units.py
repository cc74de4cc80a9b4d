"""Small pure pieces: clock, identity documents, pagination cursors, schema-based field errors."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from devstack.his_simulator import schemas
from devstack.his_simulator.clock import SHANGHAI, SimClock, fmt, parse_local_date, parse_local_datetime
from devstack.his_simulator.identity import (
    age_on,
    check_digit,
    make_resident_id,
    mask_id_number,
    mask_phone,
    resident_id_problems,
)
from devstack.his_simulator.pagination import decode_cursor, encode_cursor


def test_clock_offset_and_format() -> None:
    real = datetime(2025, 6, 16, 0, 0, 0, tzinfo=SHANGHAI)
    clock = SimClock(real=lambda: real)
    clock.set_now(datetime(2025, 6, 23, 8, 40, tzinfo=SHANGHAI))
    assert fmt(clock.now()) == "2025-06-23T08:40:00+08:00"
    clock.advance(90)
    assert clock.epoch() == int(datetime(2025, 6, 23, 8, 41, 30, tzinfo=SHANGHAI).timestamp())
    assert clock.offset_seconds == 7 * 86400 + 8 * 3600 + 41 * 60 + 30
    assert fmt(datetime(2025, 6, 23, 0, 40, tzinfo=SHANGHAI).astimezone(SHANGHAI)) == "2025-06-23T00:40:00+08:00"


@pytest.mark.parametrize("text", ["2025-06-23T08:40:00+08:00", "2025-06-23T08:40:00.123+08:00"])
def test_local_datetime_accepted(text: str) -> None:
    assert parse_local_datetime(text) is not None


@pytest.mark.parametrize("text", ["2025-06-23T08:40:00Z", "2025-06-23T08:40:00+00:00", "2025-06-23 08:40:00+08:00",
                                  "2025-06-23T08:40+08:00", "2025-13-23T08:40:00+08:00"])
def test_local_datetime_refused(text: str) -> None:
    assert parse_local_datetime(text) is None


def test_local_date() -> None:
    assert parse_local_date("2025-06-23") == date(2025, 6, 23)
    assert parse_local_date("20250623") is None and parse_local_date("2025-02-30") is None


def test_resident_ids() -> None:
    assert check_digit("11010119900307001") == "1"  # the spec's example 110101199003070011
    number = make_resident_id("110101", date(2018, 5, 12), 2, "female")
    assert resident_id_problems(number, "female", date(2018, 5, 12)) == []
    assert resident_id_problems(number, "male", date(2018, 5, 12)) == ["gender digit does not agree with gender"]
    assert resident_id_problems(number[:-1] + "Y", None, None)
    assert resident_id_problems("11010119900307001", None, None)


def test_masking() -> None:
    assert mask_id_number("resident_id", "110101199003070011") == "110101********0011"
    assert mask_id_number("passport", "PX0000001") == "P******01"
    assert mask_id_number("none", None) is None
    assert mask_phone("13800000001") == "138****0001"


def test_age() -> None:
    assert age_on(date(2012, 6, 16), date(2026, 6, 15)) == 13
    assert age_on(date(2012, 6, 16), date(2026, 6, 16)) == 14


def test_cursor_round_trip_is_bound_to_the_query() -> None:
    query = {"department_id": "D0301", "page_size": "5"}
    cursor = encode_cursor(10, query)
    assert decode_cursor(cursor, query | {"page_size": "9", "cursor": cursor}) == 10
    assert decode_cursor(cursor, {"department_id": "D0302"}) is None
    assert decode_cursor("%%%", query) is None


def test_schema_field_errors_name_fields_without_values() -> None:
    problems = schemas.field_errors("PatientCreateRequest", {"name": "x", "gender": "male", "birth_date": "bad",
                                                             "id_type": "resident_id", "phone": "123",
                                                             "guardian": {"name": "y"}})
    assert set(problems) == {"birth_date", "phone", "guardian.id_type", "guardian.id_number", "guardian.phone",
                             "guardian.relationship"}
    assert all("123" not in reason for reason in problems.values())
