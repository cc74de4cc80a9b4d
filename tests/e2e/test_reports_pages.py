"""报告查询 and 报告详情 in a WeChat-like headless Chromium, against a tiny local API: the real Chalice app under
``chalice local`` behind the CDN-like static server, with fakes behind the ports (bound patients, a bridge that
answers like the middleware, kept copies). The browser carries a signed session cookie, as after WeChat login."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from chalicelib import bootstrap
from chalicelib.config import load_settings, stage_environment
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.services import h5_login
from devstack.stack import ROOT
from tests.fakes import FakePatientBindings
from tests.fakes_live_reads import FakeLiveCopies, FakeReportsBridge, sample_reports
from tests.integration.conftest import free_port

pytestmark = pytest.mark.e2e

OPENID = "oE2eReportsUser0000000000001"
SELF, CHILD = "P000123456", "P000345678"
HTTP_ERROR_CONSOLE = r"Failed to load resource: the server responded with a status of (409|503)"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def site() -> Any:
    """``chalice local`` (the app) and the CDN-like server (pages + /api/*) on free ports, in this process."""
    from chalice.config import Config
    from chalice.local import create_local_server

    from app import app
    from devstack.static_server import start_cdn

    api_port, h5_port = free_port(), free_port()
    # No stage variables: chalice local would copy them into this process's environment.
    config = Config.create(chalice_stage="local", app_name="yiwei", project_dir=str(ROOT), chalice_app=app,
                           config_from_disk={"version": "2.0", "app_name": "yiwei", "stages": {"local": {}}})
    api = create_local_server(app, config, "127.0.0.1", api_port)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    cdn, _ = start_cdn(ROOT / "h5_static", "127.0.0.1", h5_port, f"http://127.0.0.1:{api_port}")
    yield f"http://127.0.0.1:{h5_port}"
    cdn.shutdown()
    api.shutdown()


class PdfBlobs:
    """Presigned links that point at the CDN origin, where the test answers them (nothing leaves localhost)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def get_json(self, bucket: str, key: str) -> Any:
        raise KeyError(key)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        raise KeyError(key)

    def presigned_url(self, bucket: str, key: str, expires_in: int, filename: str | None = None) -> str:
        return f"{self.origin}/_pdf/{key}?expires={expires_in}"


class World:
    def __init__(self, origin: str) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.bridge = FakeReportsBridge(self.now, {SELF: sample_reports(SELF, self.now), CHILD: []})
        self.bindings = FakePatientBindings(
            PatientBinding(OPENID, SELF, Relation.SELF, "张*", self.now - timedelta(days=30)),
            PatientBinding(OPENID, CHILD, Relation.CHILD, "张**", self.now - timedelta(days=3)),
        )
        settings = replace(load_settings(stage_environment("local")), h5_base_url=origin)
        bootstrap.use_settings(settings)
        bootstrap.override(patient_bindings=self.bindings, his_live_reader=self.bridge, live_copies=FakeLiveCopies(),
                           blob_store=PdfBlobs(origin))
        key = h5_login.signing_key(settings.stage, settings.session_secret)
        self.session = h5_login.session_cookie(h5_login.WebSession(OPENID, self.now, self.now + timedelta(hours=12)), key)


@pytest.fixture
def world(site: str, context: BrowserContext) -> World:
    w = World(site)
    context.add_cookies([{"name": "yw_session", "value": w.session, "url": site}])
    return w


def url(site: str, path: str) -> str:
    return f"{site}/{path}"


def test_the_list_shows_each_report_with_its_state_and_opens_a_report(page: Page, site: str, world: World) -> None:
    page.goto(url(site, "reports.html"))
    expect(page).to_have_title("报告查询")
    patients = page.locator("nav[aria-label='选择就诊人'] a")
    expect(patients).to_have_text(["张*（本人）", "张**（子女）"])
    expect(page.locator("nav[aria-label='选择就诊人'] .weui-bar__item_on")).to_have_text("张*（本人）")
    rows = page.locator("#reports .yw-report")
    titles = ["胸部CT平扫", "糖化血红蛋白", "血常规", "经胸超声心动图", "尿常规"]
    expect(rows.locator(".yw-report-title")).to_have_text(titles)
    expect(rows.locator(".yw-state-tag")).to_have_text(["待发布", "报告未出", "已出报告", "已出报告", "已更正"])
    expect(rows.filter(has_text="糖化血红蛋白")).to_contain_text("出报告")  # 预计…出报告
    expect(rows.filter(has_text="血常规")).to_contain_text("含危急值")
    expect(page.locator("a.yw-report")).to_have_count(3)  # only viewable reports open
    expect(page.locator("#as-of")).to_have_count(0)
    assert all(r.end_user and OPENID not in json.dumps(r.to_json()) for r in world.bridge.requests)

    rows.filter(has_text="血常规").click()
    expect(page).to_have_url(re.compile(r"report\.html\?patient_id=P000123456&id=R-LIS-1-004417$"))
    expect(page.locator("#report-title")).to_contain_text("血常规")
    table = page.locator("#lab-items tbody tr")
    expect(table.locator("td:nth-child(1)")).to_have_text(["白细胞计数", "红细胞计数", "血红蛋白", "血小板计数"])
    expect(table.locator("td.yw-flag")).to_have_text(["偏高↑", "正常", "偏低↓", "危急值"])
    expect(table.locator("td:nth-child(3)")).to_have_text(["3.5-9.5", "4.3-5.8", "130-175", "125-350"])
    expect(page.locator("#lab-items tr.yw-abnormal")).to_have_count(3)
    expect(page.locator("#lab-items tr.yw-critical")).to_contain_text("血小板计数")
    expect(page.locator("#abnormal-count")).to_have_text("3项异常")
    expect(page.locator("#conclusion")).to_contain_text("危急值")


def test_download_pdf_opens_the_short_lived_link(page: Page, site: str, world: World) -> None:
    served: list[str] = []

    def pdf(route: Route) -> None:
        # Stands in for S3. Answered 204 so the browser stays on the report: a navigation away (to a PDF or
        # a page) can keep headless Chromium from closing the page. What is checked is that the button opens
        # the short-lived link it was given.
        served.append(route.request.url)
        route.fulfill(status=204)

    page.route(re.compile(r".*/_pdf/.*"), pdf)
    page.goto(url(site, f"report.html?patient_id={SELF}&id=R-PACS-1-001208"))
    expect(page.locator("#findings")).to_contain_text("二尖瓣少量反流")
    expect(page.locator("#lab-items")).to_have_count(0)
    with page.expect_response(re.compile(r".*/_pdf/.*")) as opened:
        page.get_by_role("button", name="下载PDF").click()
    link = opened.value.url
    assert link.startswith(f"{site}/_pdf/his-results/") and link.endswith("?expires=60")
    assert served == [link]
    assert world.bridge.requests[-1].operation == "getReportPdf"
    page.unroute(re.compile(r".*/_pdf/.*"))


def test_when_the_hospital_cannot_answer_the_kept_copy_shows_with_its_time(page: Page, site: str, world: World) -> None:
    page.goto(url(site, "reports.html"))
    expect(page.locator("#reports .yw-report")).to_have_count(5)
    world.bridge.silent = True
    page.reload()
    banner = page.locator("#as-of")
    expect(banner).to_contain_text("医院系统暂时无法连接")
    expect(banner).to_contain_text(world.now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"))
    expect(page.locator("#reports .yw-report")).to_have_count(5)


def test_a_report_not_yet_released_explains_why(page: Page, site: str, world: World, console_allow: list[str]) -> None:
    console_allow.append(HTTP_ERROR_CONSOLE)
    page.goto(url(site, f"report.html?patient_id={SELF}&id=R-PACS-1-001300"))
    expect(page.locator(".weui-msg__title")).to_contain_text("暂未到在线发布时间")
    expect(page.locator(".weui-msg__title")).to_contain_text("后可查看")
    expect(page.get_by_role("link", name="返回报告列表")).to_have_attribute("href", f"reports.html?patient_id={SELF}")


def test_an_amended_report_says_so(page: Page, site: str, world: World) -> None:
    page.goto(url(site, f"report.html?patient_id={SELF}&id=R-LIS-1-003900"))
    expect(page.locator("#amendment")).to_contain_text("更正（第2版）")
    expect(page.locator("#amendment")).to_contain_text("标本编号录入更正")
    expect(page.locator("#lab-items td.yw-flag")).to_have_text(["异常"])


def test_switching_patient_and_category(page: Page, site: str, world: World) -> None:
    page.goto(url(site, "reports.html"))
    expect(page.locator("#reports .yw-report")).to_have_count(5)
    page.locator("nav[aria-label='报告类别']").get_by_role("link", name="检查").click()
    expect(page.locator("#reports .yw-report-title")).to_have_text(["胸部CT平扫", "经胸超声心动图"])
    expect(page).to_have_url(re.compile(r"category=exam"))
    page.locator("nav[aria-label='选择就诊人']").get_by_role("link", name="张**（子女）").click()
    expect(page.locator("#reports")).to_contain_text("这段时间没有报告")
    expect(page).to_have_url(re.compile(r"patient_id=P000345678"))
    assert world.bridge.requests[-1].path_params == {"patient_id": CHILD}


def test_a_user_without_bound_patients_is_told_how_to_start(page: Page, site: str, world: World) -> None:
    for binding in world.bindings.patients_of(OPENID):
        world.bindings.unbind(OPENID, binding.patient_id)
    page.goto(url(site, "reports.html"))
    expect(page.locator(".weui-msg__title")).to_have_text("您还没有绑定就诊人")
    assert world.bridge.requests == []

