"""The patient H5 pages in a WeChat-like headless Chromium against the whole local stack.

Every expectation is derived from the JSON API first (read through the CDN-like server, as the pages do), so the
tests hold for whatever reference data the HIS simulator serves.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.e2e

NOT_FOUND_CONSOLE = r"Failed to load resource: the server responded with a status of 404"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def h5(stack: Any, path: str) -> str:
    return stack.h5_url.rstrip("/") + "/" + path.lstrip("/")


def api(stack: Any, path: str, params: dict[str, str] | None = None) -> Any:
    resp = requests.get(h5(stack, "api/" + path), params=params, timeout=15)
    resp.raise_for_status()
    return resp.json()


def department_names(data: dict[str, Any]) -> list[str]:
    return [d["name"] for g in data["groups"] for d in g["departments"]]


def find_department_with_doctors(stack: Any) -> dict[str, Any]:
    for group in api(stack, "departments")["groups"]:
        for dep in group["departments"]:
            detail = api(stack, "departments/" + dep["department_id"])
            if detail["doctors"]:
                return detail
    pytest.fail("no department of the HIS simulator has doctors")


def visible_departments(page: Page) -> Locator:
    return page.locator("#dept-list .yw-dept:visible .yw-dept-name")


def test_home_shows_hospital_name_and_campuses(page: Page, local_stack: Any) -> None:
    hospital = api(local_stack, "hospital")
    assert hospital["as_of"], "the stack must have synced reference data before the tests"
    page.goto(h5(local_stack, "index.html"))

    expect(page.locator("#hospital-name")).to_have_text(hospital["name"])
    expect(page).to_have_title(hospital["name"])
    campus_rows = page.locator("#campus-list .yw-campus")
    expect(campus_rows).to_have_count(len(hospital["campuses"]))
    for campus in hospital["campuses"]:
        expect(campus_rows.filter(has_text=campus["name"])).to_have_count(1)
    expect(page.locator(".yw-stats")).to_contain_text(str(hospital["stats"]["departments"]))
    expect(page.locator(".yw-stats")).to_contain_text(str(hospital["stats"]["doctors"]))
    for label, target in [
        ("院区导航", "campuses.html"),
        ("科室导航", "departments.html"),
        ("找医生", "departments.html"),
        ("收费标准", "fees.html"),
    ]:
        href = page.locator(".weui-grid", has_text=label).get_attribute("href")
        assert href and href.startswith(target), (label, href)
    expect(page.locator("#yw-foot")).to_contain_text("更新于")


def test_campuses_page_lists_address_and_phone(page: Page, local_stack: Any) -> None:
    campuses = api(local_stack, "campuses")["items"]
    page.goto(h5(local_stack, "campuses.html"))

    expect(page).to_have_title("院区导航")
    expect(page.locator(".yw-campus")).to_have_count(len(campuses))
    for campus in campuses:
        section = page.locator(f"#campus-{campus['campus_id']}")
        expect(section).to_contain_text(campus["name"])
        expect(section).to_contain_text(campus["address"])
        if campus["phone"]:
            tel = section.locator("a[href^='tel:']")
            expect(tel).to_contain_text(campus["phone"])


def test_departments_page_shows_departments_from_the_his(page: Page, local_stack: Any) -> None:
    data = api(local_stack, "departments")
    names = department_names(data)
    assert len(names) >= 15
    page.goto(h5(local_stack, "departments.html"))

    expect(page).to_have_title("科室导航")
    expect(visible_departments(page)).to_have_text(names)
    # a group name may carry its campus, e.g. 内科（东院区）, when the API lists 内科 once per campus
    titles = [re.compile("^" + re.escape(g["name"])) for g in data["groups"]]
    expect(page.locator(".yw-group .weui-cells__title")).to_have_text(titles)
    restricted = [d for g in data["groups"] for d in g["departments"] if d["restriction"]]
    for dep in restricted:
        row = page.locator(f".yw-dept[href='department.html?id={dep['department_id']}']")
        expect(row).to_contain_text(dep["restriction"])


def test_search_filters_departments_as_you_type(page: Page, local_stack: Any) -> None:
    names = department_names(api(local_stack, "departments"))
    # a part of a name that some departments contain and others do not
    query, expected = next(
        (q, hits)
        for name in sorted(names, key=len, reverse=True)
        for q in (name[:2], name[-3:], name)
        if 0 < len(hits := [n for n in names if q.lower() in n.lower()]) < len(names)
    )
    page.goto(h5(local_stack, "departments.html"))
    expect(visible_departments(page)).to_have_count(len(names))

    page.get_by_text("搜索科室").click()
    page.locator("#search-input").press_sequentially(query)
    expect(visible_departments(page)).to_have_text(expected)

    page.locator("#search-input").fill("没有这个科室")
    expect(visible_departments(page)).to_have_count(0)
    expect(page.locator("#dept-none")).to_contain_text("没有找到")

    page.get_by_role("button", name="取消").click()
    expect(visible_departments(page)).to_have_text(names)
    expect(page.locator("#search-input")).to_have_value("")


def test_campus_filter_shows_only_that_campus(page: Page, local_stack: Any) -> None:
    everything = api(local_stack, "departments")
    campuses = everything["campuses"]
    assert len(campuses) >= 2
    page.goto(h5(local_stack, "departments.html"))
    tabs = page.locator(".yw-tabs")
    expect(tabs.locator("a")).to_have_text(["全部院区"] + [c["name"] for c in campuses])

    for campus in campuses:
        expected = department_names(api(local_stack, "departments", {"campus_id": campus["campus_id"]}))
        tabs.get_by_role("link", name=campus["name"], exact=True).click()
        expect(page).to_have_url(re.compile(r"campus_id=" + re.escape(campus["campus_id"])))
        expect(tabs.locator(".weui-bar__item_on")).to_have_text(campus["name"])
        expect(visible_departments(page)).to_have_text(expected)

    # a shared link with ?campus_id= opens filtered
    first = campuses[0]
    page.goto(h5(local_stack, f"departments.html?campus_id={first['campus_id']}"))
    expect(tabs.locator(".weui-bar__item_on")).to_have_text(first["name"])
    expected = department_names(api(local_stack, "departments", {"campus_id": first["campus_id"]}))
    expect(visible_departments(page)).to_have_text(expected)

    tabs.get_by_role("link", name="全部院区").click()
    expect(visible_departments(page)).to_have_text(department_names(everything))


def test_department_click_opens_detail_with_doctors(page: Page, local_stack: Any) -> None:
    detail = find_department_with_doctors(local_stack)
    dep = detail["department"]
    page.goto(h5(local_stack, "departments.html"))
    page.locator(f".yw-dept[href='department.html?id={dep['department_id']}']").click()

    expect(page).to_have_url(re.compile(r"department\.html\?id=" + re.escape(dep["department_id"])))
    expect(page).to_have_title(dep["name"])
    expect(page.locator("#dept-name")).to_contain_text(dep["name"])
    expect(page.locator("#dept-location")).to_contain_text(dep["location"]["building"])
    expect(page.locator("#doctor-list .yw-doctor-name")).to_have_text([d["name"] for d in detail["doctors"]])
    for fee in detail["fees"]:
        expect(page.locator("#fee-list")).to_contain_text("¥" + fee["fee_text"])


def test_doctor_click_opens_doctor_detail(page: Page, local_stack: Any) -> None:
    detail = find_department_with_doctors(local_stack)
    doctor = detail["doctors"][0]
    page.goto(h5(local_stack, "department.html?id=" + detail["department"]["department_id"]))
    page.locator("#doctor-list .yw-doctor").first.click()

    expect(page).to_have_url(re.compile(r"doctor\.html\?id=" + re.escape(doctor["doctor_id"])))
    full = api(local_stack, "doctors/" + doctor["doctor_id"])
    expect(page.locator("#doctor-name")).to_have_text(full["doctor"]["name"])
    expect(page.locator(".yw-hero")).to_contain_text(full["doctor"]["title_name"])
    expect(page.locator("#doctor-depts .yw-dept-name")).to_have_text([d["name"] for d in full["departments"]])
    if full["doctor"]["specialties"]:
        expect(page.locator("#doctor-specialties")).to_contain_text(full["doctor"]["specialties"][0])
    for fee in full["fees"]:
        expect(page.locator("#fee-list")).to_contain_text("¥" + fee["fee_text"])
    # a department link leads back to the department
    page.locator("#doctor-depts .yw-dept").first.click()
    expect(page).to_have_url(re.compile(r"department\.html\?id=" + re.escape(full["departments"][0]["department_id"])))


def test_fee_schedule_shows_amounts_in_yuan(page: Page, local_stack: Any) -> None:
    items = api(local_stack, "fee-schedule")["items"]
    assert items
    page.goto(h5(local_stack, "fees.html"))

    expect(page).to_have_title("收费标准")
    prices = page.locator("#fee-groups .yw-price")
    expect(prices).to_have_text(["¥" + f["fee_text"] for f in sorted_by_type(items)])


def sorted_by_type(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page groups fees by registration type in order of first appearance."""
    order: dict[str, int] = {}
    for f in items:
        order.setdefault(f["reg_type"], len(order))
    return sorted(items, key=lambda f: order[f["reg_type"]])


