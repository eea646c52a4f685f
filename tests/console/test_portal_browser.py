"""The borrower's privacy centre in a real headless Chromium at a phone's viewport (375 × 812;
issue #21's "a browser test drives the privacy centre"): the lender's app asks for a link, the
customer opens it and sees their lists, the notice, the payment we held and their money lock;
they switch SMS offers off, and the next contact check for an SMS offer is refused with
MARKETING_OPTED_OUT. They read the page in Chinese. A tampered and an expired link show the
403 page. No page scrolls sideways at 375 px, and no console error (the pages have no script;
the CSP allows none inline).

Screenshots: ``var/screenshots/portal-*.png`` (both languages, and the refusal). The clock is
pinned (``pinned_clock``: the server runs in this process); expiry moves it. Without Chromium
the test skips, printing why; with ``LENDGUARD_REQUIRE_SERVICES=1`` (CI) it fails instead.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from conftest import CHROMIUM, CHROMIUM_ARGS
from fixtures import ADMIN_KEY, PINNED_NOW, make_event, r39_scam_events

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CUSTOMER = "borrower-phone"
NOTICE = {
    "notice_key": "app-privacy",
    "purposes": ["marketing", "loan_service", "anti_fraud"],
    "texts": {
        "zh-CN": "我们如何使用您的个人信息。\n\n我们只为提供借款服务和保护您的资金使用这些信息。",
        "en": "How we use your personal information.\n\nWe use it only to lend to you and to "
        "protect your money.",
    },
}


def _watch(page: Any, problems: list[str]) -> None:
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning") and "403" not in msg.text
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))


def _seed(http: httpx.Client) -> None:
    t0 = PINNED_NOW - timedelta(days=1)
    assert (
        http.post(
            "/v1/events", json=make_event(customer_id=CUSTOMER, occurred_at=t0 - timedelta(hours=2))
        ).status_code
        == 200
    )
    *_, held = [http.post("/v1/events", json=e).json() for e in r39_scam_events(CUSTOMER, t0)]
    assert held["action"] == "intercept", held
    assert http.post("/v1/privacy/notices", json=NOTICE).status_code == 201
    locked = http.post(
        f"/v1/customers/{CUSTOMER}/lock", json={"channel": "app", "kill_switch": True}
    )
    assert locked.status_code == 200, locked.text


def _sms_offer_codes(http: httpx.Client) -> list[str]:
    at = PINNED_NOW.replace(hour=6, minute=0, second=0, microsecond=0)  # 14:00 in Shanghai
    answer = http.post(
        "/v1/conduct/contacts/check",
        json={
            "purpose": "marketing",
            "channel": "sms",
            "debtor_id": CUSTOMER,
            "contact": "+8613900000000",
            "at": at.isoformat(),
            "timezone": "Asia/Shanghai",
            "template_text": "限时优惠：会员专享借款额度。",
        },
    )
    assert answer.status_code == 200, answer.text
    return [c["code"] for c in answer.json()["codes"]]


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide at a 375px viewport"


def test_a_customer_switches_sms_offers_off_on_their_phone(
    pinned_clock: Any, served: tuple[str, Any]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, services = served
    portal_key = services.api_keys.create("lender-app", ["privacy:portal"])
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=base, headers=admin) as http:
        _seed(http)
        assert "MARKETING_OPTED_OUT" not in _sms_offer_codes(http)
        asked = {"Authorization": f"Bearer {portal_key}"}
        link = http.post(
            f"/v1/privacy/customers/{CUSTOMER}/portal-link", json={"locale": "en"}, headers=asked
        ).json()
        short = http.post(
            f"/v1/privacy/customers/{CUSTOMER}/portal-link", json={"ttl_s": 60}, headers=asked
        ).json()
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 375, "height": 812}, locale="en-US")
        _watch(page, problems)
        try:
            page.goto(link["url"])
            page.wait_for_url(f"{base}/portal?lang=en")  # the token left the address bar
            expect(page.locator("h1")).to_have_text("My privacy centre")
            expect(page.locator("#interventions")).to_contain_text("We held it to check it")
            expect(page.locator("#lock-state")).to_have_text("Your money is locked")
            expect(page.locator("#lock-kill-switch")).to_be_visible()
            expect(page.locator("#collected .collected-item").first).to_be_visible()
            expect(page.locator("#notice-version")).to_contain_text("Version 1")
            expect(page.locator("#notice-text")).to_contain_text("We use it only to lend to you")
            expect(page.locator("#switch-state-sms")).to_have_text("Not chosen yet")
            _no_sideways_scroll(page)
            page.screenshot(path=str(SHOTS / "portal-en.png"), full_page=True)

            page.click("#switch-sms-off")
            expect(page.locator("#portal-notice")).to_have_text(
                "Saved. Your choice applies from now on."
            )
            expect(page.locator("#switch-state-sms")).to_have_text("Off")
            with httpx.Client(base_url=base, headers=admin) as http:
                assert _sms_offer_codes(http) == ["MARKETING_OPTED_OUT"]
            _no_sideways_scroll(page)
            page.screenshot(path=str(SHOTS / "portal-en-sms-off.png"), full_page=True)

            page.click("#lang-zh")
            expect(page.locator("h1")).to_have_text("我的隐私中心")
            expect(page.locator("#switch-state-sms")).to_have_text("已关闭")
            expect(page.locator("#lock-state")).to_have_text("您的资金已锁定")
            expect(page.locator("#interventions")).to_contain_text("我们暂缓了操作以便核实")
            _no_sideways_scroll(page)
            page.screenshot(path=str(SHOTS / "portal-zh-CN.png"), full_page=True)

            token = link["url"].rsplit("/", 1)[1]
            flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
            refused = page.goto(f"{base}/portal/open/{flipped}")
            assert refused is not None
            assert refused.status == 403
            expect(page.locator("#denied")).to_contain_text("此链接无法打开")
            expect(page.locator("#denied")).to_contain_text("This link cannot be opened")
            _no_sideways_scroll(page)
            page.screenshot(path=str(SHOTS / "portal-denied.png"), full_page=True)

            pinned_clock.shift(61)  # past the short link's expiry
            expired = page.goto(short["url"])
            assert expired is not None
            assert expired.status == 403
            expect(page.locator("#denied")).to_contain_text("This link cannot be opened")
        finally:
            browser.close()
    assert problems == []
