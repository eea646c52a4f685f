"""HTTP endpoints of the money lock and kill switch (issue #19): lock, unlock, read.

All three need ``locks:write``: the lender's app (the customer's own request) and agents lock;
unlocking is the same scope plus the stronger verification recorded with it; reading the lock
and its history is for those same callers (the history names the staff who verified an unlock,
more than a decision reader needs). Routes are plain ``def``: FastAPI runs them on a worker
thread, off the event loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from lendguard.auth.dependencies import client_ip, require_for
from lendguard.auth.service import Principal, Scope
from lendguard.interventions.lock_schemas import LockBody, LockView, UnlockBody
from lendguard.interventions.lock_service import LockService
from lendguard.web.body import json_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1")

# A lock and its history (notes, who verified an unlock) are anti-fraud data (R34): refused to a
# key bound to, or a request declaring, marketing or credit, as the case endpoints refuse it.
LockWriter = Annotated[Principal, Depends(require_for(Scope.locks_write, "anti_fraud"))]
CustomerId = Annotated[
    str, Path(min_length=1, max_length=128, description="the customer, as the lender knows them")
]


def lock_service(request: Request) -> LockService:
    return LockService(request.app.state.services.decisions)


Locks = Annotated[LockService, Depends(lock_service)]


@router.post(
    "/customers/{customer_id}/lock",
    tags=["interventions"],
    summary="Lock the customer's outflows and new credit (and, with the kill switch, new "
    "devices); idempotent",
    response_model=LockView,
    responses=problems(409),
)
def lock(
    request: Request,
    customer_id: CustomerId,
    locks: Locks,
    principal: LockWriter,
    body: Annotated[LockBody, json_body(LockBody, "invalid lock")],
) -> object:
    return locks.lock(
        customer_id,
        body.channel,
        body.kill_switch,
        principal.actor,
        note=body.note,
        ip=client_ip(request),
    )


@router.post(
    "/customers/{customer_id}/unlock",
    tags=["interventions"],
    summary="Unlock with a verification the policy accepts: in person or by video now, or "
    "after a cooling-off",
    response_model=LockView,
    responses=problems(409),
)
def unlock(
    request: Request,
    customer_id: CustomerId,
    locks: Locks,
    principal: LockWriter,
    body: Annotated[UnlockBody, json_body(UnlockBody, "invalid unlock")],
) -> object:
    return locks.unlock(
        customer_id,
        body.method,
        body.revision,
        principal.actor,
        reference=body.reference,
        verified_by=body.verified_by,
        ip=client_ip(request),
    )


@router.get(
    "/customers/{customer_id}/lock",
    tags=["interventions"],
    summary="The customer's money lock as it stands now, with its history",
    response_model=LockView,
    responses=problems(404),
)
def get_lock(customer_id: CustomerId, locks: Locks, _: LockWriter) -> object:
    return locks.view(customer_id)
