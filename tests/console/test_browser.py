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
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conftest import WEBHOOK_SECRET, service_unavailable
from fixtures import ADMIN_KEY, USER_PASSWORD, WebhookReceiver, r39_scam_events
from lendguard.app import create_app
from lendguard.cases.webhooks import verify
from lendguard.config import Settings

CHROMIUM = os.environ.get("LENDGUARD_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("LENDGUARD_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(sqlite_url: str, receiver: WebhookReceiver) -> Iterator[tuple[str, Any]]:
    """The app under uvicorn on a free port (a real HTTP server), webhooks to ``receiver``."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        service_unavailable(
            f"no Chromium at {CHROMIUM}: browser test skipped (apt install chromium)"
        )
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_base_delay_s=0.05,
        cookie_secure=False,
        default_locale="en",
    )
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app.state.services
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
            expect(page.locator("#case-state")).to_have_text("new")
            expect(page.locator("ol.script")).to_contain_text("safe account")
            page.screenshot(path=str(shots / "04-case.png"), full_page=True)

            form = page.locator("form.outreach-form").first
            form.locator("select.outcome").select_option("confirmed_scam")
            form.locator("input[name=notes]").fill("caller posed as the campus loan desk")
            form.locator("button.record-outcome").click()
            expect(page.locator("#case-state")).to_have_text("contacting_customer")
            expect(page.locator(".task").first).to_contain_text("confirmed_scam")
            page.screenshot(path=str(shots / "05-callback-recorded.png"), full_page=True)

            page.click("#to-resolved_scam_victim")
            expect(page.locator("#case-state")).to_have_text("resolved_scam_victim")
            expect(page.locator("#hold-1")).to_have_text("cancelled")
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
            expect(page.locator("#deliveries .delivery-status")).to_have_text("delivered")
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
