"""HTTP endpoints of the trusted person (issue #19): register, read and revoke a customer's
trusted contact, and record the contact's answer on a payment held for them.

All need ``trusted:write``: the lender's app registers with the customer's consent and relays
the trusted person's answer; nothing here is for a decision reader. The contact's name and phone
are never answered back. Routes are plain ``def`` (run on a worker thread)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from lendguard.auth.dependencies import client_ip, require_for
from lendguard.auth.service import Principal, Scope
from lendguard.interventions.trusted_schemas import (
    TrustedConfirmationBody,
    TrustedConfirmationView,
    TrustedContactBody,
    TrustedContactView,
)
from lendguard.interventions.trusted_service import TrustedService
from lendguard.web.body import json_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1")

# Who guards a customer's payments and their answers are anti-fraud data (R34): refused to a key
# bound to, or a request declaring, marketing or credit, as the case endpoints refuse it.
TrustedWriter = Annotated[Principal, Depends(require_for(Scope.trusted_write, "anti_fraud"))]
CustomerId = Annotated[
    str, Path(min_length=1, max_length=128, description="the customer, as the lender knows them")
]
DecisionId = Annotated[str, Path(min_length=1, max_length=64)]


def trusted_service(request: Request) -> TrustedService:
    services = request.app.state.services
    return TrustedService(services.decisions, services.vault, holds=services.cases.holds)


Trusted = Annotated[TrustedService, Depends(trusted_service)]


@router.put(
    "/customers/{customer_id}/trusted-contact",
    tags=["interventions"],
    summary="Register (or replace) the customer's trusted person, with their consent",
    response_model=TrustedContactView,
    responses=problems(404, 409),
)
def register_trusted_contact(
    request: Request,
    customer_id: CustomerId,
    trusted: Trusted,
    principal: TrustedWriter,
    body: Annotated[TrustedContactBody, json_body(TrustedContactBody, "invalid trusted contact")],
) -> object:
    return trusted.register(
        customer_id,
        body.name,
        body.phone,
        body.threshold,
        body.consent_id,
        principal.actor,
        client_ip(request),
    )


@router.get(
    "/customers/{customer_id}/trusted-contact",
    tags=["interventions"],
    summary="The customer's trusted-person registration (never the contact's name or phone)",
    response_model=TrustedContactView,
    responses=problems(404),
)
def get_trusted_contact(customer_id: CustomerId, trusted: Trusted, _: TrustedWriter) -> object:
    return trusted.view(customer_id)


@router.delete(
    "/customers/{customer_id}/trusted-contact",
    tags=["interventions"],
    summary="Revoke the customer's trusted person: outflows no longer wait for them",
    response_model=TrustedContactView,
    responses=problems(404),
)
def revoke_trusted_contact(
    request: Request, customer_id: CustomerId, trusted: Trusted, principal: TrustedWriter
) -> object:
    return trusted.revoke(customer_id, principal.actor, client_ip(request))


@router.post(
    "/decisions/{decision_id}/trusted-confirmation",
    tags=["interventions"],
    summary="Record the trusted person's answer on a payment held for them",
    response_model=TrustedConfirmationView,
    responses=problems(404, 409),
)
def trusted_confirmation(
    request: Request,
    decision_id: DecisionId,
    trusted: Trusted,
    principal: TrustedWriter,
    body: Annotated[
        TrustedConfirmationBody, json_body(TrustedConfirmationBody, "invalid confirmation")
    ],
) -> object:
    return trusted.confirm(
        decision_id, body.confirmed, body.by, principal.actor, client_ip(request)
    )
