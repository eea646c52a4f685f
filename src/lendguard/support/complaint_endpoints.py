"""HTTP endpoints of complaints: intake, the queue with clocks, transitions, assignment,
extensions and the clock-compliance report."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.params import Offset
from lendguard.kit.validation import validated
from lendguard.support.complaints import ComplaintService, approver_level_of
from lendguard.web.body import read_json

router = APIRouter(prefix="/v1/complaints")

ComplaintReader = Annotated[Principal, Depends(require(Scope.complaints_read))]
ComplaintWriter = Annotated[Principal, Depends(require(Scope.complaints_write))]

_lock = threading.Lock()


def complaint_service(app: Any) -> ComplaintService:
    """The app's complaint service, built on first use over the app's database (the model
    folder is read then: ``$LENDGUARD_COMPLAINT_MODEL_DIR`` or ``var/models/complaints``)."""
    found: ComplaintService | None = getattr(app.state, "complaints", None)
    if found is None:
        with _lock:
            found = getattr(app.state, "complaints", None)
            if found is None:
                found = ComplaintService(app.state.services.decisions.db)
                app.state.complaints = found
    return found


def _service(request: Request) -> ComplaintService:
    return complaint_service(request.app)


@router.post("", tags=["complaints"], status_code=201, summary="Take in a complaint")
async def create_complaint(request: Request, principal: ComplaintWriter) -> Any:
    """Body: ``customer_id``, ``channel``, ``narrative``, optional ``product`` (a taxonomy id;
    classified from the narrative when absent), ``jurisdiction`` (CN, US, UK), ``received_at``,
    ``staff_involved`` (staff the complaint is about: they may not handle it), ``external_ref``.
    The narrative is stored with personal information masked."""
    raw = await read_json(request)
    return await run_in_threadpool(
        _service(request).create, raw, principal.actor, client_ip(request)
    )


@router.get(
    "",
    tags=["complaints"],
    summary="The complaint queue: undecided first, overdue at the top, with each clock",
)
def list_complaints(
    request: Request,
    _: ComplaintReader,
    state: Annotated[list[str] | None, Query()] = None,
    jurisdiction: str | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Any:
    return _service(request).queue(state, jurisdiction, assignee, limit, offset)


@router.get(
    "/clock-report",
    tags=["complaints"],
    summary="Clock compliance per jurisdiction (on time, late, overdue, extended, escalated)",
)
def clock_report(request: Request, _: ComplaintReader, since: datetime | None = None) -> Any:
    if since is not None and since.tzinfo is None:
        raise ValidationFailed(
            "since needs a time zone", errors=[FieldError("since", "needs a UTC offset")]
        )
    return _service(request).clock_report(since)


@router.get("/taxonomy", tags=["complaints"], summary="Products, issues and root causes")
def taxonomy(request: Request, _: ComplaintReader) -> Any:
    service = _service(request)
    return {**service.taxonomy.as_dict(), "classifier": service.classifier.source}


@router.get("/{complaint_id}", tags=["complaints"])
def get_complaint(complaint_id: str, request: Request, _: ComplaintReader) -> Any:
    return _service(request).get(complaint_id)


@router.post(
    "/{complaint_id}/transition",
    tags=["complaints"],
    summary="Move a complaint: {to, note, revision, response_summary, root_cause_tags, ...}",
)
async def transition(complaint_id: str, request: Request, principal: ComplaintWriter) -> Any:
    raw = await read_json(request)
    service = _service(request)
    return await run_in_threadpool(
        lambda: service.transition(
            complaint_id,
            raw,
            principal.actor,
            client_ip(request),
            approver_level=approver_level_of(principal),
        )
    )


class AssignBody(BaseModel):
    assignee: str | None = Field(default=None, max_length=160)


@router.post(
    "/{complaint_id}/assign",
    tags=["complaints"],
    summary="Assign a handler (refused for a staff member the complaint is about)",
)
async def assign(complaint_id: str, request: Request, principal: ComplaintWriter) -> Any:
    body = validated(AssignBody, await read_json(request), "invalid assignment")
    return await run_in_threadpool(
        _service(request).assign, complaint_id, body.assignee, principal.actor, client_ip(request)
    )


@router.post(
    "/{complaint_id}/extend",
    tags=["complaints"],
    summary="Extend the deadline: {reason, complainant_notified, to_day?}; the approval level "
    "is the caller's (admin or approver role = senior)",
)
async def extend(complaint_id: str, request: Request, principal: ComplaintWriter) -> Any:
    """An extension past day 30 (CN) needs a senior caller: the level is read from the
    principal (:func:`approver_level_of`), and the caller is recorded as the approver.
    ``approver_level`` and ``approved_by`` in the body are still accepted and kept as the
    body's claim on the timeline; they grant nothing."""
    raw = await read_json(request)
    if not isinstance(raw, dict):
        raise ValidationFailed("expected a JSON object", errors=[FieldError("body", "object")])
    service = _service(request)
    return await run_in_threadpool(
        lambda: service.extend(
            complaint_id,
            raw,
            principal.actor,
            client_ip(request),
            approver_level=approver_level_of(principal),
        )
    )
