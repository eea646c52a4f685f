"""HTTP endpoints of the service metrics: contacts as the contact centre records them, the
customers' satisfaction surveys, and the figures (first-contact resolution, time to first
response, CSAT). Definitions: :mod:`lendguard.support.service_desk`.

Scopes: the agents' tools record contacts with ``cases:write`` (as for the assistant) and read
them and the metrics with ``cases:read``; the lender's survey system posts surveys with a key
holding only ``support:surveys``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.support.service_desk import MAX_DAYS, ServiceDesk
from lendguard.web.body import read_json
from lendguard.web.responses import JSONResponse

router = APIRouter(prefix="/v1/support")

ContactReader = Annotated[Principal, Depends(require(Scope.cases_read))]
ContactWriter = Annotated[Principal, Depends(require(Scope.cases_write))]
SurveySender = Annotated[Principal, Depends(require(Scope.support_surveys))]


def _desk(request: Request) -> ServiceDesk:
    desk: ServiceDesk = request.app.state.services.service_desk
    return desk


@router.post(
    "/contacts",
    tags=["support"],
    status_code=201,
    summary="Record a service contact: {conversation_id, customer_id, channel, opened_at?, ...}",
    response_model=None,
)
async def open_contact(request: Request, principal: ContactWriter) -> Any:
    """Body: ``conversation_id`` (the contact centre's id; sending it again answers 200 with
    the first record), ``customer_id``, ``channel`` (phone, chat, app, email, in_person,
    social_media), ``jurisdiction`` (CN, US, UK: whose repeat window applies), ``opened_at``
    (the customer's first message; default now), ``topic`` (may wait until the close)."""
    raw = await read_json(request)
    contact = await run_in_threadpool(_desk(request).open, raw, principal.actor, client_ip(request))
    return JSONResponse(contact, status_code=200 if contact["replayed"] else 201)


@router.get(
    "/contacts/{conversation_id}",
    tags=["support"],
    summary="One contact with its survey and first-contact-resolution status",
)
def get_contact(conversation_id: str, request: Request, _: ContactReader) -> Any:
    return _desk(request).get(conversation_id)


@router.post(
    "/contacts/{conversation_id}/first-response",
    tags=["support"],
    summary="Record the agent's first reply: {responded_at?}",
)
async def first_response(conversation_id: str, request: Request, principal: ContactWriter) -> Any:
    raw = await read_json(request)
    return await run_in_threadpool(
        _desk(request).first_response, conversation_id, raw, principal.actor, client_ip(request)
    )


@router.post(
    "/contacts/{conversation_id}/close",
    tags=["support"],
    summary="End a contact: {outcome: resolved|escalated|follow_up|abandoned, topic, closed_at?}",
)
async def close_contact(conversation_id: str, request: Request, principal: ContactWriter) -> Any:
    raw = await read_json(request)
    return await run_in_threadpool(
        _desk(request).close, conversation_id, raw, principal.actor, client_ip(request)
    )


@router.post(
    "/surveys",
    tags=["support"],
    status_code=201,
    summary="A customer's satisfaction survey: {conversation_id, score 1-5, comment?}",
    response_model=None,
)
async def submit_survey(request: Request, principal: SurveySender) -> Any:
    """One survey per contact: the same survey again answers 200 with the record, another one
    409. The comment is stored with personal information masked."""
    raw = await read_json(request)
    survey = await run_in_threadpool(
        _desk(request).survey, raw, principal.actor, client_ip(request)
    )
    return JSONResponse(survey, status_code=200 if survey["replayed"] else 201)


@router.get(
    "/metrics",
    tags=["support"],
    summary="First-contact resolution, time to first response and CSAT, overall and by channel",
)
def metrics(
    request: Request,
    _: ContactReader,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
    jurisdiction: str | None = None,
) -> Any:
    return _desk(request).metrics(days, jurisdiction)
