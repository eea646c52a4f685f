"""HTTP endpoint of the link graph: a customer's linked group, as JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from lendguard.auth.dependencies import require_for
from lendguard.auth.service import Principal, Scope
from lendguard.cases.service import CaseService
from lendguard.decisions.service import DecisionService
from lendguard.graph.schemas import LinkedGroup
from lendguard.graph.views import ring_summary
from lendguard.privacy import intake

router = APIRouter(prefix="/v1")
GraphReader = Annotated[Principal, Depends(require_for(Scope.decisions_read, "anti_fraud"))]


def decision_service(request: Request) -> DecisionService:
    """The live link graph is kept (and locked) by the decision service."""
    return request.app.state.services.decisions


def case_service(request: Request) -> CaseService:
    return request.app.state.services.cases


Decisions = Annotated[DecisionService, Depends(decision_service)]
Cases = Annotated[CaseService, Depends(case_service)]


@router.get(
    "/graph/customers/{customer_id}",
    tags=["graph"],
    summary="A customer's linked group: members, shared identifiers, ring verdict",
    response_model=LinkedGroup,
    response_model_exclude_unset=True,
)
def get_customer_group(
    customer_id: str,
    principal: GraphReader,
    decisions: Decisions,
    cases: Cases,
) -> object:
    """The customers joined to this one by a shared device, phone, card or address, what they
    share (masked), and whether the batch ring rules would flag the group. Open cases of the
    members are included for callers that may read cases. A customer never seen is a group of
    one."""
    # An id holding personal information is stored (and linked) as its pseudonym.
    stored = intake.stored_identifier(customer_id, decisions.pii_key)
    readable = cases if principal.has(Scope.cases_read) else None
    return ring_summary(decisions, stored, readable, include_timeline=False)
