"""HTTP endpoints of the interventions area: holds.

A held payment is released or cancelled here without resolving its whole case (the customer
answered the questions, an agent called them); the case flow's controls apply all the same
(:class:`lendguard.cases.holds.HoldDesk`): a reason to release, a second person above the
release policy's amount. Every end goes on the case's timeline and the audit trail and is told
to the lender through the case webhook. Holds whose deadline passes are released by the server
itself, not here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from lendguard.auth.dependencies import client_ip, require_for
from lendguard.auth.service import Principal, Scope
from lendguard.cases.service import CaseService
from lendguard.interventions.hold_schemas import (
    HoldActionResult,
    HoldCancelBody,
    HoldPage,
    HoldReleaseBody,
    HoldStatus,
)
from lendguard.kit.params import Offset
from lendguard.web.body import json_body
from lendguard.web.openapi import problem_response, problems

router = APIRouter(prefix="/v1")

# Holds are case data (the decision, the money, what was done): anti-fraud purpose only, as
# every case endpoint.
HoldReader = Annotated[Principal, Depends(require_for(Scope.cases_read, "anti_fraud"))]
HoldWorker = Annotated[Principal, Depends(require_for(Scope.cases_write, "anti_fraud"))]
DecisionId = Annotated[str, Path(min_length=1, max_length=64, description="the decision held")]


def case_service(request: Request) -> CaseService:
    return request.app.state.services.cases


Cases = Annotated[CaseService, Depends(case_service)]


@router.get(
    "/holds",
    tags=["interventions"],
    summary="Held payments with their deadlines, soonest first",
    response_model=HoldPage,
)
def list_holds(
    cases: Cases,
    _: HoldReader,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    status: Annotated[HoldStatus | None, Query(description="held, released or cancelled")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> object:
    return cases.holds.listing(customer_id, status, limit, offset)


@router.post(
    "/holds/{decision_id}/release",
    tags=["interventions"],
    summary="Release one held payment (a reason always; above the release policy amount a "
    "second person, 202 while proposed)",
    response_model=HoldActionResult,
    responses={
        202: {
            "model": HoldActionResult,
            "description": "A release above the policy amount was proposed: the payment is "
            "still held; a different principal must send the same request to release it",
        },
        403: problem_response(
            403, "The caller lacks the scope, or proposed this release and cannot approve it"
        ),
        **problems(404, 409),
    },
)
def release_hold(
    decision_id: DecisionId,
    principal: HoldWorker,
    body: Annotated[HoldReleaseBody, json_body(HoldReleaseBody, "invalid hold release")],
    request: Request,
    response: Response,
    cases: Cases,
) -> object:
    done = cases.holds.end(decision_id, "release", principal.actor, body.note, client_ip(request))
    if done.proposal is not None:
        response.status_code = 202
    return {"hold": done.hold, "release_proposal": done.proposal}


@router.post(
    "/holds/{decision_id}/cancel",
    tags=["interventions"],
    summary="Cancel one held payment: the lender is told not to make it",
    response_model=HoldActionResult,
    responses=problems(404, 409),
)
def cancel_hold(
    decision_id: DecisionId,
    principal: HoldWorker,
    body: Annotated[HoldCancelBody, json_body(HoldCancelBody, "invalid hold cancellation")],
    request: Request,
    cases: Cases,
) -> object:
    done = cases.holds.end(decision_id, "cancel", principal.actor, body.note, client_ip(request))
    return {"hold": done.hold, "release_proposal": None}
