"""Reports for display: flags, list states, amendments, query validation, tolerance of the middleware's JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.reports import (
    ReportFormatError,
    ReportQuery,
    ReportQueryError,
    detail_from_his,
    is_valid_id,
    not_viewable_message,
    parse_report_query,
    shanghai_today,
    summaries_from_his,
    summary_from_his,
)
from tests.conftest import SPEC_DIR
from tests.fakes_live_reads import sample_reports

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def spec_example() -> dict:
    import json

    return json.loads((SPEC_DIR / "examples" / "10-report-detail-lab.json").read_text(encoding="utf-8"))["response"]["body"]


def by_id(report_id: str) -> dict:
    return next(r for r in sample_reports("P1", NOW) if r["report_id"] == report_id)


# ---- query ------------------------------------------------------------------------------------------
def test_query_defaults_to_the_longest_range_and_both_categories():
    assert parse_report_query(None, None) == ReportQuery(None, 180)
    assert parse_report_query("", " ") == ReportQuery(None, 180)
    assert parse_report_query("lab", "30") == ReportQuery("lab", 30)
    assert parse_report_query("exam", "180") == ReportQuery("exam", 180)


@pytest.mark.parametrize(("category", "days", "message"), [
    ("blood", None, "报告类别不正确，请选择检验或检查"),
    (None, "0", "查询天数应为1到180之间的整数"),
    (None, "181", "查询天数应为1到180之间的整数"),
    (None, "-5", "查询天数应为1到180之间的整数"),
    (None, "3.5", "查询天数应为1到180之间的整数"),
    (None, "３０", "查询天数应为1到180之间的整数"),  # full-width digits
])
def test_bad_queries_get_a_chinese_message(category, days, message):
    with pytest.raises(ReportQueryError) as caught:
        parse_report_query(category, days)
    assert caught.value.message == message


def test_the_date_range_is_shanghai_days_and_never_over_180():
    late_utc = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)  # already 26 Nov in Shanghai
    today = shanghai_today(late_utc)
    assert today == date(2026, 11, 26)
    assert ReportQuery(None, 180).date_range(today) == (date(2026, 5, 31), date(2026, 11, 26))
    start, end = ReportQuery(None, 180).date_range(today)
    assert (end - start).days == 179
    assert ReportQuery(None, 1).date_range(today) == (today, today)


def test_ids_that_may_go_into_a_path():
    assert is_valid_id("R-LIS-20250623-004417") and is_valid_id("P000123456")
    for bad in ["", "../x", "a/b", "a b", "x" * 41, "<script>", "-leading"]:
        assert not is_valid_id(bad), bad


# ---- lab items --------------------------------------------------------------------------------------
def test_spec_example_items_keep_the_lab_order_values_and_flags():
    d = detail_from_his(spec_example())
    assert [(i.name, i.value, i.unit, i.reference_range, i.flag_text) for i in d.items] == [
        ("白细胞计数", "11.6", "10^9/L", "3.5-9.5", "偏高↑"),
        ("中性粒细胞百分比", "78.2", "%", "40-75", "偏高↑"),
        ("红细胞计数", "4.52", "10^12/L", "4.3-5.8", "正常"),
        ("血红蛋白", "126", "g/L", "130-175", "偏低↓"),
        ("血小板计数", "18", "10^9/L", "125-350", "危急值"),
    ]
    assert [i.name for i in d.abnormal_items] == ["白细胞计数", "中性粒细胞百分比", "血红蛋白", "血小板计数"]
    assert [i.critical for i in d.items] == [False, False, False, False, True]
    assert d.conclusion.startswith("血小板计数为危急值") and d.pdf_available and not d.amended
    assert d.summary.category_name == "检验" and d.summary.state_text == "已出报告"


def test_abnormal_non_numeric_and_unknown_flags_are_shown_as_reported():
    raw = {**spec_example(), "items": [
        {"code": "HBsAg", "name": "乙肝表面抗原", "value": "阳性", "flag": "A"},
        {"code": "X", "name": "新项目", "value": "12", "flag": "HH"},
        {"code": "Y", "name": "缺少数值"},  # no value: left out, not invented
    ]}
    items = detail_from_his(raw).items
    assert [(i.name, i.value, i.flag_text, i.abnormal) for i in items] == [("乙肝表面抗原", "阳性", "异常", True),
                                                                          ("新项目", "12", "HH", True)]
    assert items[0].unit is None and items[0].reference_range is None


# ---- list states ------------------------------------------------------------------------------------
def test_list_states_for_each_kind_of_report():
    listed = summaries_from_his({"items": sample_reports("P1", NOW)})
    states = {s.report_id: (s.state, s.state_text, s.state_note) for s in listed}
    assert states["R-LIS-1-004417"] == ("viewable", "已出报告", None)
    assert states["R-LIS-1-004502"] == ("pending", "报告未出", "预计2026-11-27 10:00出报告")
    assert states["R-PACS-1-001300"] == ("awaiting_release", "待发布", "预计2026-11-27 09:00后可查看")
    assert states["R-LIS-1-003900"] == ("viewable", "已更正", None)
    restricted = summary_from_his({**by_id("R-PACS-1-001300"), "not_viewable_reason": "policy_restricted"})
    assert (restricted.state, restricted.state_text) == ("in_person", "请到院领取")
    critical = summary_from_his({**by_id("R-PACS-1-001300"), "not_viewable_reason": "critical_pending_acknowledgement"})
    assert critical.state_text == "待发布"
    odd = summary_from_his({**by_id("R-PACS-1-001300"), "not_viewable_reason": "something_new"})
    assert (odd.state, odd.state_text) == ("not_viewable", "暂不可查看")


def test_the_list_is_newest_first_and_skips_unreadable_items():
    items = [*sample_reports("P1", NOW), {"report_id": None, "title": "坏数据"}, "not an object"]
    listed = summaries_from_his({"items": items, "next_cursor": None})
    assert [s.title for s in listed] == ["胸部CT平扫", "糖化血红蛋白", "血常规", "经胸超声心动图", "尿常规"]
    with pytest.raises(ReportFormatError):
        summaries_from_his({"reports": []})


def test_absent_null_and_unknown_fields_are_tolerated():
    minimal = {"report_id": "R1", "title": "血常规", "category": "pathology", "status": "preliminary",
               "ordered_at": "2026-11-20T08:00:00+08:00", "brand_new_field": {"x": 1}}
    s = summary_from_his(minimal)
    assert (s.category_name, s.status, s.version, s.online_viewable, s.abnormal_count) == ("pathology", "preliminary", 1,
                                                                                         False, None)
    assert s.ordered_at == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert summary_from_his({**minimal, "ordered_at": "2026-11-20T08:00:00"}).ordered_at is None  # no offset: not trusted
    d = detail_from_his({**minimal, "items": None, "amendment": None})
    assert d.items == () and d.amendment is None and not d.pdf_available
    with pytest.raises(ReportFormatError):
        summary_from_his({"title": "no id"})


# ---- amendments and not viewable -------------------------------------------------------------------
def test_an_amended_report_is_flagged_with_time_version_and_reason():
    d = detail_from_his(by_id("R-LIS-1-003900"))
    assert d.amended and d.summary.version == 2
    assert d.amendment_note == ("本报告已于2026-11-07 10:00更正（第2版），原因：标本编号录入更正。"
                                "如您看过之前的版本，请以本版本为准。")
    assert d.items[0].flag_text == "异常"


@pytest.mark.parametrize(("reason", "release_at", "message"), [
    ("pending", None, "报告尚未出具，请耐心等待"),
    ("release_delay", datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
     "报告已出具，暂未到在线发布时间，预计2026-11-27 09:00后可查看"),
    ("critical_pending_acknowledgement", None, "报告正在等待医生确认，暂不能在线查看，请稍后再来查看"),
    ("policy_restricted", datetime(2026, 11, 27, 1, 0, tzinfo=UTC), "该报告不提供在线查看，请到医院自助机或服务窗口领取"),
    ("brand_new_reason", None, "报告暂不能在线查看，请稍后再试"),
    (None, None, "报告暂不能在线查看，请稍后再试"),
])
def test_a_chinese_message_for_each_not_viewable_reason(reason, release_at, message):
    assert not_viewable_message(reason, release_at) == message
