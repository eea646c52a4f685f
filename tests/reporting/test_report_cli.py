"""``lendguard report`` (issue #21): on a database with known rows it writes the HTML (and the
JSON beside it), the PDF and the JSON, and the JSON's figures equal ``build_report``'s on the
same rows; without ``--out`` HTML and JSON go to stdout, a PDF needs ``--out``; a bad option is
refused in one line naming it; and on the demo's database it produces HTML and PDF."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.config import Settings, get_settings
from lendguard.db import make_engine
from lendguard.reporting.schemas import ProtectionReport
from lendguard.reporting.service import build_report
from reporting.test_render import pdf_pages

PERIOD = ["--from", "2026-02-01", "--to", "2026-02-28", "--zone", "Asia/Shanghai"]


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["report", *args], catch_exceptions=False)


def _figures(report: ProtectionReport) -> dict[str, Any]:
    """Everything but the instant it was made."""
    return report.model_dump(mode="json", exclude={"generated_at"})


def test_the_report_in_every_format_on_a_database_with_rows(
    known_report: Any, database_url: str, tmp_path: Path
) -> None:
    expected = _figures(known_report.report())
    assert expected["interventions"]["interventions"] > 0  # the rows are there
    where = ["--database", database_url, "--lender", "Test Bank", *PERIOD]

    done = run(*where, "--format", "json", "--out", str(tmp_path / "report.json"))
    assert done.exit_code == 0, done.output
    got = ProtectionReport.model_validate_json((tmp_path / "report.json").read_bytes())
    assert _figures(got) == expected

    done = run(*where, "--format", "html", "--locale", "en", "--out", str(tmp_path / "r.html"))
    assert done.exit_code == 0, done.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "Test Bank consumer protection report" in page
    beside = ProtectionReport.model_validate_json((tmp_path / "r.json").read_bytes())
    assert _figures(beside) == expected

    shown = run(*where, "--format", "json")  # no --out: stdout
    assert shown.exit_code == 0, shown.output
    assert _figures(ProtectionReport.model_validate_json(shown.stdout)) == expected
    html = run(*where, "--locale", "zh-CN")
    assert html.exit_code == 0
    assert "Test Bank消费者权益保护报告" in html.stdout

    if not database_url.startswith("sqlite"):
        return  # the figures are the database's part; the PDF is printed once
    done = run(*where, "--format", "pdf", "--locale", "zh-CN", "--out", str(tmp_path / "r.pdf"))
    assert done.exit_code == 0, done.output
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert len(pdf_pages(pdf, tmp_path)) >= 2


def test_refusals_name_the_option(sqlite_url: str, tmp_path: Path) -> None:
    where = ["--database", sqlite_url, "--lender", "Test Bank"]
    for args, said in (
        ([*PERIOD, "--format", "pdf"], "--format pdf needs --out"),
        (["--from", "2026-02-30", "--to", "2026-03-01"], "--from: enter a date"),
        (["--from", "2026-03-01", "--to", "03/02/2026"], "--to: enter a date"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "must not be after"),
        (["--from", "2024-01-01", "--to", "2026-03-01"], "at most 366 days"),
        ([*PERIOD[:4], "--zone", "Mars/Olympus"], "--zone: unknown time zone"),
        ([*PERIOD, "--lender", "  "], "--lender"),
        ([*PERIOD, "--out", str(tmp_path / "missing" / "r.html")], "cannot write"),
    ):
        refused = run(*where, *args)
        assert refused.exit_code == 2, (args, refused.output)
        assert said in refused.stderr
        assert "Traceback" not in refused.output
    unreachable = run("--database", "postgresql://nobody@127.0.0.1:1/none", *PERIOD)
    assert unreachable.exit_code == 2
    assert "--database: cannot open the database" in unreachable.stderr
    assert "nobody" not in unreachable.stderr  # the URL (a password in it) is never printed


@pytest.fixture
def demo_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory without LendGuard settings (the demo writes under ./var)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LENDGUARD_"):
            monkeypatch.delenv(name)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    structlog.configure(**logging_config)


def test_the_report_on_the_demos_database(demo_checkout: Path) -> None:
    made = CliRunner().invoke(
        app,
        ["demo", "--customers", "40", "--days", "2", "--seed", "5", "--no-serve"],
        catch_exceptions=False,
    )
    assert made.exit_code == 0, made.output
    url = "sqlite:///./var/demo.db"
    # the demo's events lie around its fixed epoch; the period covers all of them
    period = ["--from", "2025-12-01", "--to", "2026-03-31", "--zone", "Asia/Shanghai"]
    for fmt, name in (("html", "demo.html"), ("pdf", "demo.pdf")):
        done = run("--database", url, *period, "--format", fmt, "--out", name)
        assert done.exit_code == 0, done.output
    page = (demo_checkout / "demo.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert 'id="report-definitions"' in page
    assert len(pdf_pages((demo_checkout / "demo.pdf").read_bytes(), demo_checkout)) >= 2
    # the JSON beside the HTML equals the figures computed again from the same rows
    engine = make_engine(url)
    try:
        again = build_report(
            engine,
            Settings(_env_file=None),
            date(2025, 12, 1),
            date(2026, 3, 31),
            "Asia/Shanghai",
            "LendGuard",
            datetime.now(UTC),
        )
    finally:
        engine.dispose()
    beside = ProtectionReport.model_validate_json((demo_checkout / "demo.json").read_bytes())
    assert _figures(beside) == _figures(again)
    assert beside.interventions.decisions > 0
