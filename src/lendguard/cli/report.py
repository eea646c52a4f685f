"""``lendguard report``: the protection report (issue #21) for a period, from the database's live
rows, as HTML, PDF or JSON.

Without ``--out`` HTML and JSON go to stdout (a PDF needs ``--out``). With ``--format html
--out FILE`` the machine-readable JSON is written beside it (``report.html`` → ``report.json``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lendguard.cli.common import err, fail

MAX_DAYS = 366
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReportFormat(StrEnum):
    html = "html"
    pdf = "pdf"
    json = "json"


class ReportLocale(StrEnum):
    zh_cn = "zh-CN"
    en = "en"


def _day(raw: str, option: str) -> date:
    text = raw.strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: enter a date as year-month-day, e.g. 2026-02-01") from None


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None


def report(
    from_day: Annotated[
        str, typer.Option("--from", help="First calendar day (YYYY-MM-DD), in --zone")
    ],
    to_day: Annotated[
        str, typer.Option("--to", help="Last calendar day (YYYY-MM-DD, included), in --zone")
    ],
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="html, pdf or json")
    ] = ReportFormat.html,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write here (needed for pdf); with html the JSON is written beside it "
            "(FILE with .json as its suffix). Default: stdout",
        ),
    ] = None,
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone", help="IANA time zone the days are counted in (default: console_timezone)"
        ),
    ] = None,
    locale: Annotated[
        ReportLocale | None,
        typer.Option("--locale", help="zh-CN or en (default: default_locale)"),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", help="Database URL (default: LENDGUARD_DATABASE_URL)"),
    ] = None,
    lender: Annotated[
        str | None,
        typer.Option(
            "--lender", help="The lender's name printed on the report (default: lender_name)"
        ),
    ] = None,
) -> None:
    """The protection report for a period: interventions, frauds blocked, losses avoided
    (observed and, apart, estimated), honest customers inconvenienced, complaints, rescues,
    consent, data-subject requests and education reach, each with its definition."""
    from lendguard.config import get_settings, known_time_zone

    settings = get_settings()
    if database:
        settings = settings.model_copy(update={"database_url": database})
    first, last = _day(from_day, "--from"), _day(to_day, "--to")
    if first > last:
        raise fail("--from: the first day must not be after the last day")
    if (last - first) + timedelta(days=1) > timedelta(days=MAX_DAYS):
        raise fail(f"--from: the period can be at most {MAX_DAYS} days")
    try:
        zone_name = known_time_zone(zone or settings.console_timezone)
    except ValueError as exc:
        raise fail(f"--zone: {exc}") from None
    lender_name = " ".join((lender if lender is not None else settings.lender_name).split())
    if not lender_name or len(lender_name) > 200 or not lender_name.isprintable():
        raise fail("--lender: a name of 1 to 200 printable characters")
    chosen = (locale.value if locale else None) or settings.default_locale
    if chosen not in ("zh-CN", "en"):
        chosen = "zh-CN"
    if output_format is ReportFormat.pdf and out is None:
        raise fail("--format pdf needs --out FILE")

    from lendguard.cli import factory
    from lendguard.reporting.render import render_html, render_json, render_pdf
    from lendguard.reporting.service import build_report

    try:
        engine = factory.migrated_engine(settings.database_url)
    except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable server, in one line
        raise fail(f"--database: cannot open the database ({type(exc).__name__})") from None
    try:
        built = build_report(
            engine, settings, first, last, zone_name, lender_name, datetime.now(UTC)
        )
    finally:
        engine.dispose()

    if output_format is ReportFormat.json:
        data = render_json(built)
    elif output_format is ReportFormat.pdf:
        data = render_pdf(built, chosen)
    else:
        data = render_html(built, chosen).encode("utf-8")
    if out is None:
        typer.echo(data.decode("utf-8"), nl=False)
        return
    _write(out, data)
    written = [out]
    if output_format is ReportFormat.html:
        beside = out.with_suffix(".json")
        if beside == out:
            beside = out.with_name(out.name + ".json")
        _write(beside, render_json(built))
        written.append(beside)
    for path in written:
        err.print(f"wrote {path}", highlight=False)