@pytest.mark.parametrize(
    ("path", "api_path"),
    [("department.html?id=NO-SUCH-DEPT", "departments/NO-SUCH-DEPT"), ("doctor.html?id=NO-SUCH-DOC", "doctors/NO-SUCH-DOC")],
)
def test_unknown_id_shows_chinese_not_found(
    page: Page, local_stack: Any, console_allow: list[str], path: str, api_path: str
) -> None:
    console_allow.append(NOT_FOUND_CONSOLE)  # Chromium logs the API's 404; the page handles it
    resp = requests.get(h5(local_stack, "api/" + api_path), timeout=15)
    assert resp.status_code == 404
    message = resp.json()["message"]
    page.goto(h5(local_stack, path))

    expect(page.locator(".weui-msg .weui-msg__title")).to_have_text(message)
    expect(page.locator(".weui-msg").get_by_role("link", name="返回首页")).to_have_attribute("href", "index.html")


@pytest.mark.parametrize("path", ["department.html", "doctor.html?id="])
def test_missing_id_shows_chinese_message(page: Page, local_stack: Any, page_requests: list[str], path: str) -> None:
    page.goto(h5(local_stack, path))
    expect(page.locator(".weui-msg .weui-msg__title")).to_contain_text("链接不完整")
    expect(page.locator(".weui-msg").get_by_role("link", name="返回首页")).to_be_visible()
    assert not [u for u in page_requests if "/api/" in u]


