"""Console pages of the link graph: the largest linked groups, one group's ring page, and the
picture of a customer's neighbourhood (server-drawn SVG, no script)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lendguard.auth.service import Scope
from lendguard.console.routes import _page, _render
from lendguard.graph.views import neighbourhood_picture, ring_summary, rings_overview

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/rings")
def rings_page(request: Request) -> HTMLResponse:
    info = _page(request, Scope.decisions_read)
    overview = rings_overview(request.app.state.services.decisions)
    return _render(request, "rings.html", info, overview=overview)


@router.get("/rings/{customer_id}")
def ring_page(customer_id: str, request: Request) -> HTMLResponse:
    info = _page(request, Scope.decisions_read)
    services = request.app.state.services
    cases = services.cases if info.principal.has(Scope.cases_read) else None
    summary = ring_summary(services.decisions, customer_id, cases)
    picture = neighbourhood_picture(services.decisions, customer_id)
    return _render(
        request,
        "ring.html",
        info,
        customer_id=customer_id,
        s=summary,
        picture=picture,
        can_read_cases=cases is not None,
    )


@router.get("/customers/{customer_id}/graph.svg")
def neighbourhood_svg(customer_id: str, request: Request) -> Response:
    _page(request, Scope.decisions_read)
    svg = neighbourhood_picture(request.app.state.services.decisions, customer_id)
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'none'; script-src 'none'",
        },
    )
