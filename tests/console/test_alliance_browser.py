"""The alliance page in a real headless Chromium (issue #20): an analyst sees the members, the
list's counts per kind and the exchanges, filters the exchanges to lookups with the form, and
reads the page in Chinese; no console error (the page has no script, the CSP allows none) and
no identifier on the page.

Screenshots go to ``/tmp/lendguard-test-artifacts/alliance/`` (``LENDGUARD_TEST_ARTIFACTS``).
Without Chromium the test skips, printing why; with ``LENDGUARD_REQUIRE_SERVICES=1`` it fails.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from conftest import CHROMIUM, CHROMIUM_ARGS
from fixtures import USER_PASSWORD
from lendguard.console.alliance_i18n import LEGAL_BASIS
from lendguard.models.alliance import AllianceExchange, AllianceListEntry, AllianceMember

ARTIFACTS = Path(os.environ.get("LENDGUARD_TEST_ARTIFACTS", "/tmp/lendguard-test-artifacts"))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MASKED = "138****5678"


def _seed(services: Any) -> None:
    with services.decisions.db.begin() as conn:
        conn.execute(
            insert(AllianceMember),
            [
                {
                    "member_id": "lender-b",
                    "name": "Lender B",
                    "url": "https://b.example",
                    "public_key": "A" * 43 + "=",
                    "status": "active",
                    "created_at": T0,
                    "created_by": "cli:ops",
                }
            ],
        )
        conn.execute(
            insert(AllianceListEntry),
            [
                {
                    "kind": "mobile",
                    "digest": f"{i:064d}",
                    "token": f"tok-{i}",
                    "masked": MASKED,
                    "reason": "confirmed_fraud",
                    "added_by": "cli:ops",
                    "added_at": T0,
                }
                for i in range(2)
            ],
        )
        common = {
            "peer": "lender-b",
            "status": "done",
            "legal_basis": LEGAL_BASIS,
            "purpose": "anti_fraud",
            "actor": "cli:ops",
            "detail": {},
        }
        conn.execute(
            insert(AllianceExchange),
            [
                {
                    **common,
                    "id": "x-psi",
                    "kind": "psi",
                    "role": "requester",
                    "session_id": "s-1",
                    "list_kind": "mobile",
                    "mode": "intersection",
                    "items": 2,
                    "peer_items": 5,
                    "matched": 1,
                    "started_at": T0,
                    "took_ms": 812.0,
                },
                {
                    **common,
                    "id": "x-lookup",
                    "kind": "lookup",
                    "role": "responder",
                    "session_id": "s-2",
                    "list_kind": "resident_id",
                    "mode": "lookup",
                    "items": 1,
                    "peer_items": None,
                    "matched": None,
                    "started_at": T0 + timedelta(minutes=5),
                    "took_ms": 3.0,
                },
            ],
        )


def test_an_analyst_reads_and_filters_the_alliance_page(served: tuple[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, services = served
    services.users.create("ally", USER_PASSWORD, "analyst", "en")
    _seed(services)
    shots = ARTIFACTS / "alliance"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-US")
        page.on(
            "console",
            lambda msg: (
                problems.append(f"console {msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        try:
            page.goto(f"{base}/console/login?next=/console/alliance")
            page.fill("#username", "ally")
            page.fill("#password", USER_PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/console/alliance")
            expect(page.locator("#nav-alliance")).to_have_count(1)
            expect(page.locator("#member-1 .member-name")).to_have_text("Lender B")
            expect(page.locator("#count-mobile .num")).to_have_text("2")
            expect(page.locator("#exchanges tbody tr.exchange")).to_have_count(2)
            expect(page.locator("#exchange-1 .x-kind")).to_have_text("Single lookup")
            page.screenshot(path=str(shots / "01-all.png"), full_page=True)

            page.select_option("#filter-kind", "psi")
            page.click("#filter-show")
            page.wait_for_url(re.compile(r".*/console/alliance\?(.*&)?kind=psi(&.*)?$"))
            expect(page.locator("#exchanges tbody tr.exchange")).to_have_count(1)
            expect(page.locator("#exchange-1 .x-matched")).to_have_text("1")
            expect(page.locator("#filter-kind")).to_have_value("psi")
            page.screenshot(path=str(shots / "02-psi.png"), full_page=True)

            page.goto(f"{base}/console/alliance?lang=zh-CN")
            expect(page.locator("main h1")).to_have_text("反欺诈联盟")
            expect(page.locator("#exchange-2 .x-legal")).to_contain_text("个人信息保护法")
            page.screenshot(path=str(shots / "03-zh.png"), full_page=True)
            assert MASKED not in page.content()
        finally:
            browser.close()
    assert problems == []