def test_large_type_toggle_scales_text_and_persists(page: Page, local_stack: Any) -> None:
    def root_font_px() -> float:
        return float(page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)"))

    page.goto(h5(local_stack, "index.html"))
    expect(page.locator("#hospital-name")).to_be_visible()
    normal = root_font_px()
    toggle = page.get_by_role("button", name="大字模式")
    expect(toggle).to_have_attribute("aria-pressed", "false")

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    large = root_font_px()
    assert large > normal

    page.reload()
    expect(page.locator("#hospital-name")).to_be_visible()
    assert root_font_px() == large
    expect(page.get_by_role("button", name="大字模式")).to_have_attribute("aria-pressed", "true")

    page.goto(h5(local_stack, "departments.html"))  # the setting holds across pages
    assert root_font_px() == large
    page.get_by_role("button", name="大字模式").click()
    assert root_font_px() == normal


def test_no_request_leaves_localhost(page: Page, local_stack: Any, page_requests: list[str]) -> None:
    detail = find_department_with_doctors(local_stack)
    paths = [
        "index.html",
        "campuses.html",
        "departments.html",
        "department.html?id=" + detail["department"]["department_id"],
        "doctor.html?id=" + detail["doctors"][0]["doctor_id"],
        "fees.html",
    ]
    for path in paths:
        page.goto(h5(local_stack, path))
        page.wait_for_load_state("networkidle")
        expect(page.locator(".yw-state")).to_have_count(0)  # loaded, not stuck on the spinner
        expect(page.locator(".weui-msg")).to_have_count(0)  # and not an error page

    assert any("/api/" in u for u in page_requests)
    outside = [u for u in page_requests if not u.startswith("data:") and urlsplit(u).hostname not in LOCAL_HOSTS]
    assert outside == []
