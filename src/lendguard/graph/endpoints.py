"""HTTP endpoint of the link graph: a customer's linked group, as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from lendguard.auth.dependencies import require_for
from lendguard.auth.service import Principal, Scope
from lendguard.graph.views import ring_summary
from lendguard.privacy import intake

router = APIRouter(prefix="/v1")
GraphReader = Annotated[Principal, Depends(require_for(Scope.decisions_read, "anti_fraud"))]


@router.get(
    "/graph/customers/{customer_id}",
    tags=["graph"],
    summary="A customer's linked group: members, shared identifiers, ring verdict",
)
def get_customer_group(customer_id: str, request: Request, principal: GraphReader) -> Any:
    """The customers joined to this one by a shared device, phone, card or address, what they
    share (masked), and whether the batch ring rules would flag the group. Open cases of the
    members are included for callers that may read cases. A customer never seen is a group of
    one."""
    services = request.app.state.services
    cases = services.cases if principal.has(Scope.cases_read) else None
    # An id holding personal information is stored (and linked) as its pseudonym.
    stored = intake.stored_identifier(customer_id, services.decisions.pii_key)
    return ring_summary(services.decisions, stored, cases, include_timeline=False)
