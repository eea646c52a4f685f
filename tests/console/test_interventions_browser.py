"""The customer page's interventions in a real headless Chromium (Debian's ``chromium``, driven
by Playwright; issue #19's "a browser test drives a challenge, a hold with its release, a money
lock and unlock"): a student's 19,000 transfer was intercepted and is held under a case, and a
3,000 transfer made while sharing the screen was dissuaded with questions. An analyst on a call
with the customer records the answers ("yes" to the first question): the page shows the
escalation. The analyst releases the held 19,000 with a reason: shown released. The analyst
locks the customer's money with the kill switch: shown locked, and a payment out is now stopped
by the engine. The analyst unlocks it after a video call, with the call's reference: shown
unlocked. No console error on any page.

Screenshots go to ``/tmp/lendguard-test-artifacts/interventions/`` (override with
``LENDGUARD_TEST_ARTIFACTS``). Without Chromium the test skips, printing why; with
``LENDGUARD_REQUIRE_SERVICES=1`` (CI) it fails instead.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from conftest import CHROMIUM, CHROMIUM_ARGS
from fixtures import (
    ADMIN_KEY,
    T0,
    USER_PASSWORD,
    make_event,
    r39_scam_events,
)

ARTIFACTS = Path(os.environ.get("LENDGUARD_TEST_ARTIFACTS", "/tmp/lendguard-test-artifacts"))
CUSTOMER = "student-iv"


def _watch(page: Any, problems: list[str]) -> None:
    """Collect console errors and warnings (a CSP violation is one) and uncaught script
    errors."""
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))


def _seed(http: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """The intercepted 19,000 (held under a case) and the dissuaded 3,000 with questions."""
    *_, intercepted = [http.post("/v1/events", json=e).json() for e in r39_scam_events(CUSTOMER)]
    assert intercepted["action"] == "intercept"
    dissuaded = http.post(
        "/v1/events",
        json=make_event(
            customer_id=CUSTOMER,
            occurred_at=T0 + timedelta(hours=2),
            amount="3000.00",
            payee_id="payee-x",
            session={"screen_share_active": True},
        ),
    ).json()
    assert dissuaded["action"] == "dissuade", dissuaded
    assert dissuaded["challenge"] is not None
    return dissuaded, intercepted


def test_analyst_answers_a_challenge_releases_a_hold_locks_and_unlocks_in_the_browser(
    served: tuple[str, Any],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, services = served
    services.users.create("ana", USER_PASSWORD, "analyst", "en")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        dissuaded, intercepted = _seed(http)
    asked = dissuaded["decision_id"]
    held = intercepted["decision_id"]
    questions = dissuaded["challenge"]["questions"]
    shots = ARTIFACTS / "interventions"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        _watch(page, problems)
        try:
            page.goto(f"{base}/console/login?next=/console/customers/{CUSTOMER}")
            page.fill("#username", "ana")
            page.fill("#password", USER_PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/console/customers/{CUSTOMER}")
            form = page.locator(f"#challenge-form-{asked}")
            expect(form).to_contain_text(questions[0]["text"]["en"])
            expect(page.locator(f"#hold-row-{held} .hold-status")).to_have_text("Held")
            expect(page.locator("#lock-state")).to_have_text(
                "The customer has never locked their money."
            )
            page.screenshot(path=str(shots / "01-customer.png"), full_page=True)

            # the challenge, read out on a call: "yes" to the first question
            for number, question in enumerate(questions):
                if question["kind"] == "yes_no":
                    value = "yes" if number == 0 else "no"
                else:
                    value = "other"
                form.locator(f"input[name='answer.{question['id']}'][value='{value}']").check()
            page.screenshot(path=str(shots / "02-answers.png"), full_page=True)
            page.click(f"#answer-{asked}")
            expect(page.locator("#iv-notice")).to_have_text("The answers were recorded.")
            follow_up = page.locator(f"#follow-up-{asked}")
            expect(follow_up).to_contain_text("Intercept")
            expect(follow_up).to_contain_text("The customer's answers describe a scam")
            expect(follow_up).to_contain_text("Thank you for telling us")
            expect(page.locator(f"#challenge-form-{asked}")).to_have_count(0)
            page.screenshot(path=str(shots / "03-escalated.png"), full_page=True)

            # the held 19,000 released with a reason
            release = page.locator(f"#release-{held}")
            release.locator("input[name=note]").fill("called back: paying her own landlord")
            release.locator("button.release-hold").click()
            expect(page.locator("#iv-notice")).to_have_text("The payment was released.")
            row = page.locator(f"#hold-row-{held}")
            expect(row.locator(".hold-status")).to_have_text("Released")
            expect(row).to_contain_text("Released by staff")
            expect(page.locator(f"#release-{held}")).to_have_count(0)
            page.screenshot(path=str(shots / "04-released.png"), full_page=True)

            # the money lock, with the kill switch
            page.check("#kill-switch")
            page.click("#lock-button")
            expect(page.locator("#lock-state")).to_have_text("Locked")
            expect(page.locator("#lock-kill-switch")).to_contain_text("On")
            expect(page.locator("#lock-history")).to_contain_text("Agent on the customer's behalf")
            page.screenshot(path=str(shots / "05-locked.png"), full_page=True)
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            ) as http:
                stopped = http.post(
                    "/v1/events",
                    json=make_event(
                        customer_id=CUSTOMER,
                        occurred_at=T0 + timedelta(hours=3),
                        amount="50.00",
                        payee_id="payee-x",
                    ),
                ).json()
            assert "MONEY_LOCKED" in [r["code"] for r in stopped["reasons"]], stopped

            # unlocked after a video call, with its reference; the verifier is the analyst
            page.select_option("#unlock-method", "video")
            page.fill("#unlock-reference", "vc-2026-0042")
            expect(page.locator("#unlock-verified-by")).to_have_value("ana")
            page.click("#unlock-button")
            expect(page.locator("#iv-notice")).to_have_text("The customer's money is unlocked.")
            expect(page.locator("#lock-state")).to_have_text("Unlocked")
            history = page.locator("#lock-history")
            expect(history).to_contain_text("Video call")
            expect(history).to_contain_text("vc-2026-0042")
            expect(page.locator("#unlock-form")).to_have_count(0)
            page.screenshot(path=str(shots / "06-unlocked.png"), full_page=True)

            page.goto(f"{base}/console/customers/{CUSTOMER}?lang=zh-CN")
            expect(page.locator("#lock-state")).to_have_text("已解锁")
            expect(page.locator(f"#hold-row-{held} .hold-status")).to_have_text("已放行")
            expect(page.locator(f"#follow-up-{asked}")).to_contain_text("客户的回答表明这是诈骗")
            page.screenshot(path=str(shots / "07-zh-CN.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
