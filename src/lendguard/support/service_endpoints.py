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
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.support.schemas import (
    Contact,
    ContactChange,
    ContactClose,
    ContactFirstResponse,
    ContactOpen,
    ServiceMetrics,
    SurveyChange,
    SurveySubmission,
)
from lendguard.support.service_desk import MAX_DAYS, ServiceDesk
from lendguard.web.body import json_body
from lendguard.web.openapi import problems
from lendguard.web.responses import JSONResponse

router = APIRouter(prefix="/v1/support")

ContactReader = Annotated[Principal, Depends(require(Scope.cases_read))]
ContactWriter = Annotated[Principal, Depends(require(Scope.cases_write))]
SurveySender = Annotated[Principal, Depends(require(Scope.support_surveys))]


def service_desk(request: Request) -> ServiceDesk:
    """The app's service desk (contacts, surveys, metrics)."""
    desk: ServiceDesk = request.app.state.services.service_desk
    return desk


Desk = Annotated[ServiceDesk, Depends(service_desk)]
_REPLAYED = {"description": "The same request again: the record as first made"}


@router.post(
    "/contacts",
    tags=["support"],
    status_code=201,
    summary="Record a service contact: {conversation_id, customer_id, channel, opened_at?, ...}",
    response_model=ContactChange,
    responses={200: {**_REPLAYED, "model": ContactChange}, **problems(409)},
)
async def open_contact(
    principal: ContactWriter,
    body: Annotated[ContactOpen, json_body(ContactOpen, "invalid service contact")],
    desk: Desk,
    request: Request,
) -> Response:
    """Body: ``conversation_id`` (the contact centre's id; sending it again answers 200 with
    the first record, 409 when what it names differs), ``customer_id``, ``channel`` (phone,
    chat, app, email, in_person, social_media), ``jurisdiction`` (CN, US, UK: whose repeat
    window applies), ``opened_at`` (the customer's first message; default now, never later),
    ``topic`` (may wait until the close)."""
    contact = await run_in_threadpool(desk.open, body, principal.actor, client_ip(request))
    return JSONResponse(contact, status_code=200 if contact["replayed"] else 201)


@router.get(
    "/contacts/{conversation_id}",
    tags=["support"],
    summary="One contact with its survey and first-contact-resolution status",
    response_model=Contact,
)
def get_contact(conversation_id: str, desk: Desk, _: ContactReader) -> Any:
    return desk.get(conversation_id)


@router.post(
    "/contacts/{conversation_id}/first-response",
    tags=["support"],
    summary="Record the agent's first reply: {responded_at?}",
    response_model=ContactChange,
    responses=problems(409),
)
async def first_response(
    principal: ContactWriter,
    conversation_id: str,
    body: Annotated[
        ContactFirstResponse, json_body(ContactFirstResponse, "invalid first response")
    ],
    desk: Desk,
    request: Request,
) -> Any:
    """Sent again with the same time it answers the record; another time, or a contact
    closed as abandoned, is a 409."""
    return await run_in_threadpool(
        desk.first_response, conversation_id, body, principal.actor, client_ip(request)
    )


@router.post(
    "/contacts/{conversation_id}/close",
    tags=["support"],
    summary="End a contact: {outcome: resolved|escalated|follow_up|abandoned, topic, closed_at?}",
    response_model=ContactChange,
    responses=problems(409),
)
async def close_contact(
    principal: ContactWriter,
    conversation_id: str,
    body: Annotated[ContactClose, json_body(ContactClose, "invalid close")],
    desk: Desk,
    request: Request,
) -> Any:
    """A closed contact is not reopened (another close is a 409); a contact is closed other
    than abandoned only after its first response (409)."""
    return await run_in_threadpool(
        desk.close, conversation_id, body, principal.actor, client_ip(request)
    )


@router.post(
    "/surveys",
    tags=["support"],
    status_code=201,
    summary="A customer's satisfaction survey: {conversation_id, score 1-5, comment?}",
    response_model=SurveyChange,
    responses={200: {**_REPLAYED, "model": SurveyChange}, **problems(404, 409)},
)
async def submit_survey(
    principal: SurveySender,
    body: Annotated[SurveySubmission, json_body(SurveySubmission, "invalid survey")],
    desk: Desk,
    request: Request,
) -> Response:
    """One survey per contact: the same survey again answers 200 with the record, another one
    409; an unknown ``conversation_id`` is a 404. The comment is stored with personal
    information masked."""
    survey = await run_in_threadpool(desk.survey, body, principal.actor, client_ip(request))
    return JSONResponse(survey, status_code=200 if survey["replayed"] else 201)


@router.get(
    "/metrics",
    tags=["support"],
    summary="First-contact resolution, time to first response and CSAT, overall and by channel",
    response_model=ServiceMetrics,
)
def metrics(
    desk: Desk,
    _: ContactReader,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
    jurisdiction: Annotated[
        str | None, Query(pattern="^(?:[Cc][Nn]|[Uu][Ss]|[Uu][Kk])$", description="CN, US or UK")
    ] = None,
) -> Any:
    return desk.metrics(days, jurisdiction)
