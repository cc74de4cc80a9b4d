"""A hospital event crosses every wire of the local stack and lands in the WeChat simulator: the HIS simulator
finalizes a lab report, pushes a signed ``report.finalized`` to the bridge's receiver (behind the Lambda
gateway's ALB path), which queues it; ``on_his_event`` deduplicates it and sends the report-ready notice to the
WeChat user bound to the patient (the stack's demo binding: 张阿姨 → her son 张三), who sees it in the
simulator page."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from devstack.stack import DEMO_OPENID, DEMO_PATIENT_ID

pytestmark = pytest.mark.e2e

LAB_ITEM = {"code": "WBC", "name": "白细胞计数", "value": "6.2", "numeric_value": 6.2, "unit": "10^9/L",
            "reference_range": "3.5-9.5", "flag": "N"}


def _his_admin(local_stack: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(local_stack.his_url.removesuffix("/v1") + "/_sim" + path, json=body, timeout=10)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def test_a_report_finalized_in_the_his_reaches_the_bound_user_as_a_notice(page: Page, local_stack: Any) -> None:
    page.goto(f"{local_stack.wechat_url}/_sim/?openid={DEMO_OPENID}")
    expect(page.locator("#user-status")).to_have_text(re.compile("已关注|未关注"))  # the page has read the user
    if page.locator("#user-status").inner_text() != "已关注":
        page.get_by_role("button", name="关注公众号").click()
    expect(page.locator("#user-status")).to_have_text("已关注")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("欢迎关注")

    report = _his_admin(local_stack, f"/patients/{DEMO_PATIENT_ID}/reports", {"category": "lab", "title": "肝功能"})
    assert report["status"] == "pending"
    _his_admin(local_stack, "/push", {"duplicate": 3})  # the middleware delivers at least once: here three times
    try:
        _his_admin(local_stack, f"/reports/{report['report_id']}/finalize", {"items": [LAB_ITEM]})
    finally:
        _his_admin(local_stack, "/push", {"duplicate": 1})

    notice = timeline.locator(".row--out").filter(has_text="肝功能")
    expect(notice).to_have_count(1, timeout=20_000)
    expect(notice).to_contain_text("【就诊人：张*（子女）】您的检验报告「肝功能」已出")
    expect(notice).to_contain_text("report.html")

    # Every copy was acknowledged (204) and the patient was told once.
    admin = local_stack.his_url.removesuffix("/v1") + "/_sim"
    deliveries = requests.get(f"{admin}/push", timeout=5).json()["deliveries"]
    ours = [d for d in deliveries if d["event_type"] == "report.finalized"]
    assert ours and ours[-1]["delivered_at"] and ours[-1]["last_status"] == "204"
    page.wait_for_timeout(2000)
    expect(notice).to_have_count(1)
