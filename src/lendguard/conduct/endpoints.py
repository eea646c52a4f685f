"""HTTP endpoints of the conduct area: contact checks and logs, preferences, rescue flags, and
the policy in force.

Scopes: ``conduct:check`` to check and read; ``conduct:write`` to log attempts and write
preferences and flags (writes of preferences and flags go to the audit trail with the change).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from lendguard.auth import audit
from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.conduct.contacts import (
    Channel,
    ContactGuard,
    ContactLog,
    ContactRefused,
    ContactRequest,
    InconvenientWindow,
    normalise_contact,
)
from lendguard.conduct.rescue_flags import Flag
from lendguard.errors import FieldError, NotFound, ValidationFailed
from lendguard.kit.bounds import Instant
from lendguard.kit.crypto import pseudonymise
from lendguard.kit.validation import validated, validation_errors
from lendguard.policies import NoPolicyInForce, PolicyError
from lendguard.web.body import read_json
from lendguard.web.responses import PROBLEM_JSON, JSONResponse

router = APIRouter(prefix="/v1/conduct")

ConductChecker = Annotated[Principal, Depends(require(Scope.conduct_check))]
ConductWriter = Annotated[Principal, Depends(require(Scope.conduct_write))]


def _guard(request: Request) -> ContactGuard:
    return request.app.state.services.conduct


# -- contacts ------------------------------------------------------------------------------------


@router.post(
    "/contacts/check",
    tags=["conduct"],
    summary="May this collection or marketing contact go out now? (R13, R16-R19, R23-R24, R33)",
)
async def check_contact(request: Request, principal: ConductChecker) -> Any:
    body = validated(ContactRequest, await read_json(request), "invalid contact check")
    return await run_in_threadpool(_check_contact, request, principal, body)


def _check_contact(request: Request, principal: Principal, body: ContactRequest) -> Any:
    answer = _guard(request).check(body).as_dict()
    if answer["codes"] and body.purpose == "marketing":
        # A marketing contact refused is a decision about the customer's personal data
        # (consent, distress): it goes on the customer's audit trail.
        audit.record_now(
            _guard(request).db,
            principal.actor,
            "conduct.marketing_refused",
            f"customer:{body.debtor_id}",
            client_ip(request),
            {"channel": body.channel, "codes": [c["code"] for c in answer["codes"]]},
        )
    return answer


@router.post(
    "/contacts",
    tags=["conduct"],
    status_code=201,
    summary="Log a contact attempt and its result; 409 with the codes if it breaks a rule",
    response_model=None,
)
async def log_contact(request: Request, principal: ConductWriter) -> Any:
    body = validated(ContactLog, await read_json(request), "invalid contact log")
    try:
        logged = await run_in_threadpool(_guard(request).log, body, principal.actor)
    except ContactRefused as exc:
        refused = exc.result.as_dict()
        problem = {
            "type": "about:blank",
            "title": exc.title,
            "status": 409,
            "detail": exc.detail,
            "errors": [],
            "instance": request.url.path,
            **refused,
        }
        return Response(orjson.dumps(problem), status_code=409, media_type=PROBLEM_JSON)
    # A replay of an attempt_id already logged answers 200 with the first record.
    return JSONResponse(logged, status_code=200 if logged["replayed"] else 201)


@router.get("/contacts", tags=["conduct"], summary="A debtor's logged attempts, newest first")
def list_contacts(
    request: Request,
    _: ConductChecker,
    debtor_id: Annotated[str, Query(min_length=1, max_length=128)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    return {"attempts": _guard(request).attempts(debtor_id, limit)}


# -- preferences ---------------------------------------------------------------------------------


class MarketingChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["marketing"]
    customer_id: str = Field(min_length=1, max_length=128)
    channel: Literal["call", "sms", "visit", "push", "email", "*"] = Field(
        default="*", description="a channel, or * for all"
    )
    opted_out: bool
    at: Instant | None = None
    source: str = Field(default="api", min_length=1, max_length=64)


class ThirdPartyChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["third_party_opt_out"]
    debtor_id: str = Field(min_length=1, max_length=128)
    third_party_id: str | None = Field(default=None, min_length=1, max_length=128)
    contact: str | None = Field(default=None, min_length=1, max_length=512)
    channel: Channel = Field(default="call", description="how to normalise the contact")
    jurisdiction: str = Field(default="CN", min_length=2, max_length=8)
    at: Instant | None = None
    source: str = Field(default="api", min_length=1, max_length=64)


class InconvenientChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["inconvenient_times"]
    debtor_id: str = Field(min_length=1, max_length=128)
    windows: list[InconvenientWindow] = Field(max_length=32, description="replaces the set")
    source: str = Field(default="api", min_length=1, max_length=64)


Preference = Annotated[
    MarketingChoice | ThirdPartyChoice | InconvenientChoice, Field(discriminator="kind")
]
_preference = TypeAdapter(Preference)


@router.post(
    "/preferences",
    tags=["conduct"],
    status_code=201,
    summary="Record a marketing choice, a third-party opt-out, or inconvenient times",
)
async def set_preference(request: Request, principal: ConductWriter) -> Any:
    raw = await read_json(request)
    try:
        body = _preference.validate_python(raw)
    except ValidationError as exc:
        # A missing or unknown ``kind`` fails the union itself (no location): name the field.
        errors = [
            FieldError("kind", e.message) if e.field == "body" else e
            for e in validation_errors(exc)
        ]
        raise ValidationFailed("invalid preference", errors=errors) from None
    return await run_in_threadpool(_set_preference, request, principal, body)


def _set_preference(
    request: Request,
    principal: Principal,
    body: MarketingChoice | ThirdPartyChoice | InconvenientChoice,
) -> Any:
    guard = _guard(request)
    ip = client_ip(request)
    with guard.db.begin() as conn:
        if isinstance(body, MarketingChoice):
            pk = guard.preferences.set_marketing(
                body.customer_id,
                body.channel,
                body.opted_out,
                body.source,
                principal.actor,
                body.at,
                conn=conn,
            )
            detail: dict[str, Any] = {"channel": body.channel, "opted_out": body.opted_out}
            audit.record(conn, principal.actor, "conduct.marketing", body.customer_id, ip, detail)
            return {"id": pk, "kind": body.kind, **detail}
        if isinstance(body, ThirdPartyChoice):
            if body.third_party_id is None and body.contact is None:
                raise ValidationFailed(
                    "invalid preference",
                    errors=[FieldError("third_party_id", "a third-party id or contact needed")],
                )
            contact_hash = None
            if body.contact is not None:
                country = _country_code(guard, body.jurisdiction, body.at)
                contact_hash = pseudonymise(
                    normalise_contact(body.channel, body.contact, country), guard.pii_key
                )
            pk = guard.preferences.add_third_party_opt_out(
                body.debtor_id,
                body.third_party_id,
                contact_hash,
                body.source,
                principal.actor,
                body.at,
                conn=conn,
            )
            detail = {"third_party_id": body.third_party_id, "contact_hash": contact_hash}
            audit.record(
                conn, principal.actor, "conduct.third_party_opt_out", body.debtor_id, ip, detail
            )
            return {"id": pk, "kind": body.kind, **detail}
        stored = guard.set_inconvenient_times(body.debtor_id, body.windows, conn=conn)
        audit.record(
            conn,
            principal.actor,
            "conduct.inconvenient_times",
            body.debtor_id,
            ip,
            {"windows": stored, "source": body.source},
        )
        return {"kind": body.kind, "debtor_id": body.debtor_id, "windows": stored}


def _country_code(guard: ContactGuard, jurisdiction: str, at: datetime | None) -> str:
    try:
        policy = guard.policy(jurisdiction.upper(), (at or datetime.now(UTC)).date())
    except PolicyError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("jurisdiction", str(exc))]) from None
    found = policy.get("phone_country_code")
    return str(found.value) if found else ""


@router.get("/preferences", tags=["conduct"], summary="A customer's recorded preferences")
def get_preferences(
    request: Request,
    _: ConductChecker,
    customer_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> Any:
    guard = _guard(request)
    return {
        "customer_id": customer_id,
        **guard.preferences.for_customer(customer_id),
        "inconvenient_times": guard.inconvenient_times(customer_id),
    }


# -- rescue flags --------------------------------------------------------------------------------


class FlagBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128)
    flag: Flag
    reason: str = Field(min_length=1, max_length=2000)
    source: str = Field(default="api", min_length=1, max_length=64)
    since: Instant | None = None
    until: Instant | None = None


@router.post(
    "/flags",
    tags=["conduct"],
    status_code=201,
    summary="Suppress marketing to, or pause collection from, a customer (R33)",
)
async def set_flag(request: Request, principal: ConductWriter) -> Any:
    body = validated(FlagBody, await read_json(request), "invalid flag")
    if body.until is not None and body.until <= (body.since or datetime.now(UTC)):
        raise ValidationFailed("invalid flag", errors=[FieldError("until", "must be after since")])
    return await run_in_threadpool(_set_flag, request, principal, body)


def _set_flag(request: Request, principal: Principal, body: FlagBody) -> Any:
    guard = _guard(request)
    with guard.db.begin() as conn:
        pk = guard.flags.set_flag(
            body.customer_id,
            body.flag,
            body.reason,
            body.source,
            principal.actor,
            body.since,
            body.until,
            conn=conn,
        )
        audit.record(
            conn,
            principal.actor,
            "conduct.flag_set",
            body.customer_id,
            client_ip(request),
            {"flag": body.flag.value, "reason": body.reason, "source": body.source},
        )
    return {"id": pk, "customer_id": body.customer_id, "flag": body.flag.value}


@router.delete(
    "/flags/{customer_id}/{flag}",
    tags=["conduct"],
    summary="End a customer's open flag now (history is kept)",
)
def clear_flag(customer_id: str, flag: Flag, request: Request, principal: ConductWriter) -> Any:
    guard = _guard(request)
    with guard.db.begin() as conn:
        cleared = guard.flags.clear_flag(customer_id, flag, conn=conn)
        if cleared == 0:
            raise NotFound(f"customer '{customer_id}' has no open {flag.value} flag")
        audit.record(
            conn,
            principal.actor,
            "conduct.flag_cleared",
            customer_id,
            client_ip(request),
            {"flag": flag.value, "cleared": cleared},
        )
    return {"customer_id": customer_id, "flag": flag.value, "cleared": cleared}


@router.get("/flags", tags=["conduct"], summary="A customer's rescue flags, newest first")
def get_flags(
    request: Request,
    _: ConductChecker,
    customer_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> Any:
    return {"customer_id": customer_id, "flags": _guard(request).flags.flags(customer_id)}


# -- policy --------------------------------------------------------------------------------------


@router.get(
    "/policies/{jurisdiction}",
    tags=["conduct"],
    summary="The conduct policy in force on a date, with the source of every value",
)
def get_policy(
    jurisdiction: str,
    request: Request,
    _: ConductChecker,
    on: date | None = None,
) -> Any:
    on_date = on or datetime.now(UTC).date()
    try:
        policy = _guard(request).policy(jurisdiction.upper(), on_date)
    except NoPolicyInForce as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("on", str(exc))]) from None
    except PolicyError as exc:
        raise NotFound(str(exc)) from None
    return policy.as_dict()
