"""HTTP endpoints of complaints: intake, the queue with clocks, transitions, assignment,
extensions and the clock-compliance report."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.params import Offset
from lendguard.support.complaints import ComplaintService, ComplaintState, approver_level_of
from lendguard.support.schemas import (
    ClockReport,
    Complaint,
    ComplaintAssignment,
    ComplaintCreate,
    ComplaintExtension,
    ComplaintQueue,
    ComplaintTaxonomy,
    ComplaintTransition,
)
from lendguard.web.body import json_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1/complaints")

ComplaintReader = Annotated[Principal, Depends(require(Scope.complaints_read))]
ComplaintWriter = Annotated[Principal, Depends(require(Scope.complaints_write))]

_lock = threading.Lock()


def complaint_service(app: Any) -> ComplaintService:
    """The app's complaint service, built on first use over the support area's database (the
    service desk's engine; the model folder is read then: ``$LENDGUARD_COMPLAINT_MODEL_DIR`` or
    ``var/models/complaints``)."""
    found: ComplaintService | None = getattr(app.state, "complaints", None)
    if found is None:
        with _lock:
            found = getattr(app.state, "complaints", None)
            if found is None:
                found = ComplaintService(app.state.services.service_desk.db)
                app.state.complaints = found
    return found


def complaints(request: Request) -> ComplaintService:
    return complaint_service(request.app)


Complaints = Annotated[ComplaintService, Depends(complaints)]


@router.post(
    "",
    tags=["complaints"],
    status_code=201,
    summary="Take in a complaint",
    response_model=Complaint,
)
async def create_complaint(
    principal: ComplaintWriter,
    body: Annotated[ComplaintCreate, json_body(ComplaintCreate, "invalid complaint")],
    service: Complaints,
    request: Request,
) -> Any:
    """Body: ``customer_id``, ``channel``, ``narrative``, optional ``product`` (a taxonomy id;
    classified from the narrative when absent), ``jurisdiction`` (CN, US, UK), ``received_at``,
    ``staff_involved`` (staff the complaint is about: they may not handle it), ``external_ref``.
    The narrative is stored with personal information masked."""
    return await run_in_threadpool(service.create, body, principal.actor, client_ip(request))


@router.get(
    "",
    tags=["complaints"],
    summary="The complaint queue: undecided first, overdue at the top, with each clock",
    response_model=ComplaintQueue,
)
def list_complaints(
    service: Complaints,
    _: ComplaintReader,
    state: Annotated[list[ComplaintState] | None, Query(max_length=7)] = None,
    jurisdiction: Annotated[
        str | None, Query(pattern="^(?:[Cc][Nn]|[Uu][Ss]|[Uu][Kk])$", description="CN, US or UK")
    ] = None,
    assignee: Annotated[str | None, Query(max_length=160)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Any:
    states = [s.value for s in state] if state is not None else None
    return service.queue(states, jurisdiction, assignee, limit, offset)


@router.get(
    "/clock-report",
    tags=["complaints"],
    summary="Clock compliance per jurisdiction (on time, late, overdue, extended, escalated)",
    response_model=ClockReport,
)
def clock_report(service: Complaints, _: ComplaintReader, since: datetime | None = None) -> Any:
    if since is not None and since.tzinfo is None:
        raise ValidationFailed(
            "since needs a time zone", errors=[FieldError("since", "needs a UTC offset")]
        )
    return service.clock_report(since)


@router.get(
    "/taxonomy",
    tags=["complaints"],
    summary="Products, issues and root causes",
    response_model=ComplaintTaxonomy,
)
def taxonomy(service: Complaints, _: ComplaintReader) -> Any:
    return {**service.taxonomy.as_dict(), "classifier": service.classifier.source}


@router.get(
    "/{complaint_id}",
    tags=["complaints"],
    summary="One complaint with its clock, early warning, timeline and extensions",
    response_model=Complaint,
)
def get_complaint(complaint_id: str, service: Complaints, _: ComplaintReader) -> Any:
    return service.get(complaint_id)


@router.post(
    "/{complaint_id}/transition",
    tags=["complaints"],
    summary="Move a complaint: {to, note, revision, response_summary, root_cause_tags, ...}",
    response_model=Complaint,
    responses=problems(409),
)
async def transition(
    principal: ComplaintWriter,
    complaint_id: str,
    body: Annotated[ComplaintTransition, json_body(ComplaintTransition, "invalid transition")],
    service: Complaints,
    request: Request,
) -> Any:
    """A 409 when the complaint's state does not allow the move (the problem names the allowed
    ones), when ``revision`` is not the current one, or when the caller is a staff member the
    complaint is about."""
    return await run_in_threadpool(
        lambda: service.transition(
            complaint_id,
            body,
            principal.actor,
            client_ip(request),
            approver_level=approver_level_of(principal),
        )
    )


@router.post(
    "/{complaint_id}/assign",
    tags=["complaints"],
    summary="Assign a handler (refused for a staff member the complaint is about)",
    response_model=Complaint,
    responses=problems(409),
)
async def assign(
    principal: ComplaintWriter,
    complaint_id: str,
    body: Annotated[ComplaintAssignment, json_body(ComplaintAssignment, "invalid assignment")],
    service: Complaints,
    request: Request,
) -> Any:
    """A 409 for a closed complaint or an assignee the complaint is about (R10)."""
    return await run_in_threadpool(
        service.assign, complaint_id, body.assignee, principal.actor, client_ip(request)
    )


@router.post(
    "/{complaint_id}/extend",
    tags=["complaints"],
    summary="Extend the deadline: {reason, complainant_notified, to_day?}; the approval level "
    "is the caller's (admin or approver role = senior)",
    response_model=Complaint,
    responses=problems(409),
)
async def extend(
    principal: ComplaintWriter,
    complaint_id: str,
    body: Annotated[ComplaintExtension, json_body(ComplaintExtension, "invalid transition")],
    service: Complaints,
    request: Request,
) -> Any:
    """An extension past day 30 (CN) needs a senior caller: the level is read from the
    principal (:func:`approver_level_of`), and the caller is recorded as the approver.
    ``approver_level`` and ``approved_by`` in the body are still accepted and kept as the
    body's claim on the timeline; they grant nothing. A 409 when the extension is not allowed
    (too many, too late, a level the caller lacks) or the state allows none."""
    raw = body.model_dump(exclude_unset=True)
    return await run_in_threadpool(
        lambda: service.extend(
            complaint_id,
            raw,
            principal.actor,
            client_ip(request),
            approver_level=approver_level_of(principal),
        )
    )
