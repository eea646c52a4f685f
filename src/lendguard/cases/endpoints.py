"""HTTP endpoints of the cases area: the queue, case work, lists and snoozes, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lendguard.auth import audit
from lendguard.auth.dependencies import client_ip, require, require_for
from lendguard.auth.service import Principal, Scope
from lendguard.cases.flow import CaseState
from lendguard.cases.service import OUTREACH_OUTCOMES, CaseService
from lendguard.decisions.policy import LIST_FIELDS
from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.bounds import BoundedDatetime
from lendguard.kit.params import Offset, OptionalRowQuery, RowNumber
from lendguard.kit.validation import validated
from lendguard.web.body import read_json

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


def _cases(request: Request) -> CaseService:
    return request.app.state.services.cases


@router.get("/cases", tags=["cases"], summary="Open cases, riskiest and longest waiting first")
def list_cases(
    request: Request,
    _: CaseReader,
    state: Annotated[list[str] | None, Query()] = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Any:
    return _cases(request).queue(limit, offset, state, assignee)


@router.post(
    "/cases/next",
    tags=["cases"],
    summary="Take the next case: assigns the riskiest waiting new case to the caller",
)
def next_case(request: Request, principal: CaseWorker) -> Any:
    case = _cases(request).next_case(principal.actor, client_ip(request))
    return {"case": case}


@router.post("/cases/sweep", tags=["cases"], summary="File interventions that have no case yet")
def sweep(request: Request, principal: Admin) -> Any:
    filed = _cases(request).sweep()
    audit.record_now(
        _cases(request).db,
        principal.actor,
        "cases.sweep",
        "cases",
        client_ip(request),
        {"filed": filed},
    )
    return {"filed": filed}


@router.get("/cases/{case_id}", tags=["cases"])
def get_case(case_id: str, request: Request, _: CaseReader) -> Any:
    return _cases(request).get(case_id)


class TransitionBody(BaseModel):
    to: str = Field(min_length=1, description="target state")
    note: str = Field(default="", max_length=4000)
    revision: int | None = Field(default=None, description="refuse if the case changed since")


@router.post(
    "/cases/{case_id}/transition",
    tags=["cases"],
    summary="Move a case to a new state (resolved_legit: a note always; above the release "
    "policy amount a second person, 202 while the release is proposed)",
)
async def transition(
    case_id: str, request: Request, response: Response, principal: CaseWorker
) -> Any:
    """200 with the case once it moved. ``resolved_legit`` above the release policy amount is
    maker–checker: the first request records the proposal and answers 202 Accepted with the
    case unchanged (its ``release_proposal`` filled in); the same request from a different
    principal resolves it; the proposer again gets 403."""
    body = validated(TransitionBody, await read_json(request), "invalid transition")
    case = await run_in_threadpool(
        _cases(request).transition,
        case_id,
        body.to,
        principal.actor,
        body.note,
        body.revision,
        client_ip(request),
    )
    if body.to == CaseState.resolved_legit.value and case["state"] != body.to:
        response.status_code = 202
    return case


class AssignBody(BaseModel):
    # Required, so that ``{}`` is refused rather than read as "unassign"; null unassigns.
    assignee: str | None = Field(
        max_length=160,
        description="a console user who can work cases ('user:NAME' or 'NAME'); null unassigns",
    )


@router.post(
    "/cases/{case_id}/assign",
    tags=["cases"],
    summary="Assign to an existing, active console user who can work cases; null unassigns",
)
async def assign(case_id: str, request: Request, principal: CaseWorker) -> Any:
    body = validated(AssignBody, await read_json(request), "invalid assignment")
    return await run_in_threadpool(
        _cases(request).assign, case_id, body.assignee, principal.actor, client_ip(request)
    )


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


@router.post("/cases/{case_id}/notes", tags=["cases"])
async def add_note(case_id: str, request: Request, principal: CaseWorker) -> Any:
    body = validated(NoteBody, await read_json(request), "invalid note")
    return await run_in_threadpool(
        _cases(request).add_note, case_id, body.text, principal.actor, client_ip(request)
    )


class OutreachBody(BaseModel):
    outcome: Literal["confirmed_scam", "insisted", "unreachable"] = Field(
        description=f"one of {OUTREACH_OUTCOMES}"
    )
    notes: str = Field(default="", max_length=4000)


@router.post(
    "/cases/{case_id}/outreach/{task_id}",
    tags=["cases"],
    summary="Record a callback's outcome (the customer confirmed the scam, insisted, unreachable)",
)
async def record_outreach(
    case_id: str, task_id: RowNumber, request: Request, principal: CaseWorker
) -> Any:
    body = validated(OutreachBody, await read_json(request), "invalid outreach outcome")
    return await run_in_threadpool(
        _cases(request).record_outreach,
        case_id,
        task_id,
        body.outcome,
        body.notes,
        principal.actor,
        client_ip(request),
    )


# -- model monitoring ------------------------------------------------------------------------------

ModelsReader = Annotated[Principal, Depends(require(Scope.rules_write))]
ModelsApprover = Annotated[Principal, Depends(require(Scope.rules_approve))]


@router.get(
    "/models/{version}/stability",
    tags=["models"],
    summary="Daily population stability of the live score against the model card's reference",
)
def score_stability(
    version: RowNumber,
    request: Request,
    _: ModelsReader,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    threshold: Annotated[float | None, Query(gt=0)] = None,
) -> Any:
    services = request.app.state.services
    limit = threshold or services.settings.psi_alert_threshold
    return services.decisions.score_stability(version, days, limit)


@router.post(
    "/models/{version}/stability/check",
    tags=["models"],
    summary="Check the live score's stability; each alert opens (or joins) a model_drift case",
)
def check_stability(
    version: RowNumber,
    request: Request,
    principal: ModelsApprover,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> Any:
    services = request.app.state.services
    report = services.decisions.score_stability(
        version, days, services.settings.psi_alert_threshold
    )
    cases = sorted(
        {
            services.cases.raise_alert(
                f"model:{version}",
                "model_drift",
                {"model_version": version, **alert, "threshold": report["threshold"]},
            )
            for alert in report["alerts"]
        }
    )
    audit.record_now(
        services.decisions.db,
        principal.actor,
        "models.stability_check",
        f"model:{version}",
        client_ip(request),
        {"alerts": len(report["alerts"])},
    )
    return {**report, "cases": cases}


# -- lists and snoozes -----------------------------------------------------------------------------


class ListEntryBody(BaseModel):
    list_type: Literal["allow", "deny"]
    field: Literal["customer", "device", "payee", "ip", "card"] = Field(
        description=f"one of {LIST_FIELDS}"
    )
    value: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: BoundedDatetime | None = None


class SuppressionBody(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128)
    rule_id: str = Field(min_length=1, max_length=64)
    until: BoundedDatetime
    reason: str = Field(min_length=1, max_length=2000)


def _aware(moment: datetime | None, field: str) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValidationFailed(
            "a time zone is required", errors=[FieldError(field, "needs a UTC offset")]
        )
    if moment <= datetime.now(UTC):
        raise ValidationFailed("must be in the future", errors=[FieldError(field, "in the past")])
    return moment


@router.get("/lists", tags=["lists"], summary="Allow and deny lists, and rule snoozes")
def get_lists(request: Request, _: CaseReader) -> Any:
    return request.app.state.services.decisions.list_rows()


@router.post("/lists", tags=["lists"], status_code=201, summary="Add an allow- or deny-list entry")
async def add_list_entry(request: Request, principal: ListWriter) -> Any:
    body = validated(ListEntryBody, await read_json(request), "invalid list entry")
    expires = _aware(body.expires_at, "expires_at")
    decisions = request.app.state.services.decisions

    def add() -> Any:
        entry_id = decisions.add_list_entry(
            body.list_type, body.field, body.value, body.reason, principal.actor, expires
        )
        audit.record_now(
            decisions.db,
            principal.actor,
            "lists.add",
            f"list_entry:{entry_id}",
            client_ip(request),
            {"list_type": body.list_type, "field": body.field, "reason": body.reason},
        )
        return {"id": entry_id}

    return await run_in_threadpool(add)


@router.delete("/lists/{entry_id}", tags=["lists"], status_code=204)
def remove_list_entry(entry_id: RowNumber, request: Request, principal: ListWriter) -> None:
    decisions = request.app.state.services.decisions
    decisions.remove_list_entry(entry_id)
    audit.record_now(
        decisions.db, principal.actor, "lists.remove", f"list_entry:{entry_id}", client_ip(request)
    )


@router.post(
    "/suppressions",
    tags=["lists"],
    status_code=201,
    summary="Snooze rule R for customer C until T",
)
async def add_suppression(request: Request, principal: ListWriter) -> Any:
    body = validated(SuppressionBody, await read_json(request), "invalid suppression")
    until = _aware(body.until, "until")
    assert until is not None
    decisions = request.app.state.services.decisions

    def add() -> Any:
        assert until is not None
        suppression_id = decisions.add_suppression(
            body.customer_id, body.rule_id, until, body.reason, principal.actor
        )
        audit.record_now(
            decisions.db,
            principal.actor,
            "suppressions.add",
            f"suppression:{suppression_id}",
            client_ip(request),
            {"rule_id": body.rule_id, "until": until.isoformat(), "reason": body.reason},
        )
        return {"id": suppression_id}

    return await run_in_threadpool(add)


@router.delete("/suppressions/{suppression_id}", tags=["lists"], status_code=204)
def remove_suppression(suppression_id: RowNumber, request: Request, principal: ListWriter) -> None:
    decisions = request.app.state.services.decisions
    decisions.remove_suppression(suppression_id)
    audit.record_now(
        decisions.db,
        principal.actor,
        "suppressions.remove",
        f"suppression:{suppression_id}",
        client_ip(request),
    )


# -- audit and users -------------------------------------------------------------------------------


@router.get("/audit", tags=["audit"], summary="Who did what, when, from where (newest first)")
def get_audit(
    request: Request,
    _: AuditReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    actor: str | None = None,
    before_id: OptionalRowQuery = None,
) -> Any:
    return {
        "entries": audit.entries(request.app.state.services.decisions.db, limit, actor, before_id)
    }


class UserBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: Literal["analyst", "approver", "officer", "admin"]
    locale: Literal["zh-CN", "en"] = "zh-CN"


@router.post("/users", tags=["users"], status_code=201, summary="Create a console user (admin)")
async def create_user(request: Request, principal: Admin) -> Any:
    body = validated(UserBody, await read_json(request), "invalid user")
    services = request.app.state.services

    def create() -> Any:
        # The argon2 hash of the new password: tens of milliseconds of CPU.
        user_id = services.users.create(body.username, body.password, body.role, body.locale)
        audit.record_now(
            services.decisions.db,
            principal.actor,
            "users.create",
            f"user:{body.username}",
            client_ip(request),
            {"role": body.role},
        )
        return {"id": user_id, "username": body.username, "role": body.role}

    return await run_in_threadpool(create)


@router.get("/users", tags=["users"])
def list_users(request: Request, _: Admin) -> Any:
    return {"users": request.app.state.services.users.list()}
