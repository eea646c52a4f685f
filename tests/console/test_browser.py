"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright): an
analyst signs in, opens the queue, opens the case the engine-core fixture created (the
student's intercepted transfer), records the callback "customer confirmed the scam", resolves
the case as a scam victim, the held transfer is cancelled through the webhook (received by a
test server), and the dashboard counts one more prevented loss.

Screenshots of every page go to ``test-artifacts/console/`` (override with
``LENDGUARD_TEST_ARTIFACTS``). Without Chromium the test skips, printing why; with
``LENDGUARD_REQUIRE_SERVICES=1`` (CI) it fails instead.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import CHROMIUM, CHROMIUM_ARGS, WEBHOOK_SECRET
from fixtures import ADMIN_KEY, USER_PASSWORD, WebhookReceiver, r39_scam_events
from lendguard.cases.webhooks import verify

ARTIFACTS = Path(
    os.environ.get("LENDGUARD_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


def test_analyst_resolves_the_students_scam_case_in_the_browser(
    served: tuple[str, Any], receiver: WebhookReceiver
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, services = served
    services.users.create("ana", USER_PASSWORD, "analyst", "en")
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        actions = [http.post("/v1/events", json=e).json()["action"] for e in r39_scam_events()]
        assert actions == ["allow", "intercept"]
    before = services.cases.outcomes()["prevented_count"]
    shots = ARTIFACTS / "console"
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        try:
            page.goto(f"{base}/console/login")
            page.screenshot(path=str(shots / "01-login.png"), full_page=True)
            page.fill("#username", "ana")
            page.fill("#password", USER_PASSWORD)
            page.click("#sign-in")
            expect(page.locator("#kpi-prevented")).to_have_text(str(before))
            page.screenshot(path=str(shots / "02-dashboard-before.png"), full_page=True)

            page.click("#nav-queue")
            row = page.locator("#queue tbody tr", has_text="student-21")
            expect(row).to_have_count(1)
            page.screenshot(path=str(shots / "03-queue.png"), full_page=True)

            row.locator("a.case-link").click()
            expect(page.locator("#case-state")).to_have_text("New")
            expect(page.locator("ol.script")).to_contain_text("safe account")
            page.screenshot(path=str(shots / "04-case.png"), full_page=True)

            form = page.locator("form.outreach-form").first
            form.locator("select.outcome").select_option("confirmed_scam")
            form.locator("input[name=notes]").fill("caller posed as the campus loan desk")
            form.locator("button.record-outcome").click()
            expect(page.locator("#case-state")).to_have_text("Contacting the customer")
            expect(page.locator(".task").first).to_contain_text("Customer confirmed the scam")
            page.screenshot(path=str(shots / "05-callback-recorded.png"), full_page=True)

            page.click("#to-resolved_scam_victim")
            expect(page.locator("#case-state")).to_have_text("Resolved: scam victim")
            expect(page.locator("#hold-1")).to_have_text("Cancelled")
            page.screenshot(path=str(shots / "06-resolved.png"), full_page=True)

            deadline = time.monotonic() + 10
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(receiver.requests) == 1
            request = receiver.requests[0]
            assert verify(
                WEBHOOK_SECRET, request["body"], request["headers"]["X-LendGuard-Signature"]
            )
            assert json.loads(request["body"])["instruction"] == "cancel"
            page.reload()
            expect(page.locator("#deliveries .delivery-status")).to_have_text("Delivered")
            page.screenshot(path=str(shots / "07-webhook-delivered.png"), full_page=True)

            page.goto(f"{base}/console")
            expect(page.locator("#kpi-prevented")).to_have_text(str(before + 1))
            expect(page.locator("#kpi-saved")).to_contain_text("19,000")
            page.screenshot(path=str(shots / "08-dashboard-after.png"), full_page=True)

            page.goto(f"{base}/console/cases?lang=zh-CN")
            expect(page.locator("h1")).to_contain_text("案件队列")
            page.screenshot(path=str(shots / "09-queue-zh-CN.png"), full_page=True)
        finally:
            browser.close()


# Every console page, by the name its screenshot gets; ``{case}``, ``{crisis}``,
# ``{customer}`` and ``{version}`` are filled in from the data the test makes.
PAGES = {
    "dashboard": "/console",
    "decisions": "/console/decisions",
    "queue": "/console/cases",
    "case": "/console/cases/{case}",
    "crisis-case": "/console/cases/{crisis}",
    "customer": "/console/customers/{customer}",
    "rules": "/console/rules",
    "rule-version": "/console/rules/{version}",
    "privacy": "/console/privacy",
    "lists": "/console/lists",
    "complaints": "/console/complaints",
    "service": "/console/service",
    "interventions": "/console/interventions",
    "alliance": "/console/alliance",
    "rings": "/console/rings",
    "ring": "/console/rings/{customer}",
    "graph": "/console/customers/{customer}/graph.svg",
    "error": "/console/cases/no-such-case",
}
# Words made of code names that may still be read on a page: none. Snake case
# (contacting_customer) and upper-case codes (COMPLAINT_OVERDUE, REGULATOR_MENTION).
CODE_NAME = re.compile(r"\b(?:[a-z]+(?:_[a-z]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
# What each page must show in each language besides: the sentences that replaced codes.
MUST_SHOW = {
    "crisis-case": {
        "zh-CN": ["危机：客户表达了轻生念头", "全国心理援助热线", "12356", "结案：已提供援助"],
        "en": [
            "Crisis: the customer spoke of ending their life",
            "National psychological assistance hotline",
            "Close: support given",
        ],
    },
    "complaints": {
        "zh-CN": ["未在规定期限内作出处理决定并告知投诉人", "投诉经监管机构转来", "贷款前收费诈骗"],
        "en": [
            "No decision sent to the complainant within the time allowed",
            "Came through a regulator",
            "Advance-fee loan scam",
        ],
    },
    "interventions": {
        "zh-CN": ["事后确认为诈骗", "拦截 · 未经问答", "“安全账户”诈骗"],
        "en": ["Confirmed scam later", "Intercept · without questions", "'Safe account' scam"],
    },
}


def _watch(page: Any, problems: list[str]) -> None:
    """Collect what the browser reports as wrong: console errors (a CSP violation is one),
    console warnings, and uncaught script errors."""
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))


def test_every_page_in_both_languages_loads_without_a_console_error(
    served: tuple[str, Any],
) -> None:
    """Each page of the console, in zh-CN and in English, with a case in the queue: no console
    error (the CSP blocks inline styles and scripts, and says so in the console), no code name
    on the page, the queue's risk column coloured, every time with its zone. Screenshots of
    every page in both languages go to test-artifacts/console/pages/."""
    from playwright.sync_api import sync_playwright

    base, services = served
    services.users.create("boss", USER_PASSWORD, "admin", "zh-CN")
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        for event in r39_scam_events():
            assert http.post("/v1/events", json=event).status_code == 200
        # complaints received 40 days ago and not decided: past the 15-day clocks of both,
        # so the page gives the clock's breach and the escalation reasons
        received = (datetime.now(UTC) - timedelta(days=40)).isoformat()
        for complaint in (
            {
                "customer_id": "cust-cn",
                "channel": "app",
                "jurisdiction": "CN",
                "narrative": "你们平台的人说放款前要先交3000元解冻费，我交了钱贷款还是没到账，"
                "我要向银保监投诉",
            },
            {
                "customer_id": "cust-us",
                "channel": "cfpb_portal",
                "jurisdiction": "US",
                "narrative": "Your agent said I had to pay a verification fee before the loan "
                "could be released. I paid and never got the loan.",
            },
        ):
            created = http.post("/v1/complaints", json={**complaint, "received_at": received})
            assert created.status_code == 201, created.text
            assert created.json()["clock"]["codes"], created.json()["clock"]
            assert created.json()["escalation"]["reasons"]
    crisis, _ = services.cases.open_crisis(
        "crisis-customer", {"source": "assistant", "cues": ["self_harm"], "jurisdictions": ["CN"]}
    )
    services.cases.transition(crisis, "triage", "system")
    case = next(c for c in services.cases.queue(limit=10)["cases"] if c["case_type"] != "crisis")
    filled = {
        "crisis": crisis,
        "case": case["id"],
        "customer": case["customer_id"],
        "version": services.decisions.ruleset_version,
    }
    shots = ARTIFACTS / "console" / "pages"
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for lang in ("zh-CN", "en"):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                problems: list[str] = []
                _watch(page, problems)
                page.goto(f"{base}/console/login?lang={lang}")
                page.screenshot(path=str(shots / f"{lang}-login.png"), full_page=True)
                page.fill("#username", "boss")
                page.fill("#password", USER_PASSWORD)
                page.click("#sign-in")
                page.wait_for_url(f"{base}/console")
                for name, template in PAGES.items():
                    url = base + template.format(**filled)
                    response = page.goto(url)
                    assert response is not None
                    expected = 404 if name == "error" else 200
                    assert response.status == expected, f"{name}: {response.status}"
                    # (the bare SVG document has no page height to measure: the viewport)
                    full = name != "graph"
                    page.screenshot(path=str(shots / f"{lang}-{name}.png"), full_page=full)
                    if name == "error":
                        # Chromium reports the page's own 404 as a failed load; nothing else.
                        problems[:] = [p for p in problems if "status of 404" not in p]
                    assert problems == [], f"{lang} {name}: {problems}"
                    if name == "graph":
                        continue
                    text = page.locator("main").inner_text()
                    shown = sorted(set(CODE_NAME.findall(text)))
                    assert shown == [], f"{lang} {name}: code names shown: {shown}"
                    for sentence in MUST_SHOW.get(name, {}).get(lang, []):
                        assert sentence in text, f"{lang} {name}: {sentence!r} not shown"
                    if lang == "zh-CN":
                        assert page.locator("html").get_attribute("lang") == "zh-CN"
                page.goto(f"{base}/console/cases")
                row = page.locator("#queue tbody tr", has_text=case["customer_id"])
                risk = row.locator(".risk").first
                assert risk.inner_text().strip() == str(case["risk"])
                colour = risk.evaluate("e => getComputedStyle(e).backgroundColor")
                assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), colour
                assert "UTC+8" in page.locator("#queue").inner_text()
                page.close()
        finally:
            browser.close()
