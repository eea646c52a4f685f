"""The console's protection report (issue #21): the same content as ``lendguard report``'s HTML
(:func:`lendguard.reporting.render.render_body` embedded in the console's layout) for a period
of the operator's calendar days, with the PDF and the JSON to download.

For roles holding ``reports:read`` (officer, admin). The default period is the last 30 days up
to the operator's today (or up to the day of the latest decided event, when that is earlier:
a demo's or an import's month); a period that cannot be used renders the page again with the reason
(422) and no figures.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lendguard.auth.service import Scope
from lendguard.auth.users import SessionInfo
from lendguard.console import i18n
from lendguard.console.report_i18n import merge
from lendguard.console.routes import (
    _locale,
    _page,
    _render,
    _zone,
    effectiveness_period,
)
from lendguard.errors import ValidationFailed
from lendguard.reporting.render import render_body, render_json, render_pdf
from lendguard.reporting.schemas import ProtectionReport

router = APIRouter(prefix="/console", include_in_schema=False)

# This page's strings join the console catalogue (the nav link is on every page).
merge(i18n.ZH, i18n.EN)

_FIELDS = {"from": "From", "to": "To"}


def _period(request: Request, info: SessionInfo) -> tuple[date, date, list[str]]:
    """The days asked for (default: the last 30 up to the operator's today) or the problems."""
    t = i18n.translator(_locale(request, info))
    asked_from, asked_to = request.query_params.get("from"), request.query_params.get("to")
    anchor = datetime.now(UTC)
    if not asked_from and not asked_to:
        # Unasked, the 30 days up to the latest event decided (today for a live deployment; the
        # month a demo or an import holds, rather than an empty page after it).
        latest = _latest_event(request)
        if latest is not None and latest < anchor:
            anchor = latest
    try:
        first, last, _, _ = effectiveness_period(asked_from, asked_to, _zone(request, info), anchor)
    except ValidationFailed as exc:
        problems = [f"{t(_FIELDS.get(e.field, e.field))}: {t(e.message)}" for e in exc.errors]
        return date.min, date.min, problems
    return first, last, []


def _latest_event(request: Request) -> datetime | None:
    """When the latest decided event occurred (None on an empty database)."""
    from sqlalchemy import func, select

    from lendguard.models.decision import DecisionRecord

    with request.app.state.services.decisions.db.connect() as conn:
        latest = conn.execute(select(func.max(DecisionRecord.occurred_at))).scalar_one()
    if latest is None:
        return None
    return latest if latest.tzinfo is not None else latest.replace(tzinfo=UTC)


def _report(request: Request, info: SessionInfo, first: date, last: date) -> ProtectionReport:
    from lendguard.reporting.service import build_report

    services = request.app.state.services
    return build_report(
        services.decisions.db,
        services.settings,
        first,
        last,
        _zone(request, info),
        services.settings.lender_name,
        datetime.now(UTC),
    )


def _refused(request: Request, info: SessionInfo, problems: list[str]) -> HTMLResponse:
    t = i18n.translator(_locale(request, info))
    return _render(
        request,
        "error.html",
        info,
        422,
        title=t("This period cannot be shown."),
        message="; ".join(problems),
    )


@router.get("/report")
def report_page(request: Request) -> HTMLResponse:
    """The report for the period, with links to its PDF and JSON."""
    info = _page(request, Scope.reports_read)
    locale = _locale(request, info)
    first, last, problems = _period(request, info)
    if problems:
        return _render(
            request,
            "report.html",
            info,
            422,
            problems=problems,
            chosen_from=str(request.query_params.get("from") or "")[:32],
            chosen_to=str(request.query_params.get("to") or "")[:32],
            body=None,
        )
    built = _report(request, info, first, last)
    query = urlencode({"from": first.isoformat(), "to": last.isoformat(), "lang": locale})
    return _render(
        request,
        "report.html",
        info,
        200,
        problems=[],
        chosen_from=first.isoformat(),
        chosen_to=last.isoformat(),
        body=render_body(built, locale),
        pdf_link=f"/console/report.pdf?{query}",
        json_link=f"/console/report.json?{query}",
    )


def _download(data: bytes, media_type: str, first: date, last: date, suffix: str) -> Response:
    name = f"protection-report-{first.isoformat()}-{last.isoformat()}.{suffix}"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/report.pdf")
def report_pdf(request: Request) -> Response:
    """The report as a PDF (A4, printed by WeasyPrint) in the page's language."""
    info = _page(request, Scope.reports_read)
    first, last, problems = _period(request, info)
    if problems:
        return _refused(request, info, problems)
    built = _report(request, info, first, last)
    pdf = render_pdf(built, _locale(request, info))
    return _download(pdf, "application/pdf", first, last, "pdf")


@router.get("/report.json")
def report_json(request: Request) -> Response:
    """The report as the machine-readable JSON document."""
    info = _page(request, Scope.reports_read)
    first, last, problems = _period(request, info)
    if problems:
        return _refused(request, info, problems)
    built = _report(request, info, first, last)
    return _download(render_json(built), "application/json", first, last, "json")
