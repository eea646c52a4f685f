"""HTTP endpoints of the lending area: the APR engine, offer checks, hardship plans and the
rescue ladder."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.lending.apr import MAX_SCHEDULES, Schedule, compute, located_schedules
from lendguard.lending.hardship import HardshipRequest
from lendguard.lending.offers import Offer
from lendguard.lending.offers import check as check_offer
from lendguard.lending.rescue_ladder import RescueService
from lendguard.lending.schemas import (
    AprAnswers,
    AprRequest,
    OfferCheck,
    PlanDecision,
    PlanQuote,
    ProposedPlan,
    RescueCustomer,
    RescueSummary,
)
from lendguard.web.body import BODY_MODEL_ATTRIBUTE, json_body, read_json
from lendguard.web.openapi import problems
from lendguard.web.responses import JSONResponse

router = APIRouter(prefix="/v1/lending")

# Each route takes its scope first: a caller without it is a 403 before the body is read.

LendingChecker = Annotated[Principal, Depends(require(Scope.lending_check))]
LendingWriter = Annotated[Principal, Depends(require(Scope.lending_write))]


def rescue_service(request: Request) -> RescueService:
    """The app's rescue ladder (hardship plans, the steps taken per customer)."""
    service: RescueService = request.app.state.services.rescue
    return service


Rescue = Annotated[RescueService, Depends(rescue_service)]


async def _schedules(request: Request) -> list[tuple[str, Schedule]]:
    """The body as :class:`AprRequest`, read by the APR engine itself: its three shapes (one
    schedule, a list, an object holding the list) and the engine's own error paths
    (``schedules[2].payments[0].date``), which a union model would name by its branches."""
    raw = await read_json(request)
    return await run_in_threadpool(located_schedules, raw, MAX_SCHEDULES)


setattr(_schedules, BODY_MODEL_ATTRIBUTE, AprRequest)
Schedules = Annotated[list[tuple[str, Schedule]], Depends(_schedules)]


@router.post(
    "/apr",
    tags=["lending"],
    summary="APR of up to 1,000 schedules: Appendix J actuarial and China's annualised IRR",
    response_model=AprAnswers,
)
async def post_apr(_: LendingChecker, schedules: Schedules) -> Response:
    """Body: one schedule, a list of schedules, or an object whose one list-valued key holds
    them. Answer: a list with, per schedule, ``apr_percent`` (Appendix J), ``irr_periodic``,
    ``apr_simple`` and ``apr_compound`` (China, fees and withheld amounts included), in
    percent, with the ``method`` of each; ``tolerance`` (R21) when the schedule carries
    ``disclosed_apr_percent``. A bad schedule gets a 422 problem naming the field."""

    def answers() -> list[dict[str, Any]]:
        return [compute(schedule, prefix).as_answer() for prefix, schedule in schedules]

    # Root finding is CPU work: keep it off the event loop.
    return JSONResponse(await run_in_threadpool(answers))


@router.post(
    "/offers/check",
    tags=["lending"],
    summary="Check a loan offer, product card or ad against R1–R9, R11, R13 and R21",
    response_model=OfferCheck,
)
async def check_offer_endpoint(
    _: LendingChecker, offer: Annotated[Offer, json_body(Offer, "invalid offer")]
) -> Response:
    """Body: an offer (fees with payees, schedule, displayed rates and labels, limit, add-ons,
    key facts, ad text, customer flags, signing). Answer: its true cost from the APR engine
    and findings, each with the requirement and the policy value and source behind it."""
    return JSONResponse(await run_in_threadpool(check_offer, offer))


PlanBody = Annotated[HardshipRequest, json_body(HardshipRequest, "invalid hardship plan")]


@router.post(
    "/hardship-plans/quote",
    tags=["lending"],
    summary="Hardship plan calculator: term extension, lower instalment, waived interest",
    response_model=PlanQuote,
)
async def quote_plan(_: LendingChecker, body: PlanBody, rescue: Rescue) -> Response:
    """The plan's instalment, dated schedule, totals, what is waived, findings (R20, R28) and
    its true cost. Nothing is recorded."""
    return JSONResponse(await run_in_threadpool(rescue.quote, body))


@router.post(
    "/hardship-plans",
    tags=["lending"],
    status_code=201,
    summary="Offer a hardship plan: recorded, and collection paused while it is agreed",
    response_model=ProposedPlan,
)
async def propose_plan(
    principal: LendingWriter, body: PlanBody, rescue: Rescue, request: Request
) -> Response:
    """A plan with a blocking finding (a credit-card plan past R20's term cap) is a 422."""

    def propose() -> dict[str, Any]:
        plan: dict[str, Any] = rescue.propose(body, principal.actor, client_ip(request))
        return plan

    return JSONResponse(await run_in_threadpool(propose), status_code=201)


def _decide(
    rescue: RescueService, request: Request, plan_id: str, agreed: bool, actor: str
) -> dict[str, Any]:
    return rescue.decide(plan_id, agreed, actor, client_ip(request))


@router.post(
    "/hardship-plans/{plan_id}/agree",
    tags=["lending"],
    summary="The borrower agreed the plan: collection is no longer paused for it",
    response_model=PlanDecision,
    responses=problems(409),
)
def agree_plan(
    plan_id: str, rescue: Rescue, request: Request, principal: LendingWriter
) -> dict[str, Any]:
    """A 409 when the plan was already agreed or declined."""
    return _decide(rescue, request, plan_id, True, principal.actor)


@router.post(
    "/hardship-plans/{plan_id}/decline",
    tags=["lending"],
    summary="The borrower declined the plan: collection is no longer paused for it",
    response_model=PlanDecision,
    responses=problems(409),
)
def decline_plan(
    plan_id: str, rescue: Rescue, request: Request, principal: LendingWriter
) -> dict[str, Any]:
    """A 409 when the plan was already agreed or declined."""
    return _decide(rescue, request, plan_id, False, principal.actor)


@router.get(
    "/rescue/summary",
    tags=["lending"],
    summary="Rescue-ladder steps taken (R33)",
    response_model=RescueSummary,
)
def rescue_summary(rescue: Rescue, _: LendingChecker) -> dict[str, Any]:
    return rescue.summary()


@router.get(
    "/rescue/customers/{customer_id}",
    tags=["lending"],
    summary="One customer's rescue-ladder steps, hardship plans and conduct flags",
    response_model=RescueCustomer,
)
def rescue_customer(customer_id: str, rescue: Rescue, _: LendingChecker) -> dict[str, Any]:
    """A customer the ladder never reached answers empty lists."""
    return rescue.customer(customer_id)
