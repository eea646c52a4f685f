"""The console's protection report (issue #21): for an officer, the same content as the HTML
report (render_body of build_report's document on the same rows) in zh-CN and English, with the
PDF and JSON to download; the default period is the last 30 days up to the operator's today (or
the latest decided event's day, when earlier); a
role without reports:read is refused (page and downloads) and has no link to it; a period that
cannot be used renders the page again with the reason and no figures; nothing on the page is an
inline style or a script (the console's CSP)."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from starlette.testclient import TestClient

import reporting.conftest as known_rows
from fixtures import USER_PASSWORD, Api
from lendguard.console.i18n import translator
from lendguard.reporting.render import render_body, text
from lendguard.reporting.schemas import ProtectionReport
from lendguard.reporting.service import build_report

# The report's known rows (tests/reporting/conftest.py), a fixture here too.
known_report = known_rows.known_report
PAGE = "/console/report"
PERIOD = {"from": "2026-02-01", "to": "2026-02-28"}
SECTIONS = (
    "report-summary",
    "report-interventions",
    "report-inconvenience",
    "report-complaints",
    "report-rescue",
    "report-consent",
    "report-requests",
    "report-education",
    "report-definitions",
)


@dataclass
class Console:
    known: Any
    api: Api

    def sign_in(self, role: str) -> TestClient:
        """A user with ``role`` signed in through the login form (over HTTPS: the known rows'
        app keeps its session cookie Secure)."""
        username = f"{role}-{uuid.uuid4().hex[:6]}"
        self.api.services.users.create(username, USER_PASSWORD, role, "en")
        client = TestClient(self.api.app, base_url="https://localhost")
        response = client.post(
            "/console/login",
            data={"username": username, "password": USER_PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return client


@pytest.fixture
def empty_console(case_app: Api) -> Console:
    """An app on an empty database (refusals read no row)."""
    return Console(known=None, api=case_app)


@pytest.fixture
def console(request: pytest.FixtureRequest, database_url: str) -> Console:
    """The known rows (on the database each test names) and their app."""
    del database_url  # the tests below take SQLite only: the figures are tested on both
    known = request.getfixturevalue("known_report")
    return Console(known=known, api=known.api)


def _expected(known_report: Any) -> ProtectionReport:
    return build_report(
        known_report.engine,
        known_report.api.services.settings,
        known_report.from_date,
        known_report.to_date,
        known_report.zone,
        known_report.api.services.settings.lender_name,
        known_report.now,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_officer_sees_the_report_in_both_languages(console: Console) -> None:
    expected = _expected(console.known)
    assert expected.interventions.interventions > 0
    officer = console.sign_in("officer")
    for locale in ("zh-CN", "en"):
        t = translator(locale)
        page = officer.get(PAGE, params={**PERIOD, "lang": locale})
        assert page.status_code == 200, page.text
        assert str(render_body(expected, locale)) in page.text
        places = [page.text.index(f'id="{s}"') for s in SECTIONS]
        assert places == sorted(places)
        assert f'id="nav-report" class="on">{t("Protection report")}<' in page.text
        assert text("Estimated", locale) in page.text
        assert "<script" not in page.text
        assert " style=" not in page.text
        assert "<style" not in page.text
        pdf_link = re.search(r'id="download-pdf"', page.text)
        assert pdf_link is not None
        query = f"from=2026-02-01&amp;to=2026-02-28&amp;lang={locale}"
        assert f'href="/console/report.pdf?{query}"' in page.text
        assert f'href="/console/report.json?{query}"' in page.text

    pdf = officer.get("/console/report.pdf", params={**PERIOD, "lang": "zh-CN"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert "attachment" in pdf.headers["content-disposition"]
    got = officer.get("/console/report.json", params=PERIOD)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    document = ProtectionReport.model_validate_json(got.content)
    assert document.model_dump(exclude={"generated_at"}) == expected.model_dump(
        exclude={"generated_at"}
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_default_period_is_the_30_days_up_to_the_latest_event(console: Console) -> None:
    officer = console.sign_in("officer")
    page = officer.get(PAGE, params={"lang": "en"})
    assert page.status_code == 200
    # The pinned clock's day in the console's zone is 2 March; the latest event decided occurred
    # at 00:00 on 1 March (Asia/Shanghai), so the page opens on the 30 days up to 1 March
    # rather than on a day after the data.
    assert 'name="from" id="period-from" value="2026-01-31"' in page.text
    assert 'name="to" id="period-to" value="2026-03-01"' in page.text
    assert "2026-01-31 – 2026-03-01" in page.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_an_empty_database_the_default_period_ends_today(empty_console: Console) -> None:
    officer = empty_console.sign_in("officer")
    with time_machine.travel(datetime(2026, 3, 2, 2, 30, tzinfo=UTC), tick=False):
        page = officer.get(PAGE, params={"lang": "en"})
    assert page.status_code == 200
    assert 'name="from" id="period-from" value="2026-02-01"' in page.text
    assert 'name="to" id="period-to" value="2026-03-02"' in page.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_role_without_reports_read_is_refused(empty_console: Console) -> None:
    analyst = empty_console.sign_in("analyst")
    for path in (PAGE, "/console/report.pdf", "/console/report.json"):
        refused = analyst.get(path, params=PERIOD)
        assert refused.status_code == 403, path
        assert 'id="report-summary"' not in refused.text
        assert not refused.content.startswith(b"%PDF")
    dashboard = analyst.get("/console")
    assert 'id="nav-report"' not in dashboard.text
    # not signed in: to the sign-in page
    anonymous = empty_console.api.client.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303
    assert "/console/login" in anonymous.headers["location"]


BAD_PERIODS = (
    ({"from": "2026-13-01"}, "Enter a date as year-month-day, e.g. 2025-03-01."),
    (
        {"from": "2026-03-02", "to": "2026-02-01"},
        "The first day must not be after the last day.",
    ),
    ({"from": "2024-01-01", "to": "2026-03-01"}, "The period can be at most 366 days."),
    ({"from": "<script>alert(1)</script>"}, None),
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bad_period_renders_the_reason_and_no_figures(empty_console: Console) -> None:
    officer = empty_console.sign_in("officer")
    for (period, message), locale in itertools.product(BAD_PERIODS, ("zh-CN", "en")):
        t = translator(locale)
        page = officer.get(PAGE, params={**period, "lang": locale})
        assert page.status_code == 422, page.text
        assert t("This period cannot be shown.") in page.text
        if message is not None:
            assert t(message) in page.text
        assert 'id="report-summary"' not in page.text
        assert "<script>alert" not in page.text
        for path in ("/console/report.pdf", "/console/report.json"):
            refused = officer.get(path, params=period)
            assert refused.status_code == 422
            assert not refused.content.startswith(b"%PDF")
