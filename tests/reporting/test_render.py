"""The protection report rendered (issue #21): the HTML is one self-contained document with
every section in order, each figure's definition and the query period, the estimated losses
labelled as estimated, in zh-CN and English, with no script and nothing to fetch; the PDF is
printed by a real engine (WeasyPrint) and its pages render to PNG (pdftoppm); the JSON
round-trips to the typed document."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lendguard.education.schemas import LaterScams, QuizFigures, ReachGroup, ReachMetrics
from lendguard.reporting.definitions import DEFINITIONS
from lendguard.reporting.render import (
    render_body,
    render_html,
    render_json,
    render_pdf,
    text,
)
from lendguard.reporting.schemas import (
    ComplaintsSection,
    ConsentRow,
    ConsentSection,
    CountRow,
    DayActions,
    FraudSection,
    InconvenienceGroup,
    InconvenienceSection,
    InterventionsSection,
    LossesSection,
    ProtectionReport,
    ReportComplaintJurisdiction,
    ReportPeriod,
    RequestKindRow,
    RequestsSection,
    RescueSection,
    TypologyActions,
)

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
LOCALES = ("zh-CN", "en")


def _lt(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


def _group(key: str, zh: str, en: str, customers: int, reminded: int) -> InconvenienceGroup:
    return InconvenienceGroup(
        group=key,
        label=_lt(zh, en),
        customers=customers,
        remind_or_more=reminded,
        remind_or_more_rate=reminded / customers,
        intercept_or_more=1,
        intercept_or_more_rate=1 / customers,
        median_delay_hours=2.5,
    )


def sample_report(days: int = 7) -> ProtectionReport:
    """A report with a figure in every section (figures made up, consistent enough to read)."""
    first = date(2026, 2, 24)
    start = datetime(2026, 2, 23, 16, 0, tzinfo=UTC)
    per_day = [
        DayActions(
            day=first + timedelta(days=i),
            counts={"allow": 50, "remind": 3 + i, "dissuade": 2, "intercept": 1, "block": i % 2},
        )
        for i in range(days)
    ]
    by_action = {a: sum(d.counts[a] for d in per_day) for a in per_day[0].counts}
    interventions = sum(v for a, v in by_action.items() if a != "allow")
    reach = [
        ReachGroup(key="app", reached=40, opened=30, completed=12, completion_rate=0.3),
        ReachGroup(key="sms", reached=25, opened=10, completed=3, completion_rate=0.12),
    ]
    return ProtectionReport(
        title=_lt("示例贷消费者权益保护报告", "Sample Lending consumer protection report"),
        lender="Sample Lending",
        period=ReportPeriod(
            from_date=first,
            to_date=first + timedelta(days=days - 1),
            zone="Asia/Shanghai",
            start=start,
            end=start + timedelta(days=days),
            days=days,
        ),
        generated_at=datetime(2026, 3, 2, 2, 30, tzinfo=UTC),
        interventions=InterventionsSection(
            decisions=sum(by_action.values()),
            interventions=interventions,
            by_action=by_action,
            average_per_day=interventions / days,
            per_day=per_day,
            by_typology=[
                TypologyActions(
                    typology="fake_customer_service",
                    label=_lt("冒充客服诈骗", "Fake customer service"),
                    counts={"remind": 9, "intercept": 4},
                    total=13,
                ),
                TypologyActions(
                    typology="advance_fee_loan",
                    label=_lt("贷款先交费诈骗", "Advance-fee loans"),
                    counts={"dissuade": 5, "block": 2},
                    total=7,
                ),
            ],
        ),
        frauds=FraudSection(frauds_blocked=6, confirmed_frauds=9, customers_protected=5),
        losses=LossesSection(
            observed_cny=123456.78,
            observed_holds_cancelled=4,
            observed_scams_confirmed=3,
            estimated_cny=45000.0,
            estimated_dissuaded=15,
            estimated_success_rate=0.6,
        ),
        inconvenience=InconvenienceSection(
            honest_customers=300,
            remind_or_more=21,
            remind_or_more_rate=0.07,
            intercept_or_more=4,
            intercept_or_more_rate=4 / 300,
            median_delay_hours=3.25,
            by_age_band=[_group("<22", "22 岁以下", "Under 22", 40, 6)],
            by_tenure=[_group("<30d", "不满 30 天", "Under 30 days", 60, 9)],
            by_flag=[_group("elderly", "老年客户", "Elderly", 30, 4)],
        ),
        complaints=ComplaintsSection(
            by_jurisdiction=[
                ReportComplaintJurisdiction(
                    jurisdiction="CN",
                    complaints=12,
                    resolved=10,
                    resolved_on_time=9,
                    resolved_late=1,
                    open_overdue=1,
                    compliance_rate=9 / 11,
                    escalated=2,
                    escalation_rate=2 / 12,
                )
            ],
            complaints=12,
            escalated=2,
            escalation_rate=2 / 12,
        ),
        rescue=RescueSection(
            customers=3,
            steps=[
                CountRow(key="payment_holiday", label=_lt("暂停还款", "Payment holiday"), count=2)
            ],
            outcomes=[CountRow(key="active", label=_lt("执行中", "In progress"), count=2)],
        ),
        consent=ConsentSection(
            rows=[
                ConsentRow(
                    purpose="marketing",
                    channel="sms",
                    label=_lt("营销 · 短信", "Marketing · text message"),
                    grants=8,
                    withdrawals=3,
                )
            ],
            grants=8,
            withdrawals=3,
        ),
        requests=RequestsSection(
            by_kind=[
                RequestKindRow(
                    kind="access",
                    label=_lt("查阅", "Access"),
                    opened=4,
                    closed=3,
                    closed_on_time=3,
                    closed_late=0,
                    open_overdue=0,
                    timeliness_rate=1.0,
                )
            ],
            opened=4,
            timeliness_rate=1.0,
        ),
        education=ReachMetrics(
            customers_reached=65,
            customers_opened=40,
            customers_completed=15,
            completion_rate=15 / 65,
            deliveries=80,
            openings=45,
            completions=16,
            by_channel=reach,
            by_age_band=[
                ReachGroup(key="60+", reached=10, opened=5, completed=2, completion_rate=0.2)
            ],
            by_topic=[
                ReachGroup(
                    key="fake_customer_service",
                    reached=30,
                    opened=20,
                    completed=8,
                    completion_rate=8 / 30,
                )
            ],
            quiz=QuizFigures(answers=12, customers=10, passed=9, pass_rate=0.75),
            later_scams=LaterScams(
                follow_up_days=90,
                reached_customers=15,
                reached_scammed=0,
                reached_rate=0.0,
                comparison_customers=40,
                comparison_scammed=2,
                comparison_rate=0.05,
                caveat=_lt("这不是教育的因果效应。", "This is not the effect of education."),
            ),
        ),
        definitions=dict(DEFINITIONS),
    )


def _words(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


@pytest.mark.parametrize("locale", LOCALES)
def test_the_html_has_every_section_in_order_with_definitions_and_period(locale: str) -> None:
    report = sample_report()
    page = render_html(report, locale)
    assert page.startswith("<!doctype html>")
    assert f'<html lang="{locale}">' in page
    places = [page.index(f'id="{s}"') for s in SECTIONS]
    assert places == sorted(places)
    words = _words(page)
    period = "2026-02-24 – 2026-03-02"
    for key, definition in report.definitions.items():
        # every definition once beside its figure (with the period) and in the appendix
        assert f'data-definition="{key}"' in page
        assert _words(html.escape(definition.definition[locale])) in words
    figures = re.findall(
        r'<p class="report-definition" data-definition="([a-z_]+)">(.*?)</p>', page, re.S
    )
    assert {key for key, _ in figures} == set(report.definitions)
    for _, body in figures:
        assert period in _words(body)
    assert report.title[locale] in words
    assert "Sample Lending" in words
    for heading in (
        "Summary",
        "Interventions per day by action",
        "By scam typology",
        "Honest customers inconvenienced",
        "By age band",
        "By tenure",
        "Students, elderly and vulnerable customers",
        "Complaints handled on time",
        "Escalation rate",
        "Rescue ladder",
        "Consent granted and withdrawn",
        "Data-subject requests",
        "Education reach",
        "Quiz",
        "Were reached customers scammed less later?",
        "Definitions",
    ):
        assert text(heading, locale) in words, heading
    # the figures, formatted
    assert "123,456.78" in words
    assert "45,000.00" in words
    assert report.education.later_scams.caveat[locale] in words
    assert ("冒充客服诈骗" if locale == "zh-CN" else "Fake customer service") in words
    assert ("中国内地" if locale == "zh-CN" else "Mainland China") in words
    # the per-day chart has a bar per day, each action's count on it
    assert page.count('<g class="bar"') == report.period.days
    assert 'data-day="2026-02-24" data-total="6"' in page  # remind 3 + dissuade 2 + intercept 1


@pytest.mark.parametrize("locale", LOCALES)
def test_estimated_figures_are_labelled_as_estimated(locale: str) -> None:
    page = render_html(sample_report(), locale)
    mark = f'<span class="estimated-mark">{text("Estimated", locale)}</span>'
    tile = re.search(
        r'<div class="tile estimated" id="sum-estimated">(.*?)</div>\s*</div>', page, re.S
    )
    assert tile is not None
    assert mark in tile.group(1)
    table = re.search(r'<table id="losses-estimated" class="estimated">(.*?)</table>', page, re.S)
    assert table is not None
    assert mark in table.group(1)
    observed = re.search(r'<table id="losses-observed">(.*?)</table>', page, re.S)
    assert observed is not None
    assert "estimated" not in observed.group(1)
    for key in ("losses_avoided_estimated", "education_later_scams"):
        block = re.search(rf'data-definition="{key}">(.*?)</p>', page, re.S)
        assert block is not None
        assert mark in block.group(1)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_html_is_self_contained(locale: str) -> None:
    page = render_html(sample_report(), locale)
    lowered = page.lower()
    assert "<script" not in lowered
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:|//)', lowered)
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert "<link" not in lowered
    assert "<img" not in lowered
    assert "<style>" in page
    assert "<svg" in page
    assert "WenQuanYi Micro Hei" in page


def test_the_body_has_no_inline_style_for_the_console() -> None:
    body = str(render_body(sample_report(), "en"))
    assert "<style" not in body
    assert " style=" not in body
    assert "<script" not in body


def test_a_report_with_nothing_in_it_renders() -> None:
    empty = sample_report(days=1).model_copy(deep=True)
    empty.interventions.per_day[0].counts = {}
    empty.interventions.by_typology = []
    empty.rescue.steps = []
    empty.education.by_channel = []
    page = render_html(empty, "en")
    assert "No data in this period." in page


def test_an_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError, match="locale"):
        render_html(sample_report(), "fr")


def test_the_json_round_trips() -> None:
    report = sample_report()
    data = render_json(report)
    assert ProtectionReport.model_validate_json(data) == report


def _pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if found is None:
        if os.environ.get("LENDGUARD_REQUIRE_SERVICES") == "1":
            pytest.fail("pdftoppm (poppler-utils) is required here")
        pytest.skip("pdftoppm (poppler-utils) is not installed: the PDF's pages are not rendered")
    return found


def pdf_pages(pdf: bytes, folder: Path) -> list[Path]:
    """The PDF's pages as PNG files (pdftoppm at 50 dpi), each checked to be a non-empty image."""
    tool = _pdftoppm()
    source = folder / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [tool, "-png", "-r", "50", str(source), str(folder / "page")], check=True, timeout=60
    )
    pages = sorted(folder.glob("page*.png"))
    for page in pages:
        data = page.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), page
        assert len(data) > 1000, page
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        # A4 at 50 dpi: about 413 x 585 pixels
        assert (width, height) == pytest.approx((413, 585), abs=3), page
    return pages


@pytest.mark.parametrize("locale", LOCALES)
def test_the_pdf_renders_on_several_a4_pages(locale: str, tmp_path: Path) -> None:
    pdf = render_pdf(sample_report(), locale)
    assert pdf.startswith(b"%PDF-")
    pages = pdf_pages(pdf, tmp_path)
    assert len(pages) >= 2
    text_tool = shutil.which("pdftotext")
    if text_tool is None:
        return
    (tmp_path / "report.pdf").write_bytes(pdf)
    said = subprocess.run(
        [text_tool, "-layout", str(tmp_path / "report.pdf"), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode("utf-8")
    sheets = said.split("\f")
    sheets = [s for s in sheets if s.strip()]
    assert len(sheets) == len(pages)
    counter = text("Page %s of %s", locale)
    for number, sheet in enumerate(sheets, start=1):
        # the lender, the period and the page number on every page
        assert "Sample Lending" in sheet
        assert "2026-02-24" in sheet
        assert "2026-03-02" in sheet
        assert counter % (number, len(sheets)) in sheet
    assert text("Education reach", locale) in said
    assert text("Estimated", locale) in said
