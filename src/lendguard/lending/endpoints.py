"""HTTP endpoints of the lending area: the APR engine, offer checks, hardship plans and the
rescue ladder."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lendguard.auth import audit
from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.lending.apr import MAX_SCHEDULES, apr_answers
from lendguard.lending.offers import check as check_offer
from lendguard.lending.rescue_ladder import RescueService
from lendguard.web.body import read_json
from lendguard.web.responses import JSONResponse

router = APIRouter(prefix="/v1/lending")

LendingChecker = Annotated[Principal, Depends(require(Scope.lending_check))]


@router.post(
    "/apr",
    tags=["lending"],
    summary="APR of up to 1,000 schedules: Appendix J actuarial and China's annualised IRR",
    response_model=None,
)
async def post_apr(request: Request, _: LendingChecker) -> Response:
    """Body: one schedule, a list of schedules, or an object whose one list-valued key holds
    them. Answer: a list with, per schedule, ``apr_percent`` (Appendix J), ``irr_periodic``,
    ``apr_simple`` and ``apr_compound`` (China, fees and withheld amounts included), in
    percent, with the ``method`` of each; ``tolerance`` (R21) when the schedule carries
    ``disclosed_apr_percent``. A bad schedule gets a 422 problem naming the field."""
    raw = await read_json(request)
    # Root finding is CPU work: keep it off the event loop.
    answers = await run_in_threadpool(apr_answers, raw, MAX_SCHEDULES)
    return JSONResponse(answers)


LendingWriter = Annotated[Principal, Depends(require(Scope.lending_write))]


def _rescue(request: Request) -> RescueService:
    service: RescueService = request.app.state.services.rescue
    return service


@router.post(
    "/offers/check",
    tags=["lending"],
    summary="Check a loan offer, product card or ad against R1–R9, R11, R13 and R21",
    response_model=None,
)
async def check_offer_endpoint(request: Request, _: LendingChecker) -> Response:
    """Body: an offer (fees with payees, schedule, displayed rates and labels, limit, add-ons,
    key facts, ad text, customer flags, signing). Answer: its true cost from the APR engine
    and findings, each with the requirement and the policy value and source behind it."""
    raw = await read_json(request)
    return JSONResponse(await run_in_threadpool(check_offer, raw))


@router.post(
    "/hardship-plans/quote",
    tags=["lending"],
    summary="Hardship plan calculator: term extension, lower instalment, waived interest",
    response_model=None,
)
async def quote_plan(request: Request, _: LendingChecker) -> Response:
    raw = await read_json(request)
    return JSONResponse(await run_in_threadpool(_rescue(request).quote, raw))


@router.post(
    "/hardship-plans",
    tags=["lending"],
    status_code=201,
    summary="Offer a hardship plan: recorded, and collection paused while it is agreed",
    response_model=None,
)
async def propose_plan(request: Request, principal: LendingWriter) -> Response:
    raw = await read_json(request)

    def propose() -> dict[str, Any]:
        plan: dict[str, Any] = _rescue(request).propose(raw, principal.actor)
        audit.record_now(
            _rescue(request).db,
            principal.actor,
            "lending.plan_proposed",
            f"plan:{plan['id']}",
            client_ip(request),
            {"customer_id": plan["customer_id"]},
        )
        return plan

    return JSONResponse(await run_in_threadpool(propose), status_code=201)


@router.post("/hardship-plans/{plan_id}/agree", tags=["lending"])
def agree_plan(plan_id: str, request: Request, principal: LendingWriter) -> Any:
    result = _rescue(request).decide(plan_id, True, principal.actor)
    audit.record_now(
        _rescue(request).db,
        principal.actor,
        "lending.plan_agreed",
        f"plan:{plan_id}",
        client_ip(request),
    )
    return result


@router.post("/hardship-plans/{plan_id}/decline", tags=["lending"])
def decline_plan(plan_id: str, request: Request, principal: LendingWriter) -> Any:
    result = _rescue(request).decide(plan_id, False, principal.actor)
    audit.record_now(
        _rescue(request).db,
        principal.actor,
        "lending.plan_declined",
        f"plan:{plan_id}",
        client_ip(request),
    )
    return result


@router.get("/rescue/summary", tags=["lending"], summary="Rescue-ladder steps taken (R33)")
def rescue_summary(request: Request, _: LendingChecker) -> Any:
    return _rescue(request).summary()


@router.get("/rescue/customers/{customer_id}", tags=["lending"])
def rescue_customer(customer_id: str, request: Request, _: LendingChecker) -> Any:
    return _rescue(request).customer(customer_id)
