"""The alliance's public API (issue #20): this lender's identity and members (admin), its own
list (alliance:write, counts alliance:read), PSI with one member (alliance:write), the
per-applicant lookup across every member (alliance:lookup) and the exchange history
(alliance:read).

Every route authorises first (401/403), then answers 503 with ``Retry-After`` while the
alliance is not configured — except the identity, which says so in its body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from lendguard.alliance.schemas import (
    MEMBER_ID,
    AllianceExchangePage,
    AllianceIdentity,
    AllianceListEntryBody,
    AllianceListEntryOut,
    AllianceListRemoveBody,
    AllianceListSummary,
    AllianceLookupBody,
    AllianceLookupOut,
    AllianceMemberBody,
    AllianceMemberList,
    AllianceMemberOut,
    AlliancePsiBody,
    AlliancePsiOut,
)
from lendguard.alliance.service import AllianceService
from lendguard.auth.dependencies import client_ip, require, require_for
from lendguard.auth.service import Principal, Scope
from lendguard.web.body import json_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1/alliance", tags=["alliance"])

Admin = Annotated[Principal, Depends(require(Scope.admin))]
# Alliance data serves anti-fraud only: a key bound to another purpose is refused (R34).
Reader = Annotated[Principal, Depends(require_for(Scope.alliance_read, "anti_fraud"))]
Writer = Annotated[Principal, Depends(require_for(Scope.alliance_write, "anti_fraud"))]
Looker = Annotated[Principal, Depends(require_for(Scope.alliance_lookup, "anti_fraud"))]


def alliance_service(request: Request) -> AllianceService:
    service: AllianceService = request.app.state.services.alliance
    return service


def configured_service(request: Request) -> AllianceService:
    """The service, or 503 with Retry-After while the alliance is not configured."""
    service = alliance_service(request)
    service.require_configured()
    return service


Alliance = Annotated[AllianceService, Depends(configured_service)]
# 503: the alliance is not configured (Retry-After).
UNAVAILABLE = problems(503)


@router.get(
    "/identity",
    summary="This lender's member id and Ed25519 public key, to give every other member",
    response_model=AllianceIdentity,
    response_model_exclude_none=True,
)
def identity(principal: Admin, request: Request) -> object:
    return alliance_service(request).identity_view()


@router.get(
    "/members",
    summary="The members this lender cooperates with (active and removed)",
    response_model=AllianceMemberList,
    responses=UNAVAILABLE,
)
def list_members(principal: Admin, alliance: Alliance) -> object:
    return {"members": alliance.members()}


@router.post(
    "/members",
    summary="Configure a member (its id, base URL and public key); both sides must",
    response_model=AllianceMemberOut,
    status_code=201,
    responses=problems(409, 422, 503),
)
def add_member(
    principal: Admin,
    alliance: Alliance,
    request: Request,
    body: Annotated[AllianceMemberBody, json_body(AllianceMemberBody)],
) -> object:
    return alliance.add_member(body, principal.actor, client_ip(request))


@router.delete(
    "/members/{member_id}",
    summary="Remove a member: its signed requests are refused from now on",
    response_model=AllianceMemberOut,
    responses=problems(404, 422, 503),
)
def remove_member(
    principal: Admin,
    alliance: Alliance,
    request: Request,
    member_id: Annotated[str, Path(pattern=MEMBER_ID)],
) -> object:
    return alliance.remove_member(member_id, principal.actor, client_ip(request))


@router.get(
    "/list",
    summary="This lender's alliance list: active entries per identifier kind",
    response_model=AllianceListSummary,
    responses=UNAVAILABLE,
)
def list_summary(principal: Reader, alliance: Alliance) -> object:
    return alliance.list_summary()


@router.post(
    "/list/entries",
    summary="Put an identifier on the list (canonicalised; 201 new, 200 already there)",
    response_model=AllianceListEntryOut,
    status_code=201,
    responses={
        200: {"description": "already on the list", "model": AllianceListEntryOut},
        **problems(422, 503),
    },
)
def add_entry(
    principal: Writer,
    alliance: Alliance,
    request: Request,
    response: Response,
    body: Annotated[AllianceListEntryBody, json_body(AllianceListEntryBody)],
) -> object:
    entry = alliance.add_entry(body, principal.actor, client_ip(request))
    if not entry["created"]:
        response.status_code = 200
    return entry


@router.post(
    "/list/entries/remove",
    summary="Take an identifier off the list (by entry_id, or by kind and value)",
    response_model=AllianceListEntryOut,
    responses=problems(404, 422, 503),
)
def remove_entry(
    principal: Writer,
    alliance: Alliance,
    request: Request,
    body: Annotated[AllianceListRemoveBody, json_body(AllianceListRemoveBody)],
) -> object:
    return alliance.remove_entry(body, principal.actor, client_ip(request))


@router.post(
    "/psi",
    summary="ECDH-PSI of this lender's list of one kind with a member's: the matched entries "
    "(intersection) or only their number (cardinality)",
    response_model=AlliancePsiOut,
    responses=problems(422, 429, 502, 503),
)
async def run_psi(
    principal: Writer,
    alliance: Alliance,
    request: Request,
    body: Annotated[AlliancePsiBody, json_body(AlliancePsiBody)],
) -> object:
    return await alliance.run_psi(body, principal.actor, client_ip(request))


@router.post(
    "/lookups",
    summary="Ask every member whether one applicant's identifiers are on its list (OPRF; "
    "members that do not answer in 2 s are listed as unavailable)",
    response_model=AllianceLookupOut,
    responses=problems(422, 503),
)
async def lookup(
    principal: Looker,
    alliance: Alliance,
    request: Request,
    body: Annotated[AllianceLookupBody, json_body(AllianceLookupBody)],
) -> object:
    return await alliance.lookup(body, principal.actor, client_ip(request))


@router.get(
    "/exchanges",
    summary="Every exchange with members, newest first (counts only, never identifiers)",
    response_model=AllianceExchangePage,
    responses=problems(422, 503),
)
async def exchanges(
    principal: Reader,
    alliance: Alliance,
    kind: Annotated[Literal["psi", "lookup", "aggregation"] | None, Query()] = None,
    peer: Annotated[str | None, Query(pattern=MEMBER_ID)] = None,
    since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> object:
    return await run_in_threadpool(
        alliance.exchanges, kind=kind, peer=peer, since=since, limit=limit, offset=offset
    )
