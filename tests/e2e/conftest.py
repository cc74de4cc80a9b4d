"""Browser fixtures for the H5 pages: headless Debian Chromium driven by Playwright, dressed up as WeChat's webview.

The browser is launched once per session; every test gets a fresh context (own localStorage and cookies, so
大字模式 set by one test never leaks into another) and a ``page`` that fails the test on any JavaScript error.
``playwright install`` is never used: the tests run the distribution's Chromium at ``/usr/bin/chromium``.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright

from tests.e2e.stack import local_stack  # noqa: F401  (session fixture: the whole local stack, synced)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = "Chromium is missing: run `apt-get install -y chromium fonts-wqy-zenhei` (make test does this)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
CONTEXT_OPTIONS = {
    "user_agent": WECHAT_UA,
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}

JS_ERRORS = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def browser_context_options() -> dict[str, object]:
    """WeChat on an iPhone: its user agent, a 390×844 screen at 3×, touch, Chinese locale."""
    return dict(CONTEXT_OPTIONS)


@pytest.fixture
def context(browser: Browser, browser_context_options: dict[str, object]) -> Iterator[BrowserContext]:
    ctx = browser.new_context(**browser_context_options)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def console_allow() -> list[str]:
    """Regexes of console errors a test expects (e.g. Chromium logging the 404 of a not-found API call)."""
    return []


@pytest.fixture
def page_requests() -> list[str]:
    """Every URL the ``page`` requested, in order."""
    return []


@pytest.fixture
def page(
    request: pytest.FixtureRequest, context: BrowserContext, console_allow: list[str], page_requests: list[str]
) -> Iterator[Page]:
    """A page in the WeChat-like context; any uncaught exception or console error fails the test."""
    errors: list[str] = []
    request.node.stash[JS_ERRORS] = errors
    pg = context.new_page()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and not any(re.search(p, msg.text) for p in console_allow):
            where = (msg.location or {}).get("url", "")
            errors.append(f"console error: {msg.text} ({where})")

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    pg.on("request", lambda req: page_requests.append(req.url))
    yield pg
    pg.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Turn JavaScript errors seen by the ``page`` fixture into a failure of the test itself."""
    result = yield
    errors = item.stash.get(JS_ERRORS, [])
    if errors:
        pytest.fail("JavaScript errors on the page:\n  " + "\n  ".join(errors), pytrace=False)
    return result
