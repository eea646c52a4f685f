"""HTTP endpoints of the cases area: the queue, case work, lists and snoozes, the audit trail,
console users, and the model-monitoring checks that open cases.

Bodies are typed (:func:`~lendguard.web.body.json_body`: read with the size limit on the event
loop, validated before the route runs) and every route is a plain ``def``: FastAPI runs it on a
worker thread, so the database work and the argon2 hash stay off the loop. Services come in
through the providers below, never from ``request.app.state`` inside a route."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from lendguard.auth import audit
from lendguard.auth.dependencies import client_ip, require, require_for
from lendguard.auth.schemas import AuditPage, UserCreate, UserCreated, UserList
from lendguard.auth.service import Principal, Scope
from lendguard.auth.users import UserService
from lendguard.cases.flow import CaseState
from lendguard.cases.schemas import (
    AssignBody,
    CaseDetail,
    CasePage,
    CreatedListRow,
    ListEntryBody,
    ListsAndSnoozes,
    NextCase,
    NoteBody,
    OutreachBody,
    StabilityCheck,
    StabilityReport,
    SuppressionBody,
    SweepResult,
    TransitionBody,
)
from lendguard.cases.service import CaseService
from lendguard.config import Settings
from lendguard.decisions.service import DecisionService
from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.params import Offset, OptionalRowQuery, RowNumber
from lendguard.web.body import json_body
from lendguard.web.openapi import problem_response, problems

router = APIRouter(prefix="/v1")

# A case carries the decisions, their reasons, the held money and what was done about it: all
# anti-fraud data (R34), so every case endpoint (and the lists, read with cases:read) refuses a
# marketing or credit purpose exactly as the decision endpoints do: 403 PURPOSE_VIOLATION,
# audited.
CaseReader = Annotated[Principal, Depends(require_for(Scope.cases_read, "anti_fraud"))]
CaseWorker = Annotated[Principal, Depends(require_for(Scope.cases_write, "anti_fraud"))]
ListWriter = Annotated[Principal, Depends(require(Scope.lists_write))]
AuditReader = Annotated[Principal, Depends(require(Scope.audit_read))]
Admin = Annotated[Principal, Depends(require(Scope.admin))]
ModelsReader = Annotated[Principal, Depends(require(Scope.rules_write))]
ModelsApprover = Annotated[Principal, Depends(require(Scope.rules_approve))]


# -- services --------------------------------------------------------------------------------------


def case_service(request: Request) -> CaseService:
    return request.app.state.services.cases


def decision_service(request: Request) -> DecisionService:
    """The lists and snoozes and the model registry live in the decision service."""
    return request.app.state.services.decisions


def user_service(request: Request) -> UserService:
    return request.app.state.services.users


def settings(request: Request) -> Settings:
    return request.app.state.services.settings


Cases = Annotated[CaseService, Depends(case_service)]
Decisions = Annotated[DecisionService, Depends(decision_service)]
Users = Annotated[UserService, Depends(user_service)]
Config = Annotated[Settings, Depends(settings)]

# A case that changed under the request (another analyst, or a stale ``revision``), or a move
# the state machine does not allow from the current state.
CONFLICT = problems(409)


# -- the queue and case work -----------------------------------------------------------------------


@router.get(
    "/cases",
    tags=["cases"],
    summary="Open cases, riskiest and longest waiting first",
    response_model=CasePage,
)
def list_cases(
    cases: Cases,
    _: CaseReader,
    state: Annotated[
        list[CaseState] | None, Query(description="the states to list (default: every open one)")
    ] = None,
    assignee: Annotated[str | None, Query(max_length=160)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> object:
    states = [s.value for s in state] if state else None
    return cases.queue(limit, offset, states, assignee)


@router.post(
    "/cases/next",
    tags=["cases"],
    summary="Take the next case: assigns the riskiest waiting new case to the caller",
    response_model=NextCase,
    response_model_exclude_unset=True,
    responses=CONFLICT,
)
def next_case(request: Request, cases: Cases, principal: CaseWorker) -> object:
    return {"case": cases.next_case(principal.actor, client_ip(request))}


@router.post(
    "/cases/sweep",
    tags=["cases"],
    summary="File interventions that have no case yet; release holds whose deadline passed",
    response_model=SweepResult,
)
def sweep(request: Request, cases: Cases, principal: Admin) -> object:
    ip = client_ip(request)
    filed = cases.sweep(actor=principal.actor, ip=ip)
    released = cases.release_due_holds(actor=principal.actor, ip=ip)
    return {"filed": filed, "released": len(released)}


@router.get(
    "/cases/{case_id}",
    tags=["cases"],
    summary="One case: its decisions, timeline, calls, webhooks and call script",
    response_model=CaseDetail,
    response_model_exclude_unset=True,
)
def get_case(case_id: str, cases: Cases, _: CaseReader) -> object:
    return cases.get(case_id)


@router.post(
    "/cases/{case_id}/transition",
    tags=["cases"],
    summary="Move a case to a new state (resolved_legit: a note always; above the release "
    "policy amount a second person, 202 while the release is proposed)",
    response_model=CaseDetail,
    response_model_exclude_unset=True,
    responses={
        202: {
            "model": CaseDetail,
            "description": "A release above the policy amount was proposed: the case is "
            "unchanged but for its release_proposal; a different principal must send the "
            "same request to resolve it",
        },
        403: problem_response(
            403, "The caller lacks the scope, or proposed this release and cannot approve it"
        ),
        **CONFLICT,
    },
)
def transition(
    case_id: str,
    principal: CaseWorker,
    body: Annotated[TransitionBody, json_body(TransitionBody, "invalid transition")],
    request: Request,
    response: Response,
    cases: Cases,
) -> object:
    """200 with the case once it moved. ``resolved_legit`` above the release policy amount is
    maker–checker: the first request records the proposal and answers 202 Accepted with the
    case unchanged (its ``release_proposal`` filled in); the same request from a different
    principal resolves it; the proposer again gets 403."""
    target = body.to.value
    case = cases.transition(
        case_id, target, principal.actor, body.note, body.revision, client_ip(request)
    )
    if body.to == CaseState.resolved_legit and case["state"] != target:
        response.status_code = 202
    return case


@router.post(
    "/cases/{case_id}/assign",
    tags=["cases"],
    summary="Assign to an existing, active console user who can work cases; null unassigns",
    response_model=CaseDetail,
    response_model_exclude_unset=True,
    responses=CONFLICT,
)
def assign(
    case_id: str,
    principal: CaseWorker,
    body: Annotated[AssignBody, json_body(AssignBody, "invalid assignment")],
    request: Request,
    cases: Cases,
) -> object:
    return cases.assign(case_id, body.assignee, principal.actor, client_ip(request))


@router.post(
    "/cases/{case_id}/notes",
    tags=["cases"],
    summary="Add a note to the case's timeline (personal information masked)",
    response_model=CaseDetail,
    response_model_exclude_unset=True,
    responses=CONFLICT,
)
def add_note(
    case_id: str,
    principal: CaseWorker,
    body: Annotated[NoteBody, json_body(NoteBody, "invalid note")],
    request: Request,
    cases: Cases,
) -> object:
    return cases.add_note(case_id, body.text, principal.actor, client_ip(request))


@router.post(
    "/cases/{case_id}/outreach/{task_id}",
    tags=["cases"],
    summary="Record a callback's outcome (the customer confirmed the scam, insisted, unreachable)",
    response_model=CaseDetail,
    response_model_exclude_unset=True,
    responses=CONFLICT,
)
def record_outreach(
    case_id: str,
    task_id: RowNumber,
    principal: CaseWorker,
    body: Annotated[OutreachBody, json_body(OutreachBody, "invalid outreach outcome")],
    request: Request,
    cases: Cases,
) -> object:
    return cases.record_outreach(
        case_id, task_id, body.outcome, body.notes, principal.actor, client_ip(request)
    )


# -- model monitoring ------------------------------------------------------------------------------


@router.get(
    "/models/{version}/stability",
    tags=["models"],
    summary="Daily population stability of the live score against the model card's reference",
    response_model=StabilityReport,
    responses=problems(409),
)
def score_stability(
    version: RowNumber,
    decisions: Decisions,
    config: Config,
    _: ModelsReader,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    threshold: Annotated[float | None, Query(gt=0)] = None,
) -> object:
    return decisions.models.score_stability(version, days, threshold or config.psi_alert_threshold)


@router.post(
    "/models/{version}/stability/check",
    tags=["models"],
    summary="Check the live score's stability; each alert opens (or joins) a model_drift case",
    response_model=StabilityCheck,
    responses=problems(409),
)
def check_stability(
    version: RowNumber,
    request: Request,
    decisions: Decisions,
    cases: Cases,
    config: Config,
    principal: ModelsApprover,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> object:
    report = decisions.models.score_stability(version, days, config.psi_alert_threshold)
    opened = cases.raise_checked_alerts(
        f"model:{version}",
        "model_drift",
        [
            {"model_version": version, **alert, "threshold": report["threshold"]}
            for alert in report["alerts"]
        ],
        "models.stability_check",
        principal.actor,
        client_ip(request),
    )
    return {**report, "cases": opened}


# -- lists and snoozes -----------------------------------------------------------------------------


def _future(moment: datetime | None, field: str) -> datetime | None:
    """An expiry or snooze end in the past would be over before it started."""
    if moment is not None and moment <= datetime.now(UTC):
        raise ValidationFailed("must be in the future", errors=[FieldError(field, "in the past")])
    return moment


@router.get(
    "/lists",
    tags=["lists"],
    summary="Allow and deny lists, and rule snoozes",
    response_model=ListsAndSnoozes,
)
def get_lists(decisions: Decisions, _: CaseReader) -> object:
    return decisions.lists.rows()


@router.post(
    "/lists",
    tags=["lists"],
    status_code=201,
    summary="Add an allow- or deny-list entry",
    response_model=CreatedListRow,
)
def add_list_entry(
    principal: ListWriter,
    body: Annotated[ListEntryBody, json_body(ListEntryBody, "invalid list entry")],
    request: Request,
    decisions: Decisions,
) -> object:
    expires = _future(body.expires_at, "expires_at")
    entry_id = decisions.lists.add_entry(
        body.list_type,
        body.field,
        body.value,
        body.reason,
        principal.actor,
        expires,
        client_ip(request),
    )
    return {"id": entry_id}


@router.delete(
    "/lists/{entry_id}",
    tags=["lists"],
    status_code=204,
    response_class=Response,
    summary="Remove an allow- or deny-list entry",
)
def remove_list_entry(
    entry_id: RowNumber,
    request: Request,
    decisions: Decisions,
    principal: ListWriter,
) -> None:
    decisions.lists.remove_entry(entry_id, principal.actor, client_ip(request))


@router.post(
    "/suppressions",
    tags=["lists"],
    status_code=201,
    summary="Snooze rule R for customer C until T",
    response_model=CreatedListRow,
)
def add_suppression(
    principal: ListWriter,
    body: Annotated[SuppressionBody, json_body(SuppressionBody, "invalid suppression")],
    request: Request,
    decisions: Decisions,
) -> object:
    until = body.until
    _future(until, "until")
    suppression_id = decisions.lists.add_suppression(
        body.customer_id, body.rule_id, until, body.reason, principal.actor, client_ip(request)
    )
    return {"id": suppression_id}


@router.delete(
    "/suppressions/{suppression_id}",
    tags=["lists"],
    status_code=204,
    response_class=Response,
    summary="Lift a rule snooze",
)
def remove_suppression(
    suppression_id: RowNumber,
    request: Request,
    decisions: Decisions,
    principal: ListWriter,
) -> None:
    decisions.lists.remove_suppression(suppression_id, principal.actor, client_ip(request))


# -- audit and users -------------------------------------------------------------------------------


@router.get(
    "/audit",
    tags=["audit"],
    summary="Who did what, when, from where (newest first)",
    response_model=AuditPage,
)
def get_audit(
    cases: Cases,
    _: AuditReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    actor: Annotated[str | None, Query(max_length=160)] = None,
    before_id: OptionalRowQuery = None,
) -> object:
    return {"entries": audit.entries(cases.db, limit, actor, before_id)}


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    summary="Create a console user (admin)",
    response_model=UserCreated,
    responses=problems(409),
)
def create_user(
    principal: Admin,
    body: Annotated[UserCreate, json_body(UserCreate, "invalid user")],
    request: Request,
    users: Users,
) -> object:
    # The argon2 hash of the new password: tens of milliseconds of CPU, on this worker thread.
    user_id = users.create(
        body.username, body.password, body.role, body.locale, principal.actor, client_ip(request)
    )
    return {"id": user_id, "username": body.username, "role": body.role}


@router.get(
    "/users",
    tags=["users"],
    summary="Every console user with their role and lock-out state (admin)",
    response_model=UserList,
)
def list_users(users: Users, _: Admin) -> object:
    return {"users": users.list()}
