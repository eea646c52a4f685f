"""The protection report over HTTP (issue #21): ``GET /v1/reports/protection``, the typed
document (:class:`lendguard.reporting.schemas.ProtectionReport`) for a period of calendar days
in an IANA time zone, computed from live data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from lendguard.auth.dependencies import require
from lendguard.auth.service import Principal, Scope
from lendguard.config import known_time_zone
from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.bounds import PlausibleDate
from lendguard.reporting.schemas import ProtectionReport
from lendguard.reporting.service import build_report

router = APIRouter(prefix="/v1/reports")

ReportReader = Annotated[Principal, Depends(require(Scope.reports_read))]

# The longest period one report covers (a leap year).
MAX_DAYS = 366


def check_period(from_date: date, to_date: date) -> None:
    """422 naming the field when the period is reversed or longer than :data:`MAX_DAYS`."""
    if from_date > to_date:
        raise ValidationFailed(
            "the period is empty", errors=[FieldError("query.from", "must not be after to")]
        )
    if (to_date - from_date).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            "the period is too long",
            errors=[FieldError("query.from", f"at most {MAX_DAYS} days up to to")],
        )


def check_zone(zone: str) -> str:
    try:
        return known_time_zone(zone)
    except ValueError as exc:
        raise ValidationFailed(
            "unknown time zone", errors=[FieldError("query.zone", str(exc))]
        ) from exc


@router.get(
    "/protection",
    tags=["reports"],
    summary="The protection report for a period: interventions, frauds blocked, losses "
    "avoided, honest customers inconvenienced, complaints, rescues, consent, requests, education",
    description="Calendar days `from` … `to` (both included, at most 366) counted in `zone` "
    "(an IANA name). Every figure names its definition (`definitions`); losses avoided are "
    "given as observed (from outcomes) and, separately, estimated.",
    response_model=ProtectionReport,
)
def protection_report(
    request: Request,
    _: ReportReader,
    from_date: Annotated[PlausibleDate, Query(alias="from", description="YYYY-MM-DD")],
    to_date: Annotated[PlausibleDate, Query(alias="to", description="YYYY-MM-DD")],
    zone: Annotated[
        str, Query(min_length=1, max_length=64, description="IANA time zone")
    ] = "Asia/Shanghai",
) -> ProtectionReport:
    check_period(from_date, to_date)
    zone = check_zone(zone)
    services = request.app.state.services
    return build_report(
        services.decisions.db,
        services.settings,
        from_date,
        to_date,
        zone,
        services.settings.lender_name,
        datetime.now(UTC),
    )
