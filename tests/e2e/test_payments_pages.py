"""门诊缴费 in the whole local stack, as a newcomer would try it: the HIS simulator prescribes for the demo patient
张三 (bound to the simulator user 张阿姨); she opens 门诊缴费 from the menu in the WeChat simulator, pays in the
(simulated) WeChat Pay sheet, the fake WeChat Pay sends its signed notification to the app, the HIS settles
through the bridge, and she sees the e-receipt with its QR code and where to collect the medicine."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from devstack.stack import DEMO_OPENID, DEMO_PATIENT_ID

pytestmark = pytest.mark.e2e


def _his_admin(local_stack: Any, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    url = local_stack.his_url.removesuffix("/v1") + "/_sim" + path
    response = requests.request(method, url, json=body, timeout=10)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def test_the_demo_patients_charges_are_paid_in_the_simulator_and_the_receipt_shown(page: Page, local_stack: Any,
                                                                                  ) -> None:
    charge = _his_admin(local_stack, "POST", f"/patients/{DEMO_PATIENT_ID}/charges", {
        "type": "prescription", "title": "E2E西药处方",
        "items": [{"name": "阿莫西林胶囊", "specification": "0.25g×24粒/盒", "quantity": 2, "unit": "盒",
                   "unit_price_fen": 2350}]})
    charge_id = charge["charge_id"]

    page.goto(f"{local_stack.wechat_url}/_sim/?openid={DEMO_OPENID}")
    expect(page.locator("#user-status")).to_have_text(re.compile("已关注|未关注"))  # the page has read the user
    if page.locator("#user-status").inner_text() != "已关注":
        page.get_by_role("button", name="关注公众号").click()
    expect(page.locator("#user-status")).to_have_text("已关注")
    page.locator("#menu-bar").get_by_role("button", name="诊中").click()
    page.get_by_role("menuitem", name="门诊缴费").click()
    expect(page.locator("#webview")).to_be_visible()
    frame = page.frame_locator("#webview-frame")

    row = frame.locator(f"[data-charge='{charge_id}']")
    expect(row).to_contain_text("E2E西药处方", timeout=20_000)
    expect(row).to_contain_text("¥47.00")
    # Pay only the new charge (the demo patient has others).
    checked = frame.locator("input[name=charge]:checked").evaluate_all("boxes => boxes.map(b => b.value)")
    for other in checked:
        if other != charge_id:
            frame.locator(f"[data-charge='{other}'] .yp-title").click()  # WeUI hides the box itself: tap the row
    expect(frame.locator("#total")).to_have_text("47.00")
    frame.locator("#pay").click()

    sheet = frame.get_by_role("dialog", name="微信支付")
    expect(sheet).to_contain_text("¥47.00", timeout=30_000)
    sheet.get_by_role("button", name="确认支付").click()

    receipt = frame.locator("#receipt")
    expect(receipt).to_be_visible(timeout=60_000)
    expect(frame.locator("#receipt-state")).to_have_text("缴费成功")
    expect(frame.locator("#receipt-amount")).to_have_text("¥47.00")
    expect(frame.locator("#receipt-items")).to_contain_text("E2E西药处方")
    expect(frame.locator("#receipt-qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(frame.locator("#guidance")).to_contain_text("取药")

    # The money moved once: one payment at the fake, acknowledged; the HIS charge is paid.
    orders = requests.get(f"{local_stack.wechatpay_url}/_fake/orders", timeout=5).json()["orders"]
    paid = [o for o in orders if o["trade_state"] == "SUCCESS" and o["amount"]["total"] == 4700]
    assert len(paid) == 1
    deliveries = requests.get(f"{local_stack.wechatpay_url}/_fake/deliveries", timeout=5).json()["deliveries"]
    ours = [d for d in deliveries if d["out_trade_no"] == paid[0]["out_trade_no"]]
    assert ours and 204 in ours[0]["statuses"]
    assert _his_admin(local_stack, "GET", f"/charges/{charge_id}")["status"] == "paid"

    # The medicine was not collected: the patient asks for its refund on the e-receipt; the HIS approves the
    # unexecuted line and the refund goes back through WeChat Pay.
    frame.locator("[data-test=refund-line]").filter(has_text="阿莫西林胶囊").click()
    frame.locator("[data-test=refund-ask]").click()
    expect(frame.locator("[data-test=refund-sent]")).to_contain_text("原路退回")
    out_trade_no = paid[0]["out_trade_no"]
    deadline = time.monotonic() + 30
    refunds: list[dict[str, object]] = []
    while time.monotonic() < deadline and not refunds:
        listing = requests.get(f"{local_stack.wechatpay_url}/_fake/orders", timeout=5).json()
        refunds = [r for r in listing["refunds"] if r.get("out_trade_no") == out_trade_no]
        time.sleep(0.5)
    assert len(refunds) == 1 and refunds[0]["amount"]["refund"] == 4700

    # The history lists it; the patient was told in the chat.
    frame.get_by_role("link", name="缴费记录").click()
    expect(frame.locator("#orders .yp-order").first).to_contain_text("退款 ¥47.00")  # refunds are visible
    expect(page.locator("#timeline .row--out").filter(has_text="成功缴费47.00元")).to_have_count(1, timeout=20_000)
