from chalicelib.domain.his_reference import parse_department
from chalicelib.domain.reference import (
    OTHER_GROUP_NAME,
    Doctor,
    FeeEntry,
    doctors_of_department,
    fees_for,
    format_fen,
    group_departments,
)
from tests.conftest import load_fixture


def _departments():
    return [parse_department(d) for d in load_fixture("his/reference_departments.json")["items"]]


def test_groups_follow_parents_in_hospital_order_and_orphans_go_last():
    groups = group_departments(_departments())
    assert [g.name for g in groups] == ["内科", "妇产科", OTHER_GROUP_NAME]
    assert [d.name for d in groups[0].departments] == ["心血管内科", "呼吸内科"]  # 消化内科 is inactive
    assert [d.name for d in groups[-1].departments] == ["儿科"]  # parent D06 unknown


def test_groups_filter_by_campus_and_hide_non_bookable_parents():
    groups = group_departments(_departments(), campus_id="C02")
    assert [(g.name, [d.department_id for d in g.departments]) for g in groups] == [(OTHER_GROUP_NAME, ["D0601"])]
    names = {d.name for g in group_departments(_departments()) for d in g.departments}
    assert "内科" not in names


def test_restriction_text():
    by_name = {d.name: d for d in _departments()}
    assert by_name["妇科"].restriction_text() == "仅限女性"
    assert by_name["儿科"].restriction_text() == "限14岁以下"
    assert by_name["心血管内科"].restriction_text() is None


def _doctor(doctor_id, name, title, depts=("D1",), status="active"):
    return Doctor(doctor_id, name, title, "", tuple(depts), status)


def test_doctors_most_senior_first_unknown_titles_last_inactive_hidden():
    doctors = [
        _doctor("3", "丙", "attending_physician"),
        _doctor("4", "丁", "visiting_expert"),
        _doctor("1", "甲", "chief_physician"),
        _doctor("2", "乙", "associate_chief_physician"),
        _doctor("5", "戊", "chief_physician", status="inactive"),
        _doctor("6", "己", "chief_physician", depts=("D2",)),
    ]
    assert [d.doctor_id for d in doctors_of_department(doctors, "D1")] == ["1", "2", "3", "4"]


def test_fees_for_campus_and_title():
    fees = [
        FeeEntry("special_needs", "特需号", 30000, "2026-01-01", campus_id="C01"),
        FeeEntry("expert", "专家号", 5000, "2026-01-01", title_code="chief_physician"),
        FeeEntry("general", "普通号", 1000, "2026-01-01"),
        FeeEntry("expert", "专家号", 3000, "2026-01-01", title_code="associate_chief_physician"),
    ]
    assert [f.fee_fen for f in fees_for(fees, "C02")] == [1000, 5000, 3000]
    assert [f.fee_fen for f in fees_for(fees, "C01")] == [1000, 5000, 3000, 30000]
    assert [f.fee_fen for f in fees_for(fees, "C01", "chief_physician")] == [1000, 5000, 30000]


def test_format_fen_is_exact():
    assert format_fen(5000) == "50.00"
    assert format_fen(1) == "0.01"
    assert format_fen(0) == "0.00"
    assert format_fen(123456789) == "1234567.89"
    assert format_fen(-250) == "-2.50"


def test_same_named_parents_of_two_campuses_form_one_group():
    from chalicelib.domain.reference import Department, Location

    def dept(i, name, campus, parent=None, bookable=True, order=0):
        return Department(i, name, campus, Location(campus, "门诊楼", "1F"), bookable, parent_id=parent, sort_order=order)

    departments = [
        dept("C1-IM", "内科", "C01", bookable=False, order=1), dept("C2-IM", "内科", "C02", bookable=False, order=1),
        dept("C1-SUR", "外科", "C01", bookable=False, order=2),
        dept("C1-01", "心血管内科", "C01", "C1-IM"), dept("C2-01", "心血管内科", "C02", "C2-IM"),
        dept("C1-02", "普通外科", "C01", "C1-SUR"),
    ]
    groups = group_departments(departments)
    assert [(g.name, [d.department_id for d in g.departments]) for g in groups] == [
        ("内科", ["C1-01", "C2-01"]), ("外科", ["C1-02"])]
