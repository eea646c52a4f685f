"""``/docs`` (Swagger UI) and ``/redoc`` render in a real headless Chromium with the network
off: every request that does not go to the service itself is aborted and recorded, and the test
fails if the page tried one (a CDN script, a web font) or rendered nothing. Without Chromium the
test skips, printing why; with ``LENDGUARD_REQUIRE_SERVICES=1`` (CI) it fails instead."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import service_unavailable
from fixtures import ADMIN_KEY, served_app
from lendguard.app import create_app
from lendguard.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]


@pytest.fixture
def served(sqlite_url: str) -> Iterator[str]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        service_unavailable(f"no Chromium at {CHROMIUM}: docs test skipped (apt install chromium)")
    app = create_app(
        Settings(
            _env_file=None,
            database_url=sqlite_url,
            bootstrap_admin_key=ADMIN_KEY,
            log_level="WARNING",
        )
    )
    try:
        with served_app(app) as base:
            yield base
    finally:
        app.state.services.close()


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        # Swagger UI draws one block per operation; ReDoc one menu entry per operation.
        ("/docs", ".opblock"),
        ("/redoc", "[role=menuitem], li[data-item-id]"),
    ],
)
def test_api_docs_render_with_the_network_off(served: str, path: str, rendered: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    outside: list[str] = []

    def only_the_service(route: Route) -> None:
        if route.request.url.startswith(served):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_service)
            page.goto(f"{served}{path}")
            page.wait_for_selector(rendered, timeout=30_000)
            count = page.locator(rendered).count()
        finally:
            browser.close()
    assert outside == [], f"{path} reached outside the service: {outside}"
    # Every documented operation is drawn (well over the 80 the service has).
    assert count >= 80, f"{path} rendered only {count} operations"
