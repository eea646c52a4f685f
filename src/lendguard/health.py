"""Liveness and readiness.

``/readyz`` also lists, under ``calendars``, the working-day calendar years that are missing
(this year, next year, and any a clock has counted without): the deadlines then use the stricter
fallback, which is safe, so a missing year is shown for an operator to add, never a reason to
take the service out of rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from lendguard.kit.calendars import calendar_status
from lendguard.web.responses import JSONResponse

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"]


class CalendarCoverage(BaseModel):
    """A jurisdiction's working-day calendar: the years it covers and those it lacks."""

    covered_years: list[int]
    missing_years: list[int] = Field(
        description="This year, next year and any year a clock counted with the fallback, "
        "when the calendar lacks it (add them; not a reason to leave rotation)"
    )
    fallback: Literal["weekdays", "every day"] = Field(
        description="What counts as a working day in a missing year"
    )


class Readiness(BaseModel):
    """Whether this instance can decide: a 200 when every check is ok, else a 503 with the
    same body naming what is down."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(
        description="database and ruleset: 'ok', 'missing' or 'error: <kind>'"
    )
    down: list[str] = Field(description="The checks that are not ok, sorted")
    ruleset_version: int | None
    calendars: dict[str, CalendarCoverage] = Field(description="Per jurisdiction (lower-case code)")


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "Not ready: the body names the checks that are down",
        "model": Readiness,
    }
}


@router.get("/healthz", summary="Liveness: the process answers", response_model=Liveness)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database, the state store and a rule set are there",
    response_model=Readiness,
    responses=_NOT_READY,
)
def readyz(request: Request) -> Any:
    services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        with services.decisions.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness must answer, whatever failed
        checks["database"] = f"error: {type(exc).__name__}"
    checks["ruleset"] = "ok" if services.decisions.ruleset is not None else "missing"
    ready = all(v == "ok" for v in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "down": sorted(name for name, v in checks.items() if v != "ok"),
        "ruleset_version": services.decisions.ruleset_version,
        "calendars": calendar_status(datetime.now(UTC).date()),
    }
    response: Response = JSONResponse(
        body,
        status_code=200 if ready else 503,
        # A load balancer (or a lender's client) asks again then: dependencies come back.
        headers=None if ready else {"Retry-After": "5"},
    )
    return response
