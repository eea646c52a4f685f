"""HTTP endpoints of the conduct area: contact checks and logs, preferences, rescue flags, and
the policy in force.

Scopes: ``conduct:check`` to check and read; ``conduct:write`` to log attempts and write
preferences and flags (writes of preferences and flags go to the audit trail with the change).

Request and response models are in :mod:`lendguard.conduct.schemas` (the contact bodies are the
guard's own, :mod:`lendguard.conduct.contacts`); the contact guard comes in through its
provider, never from ``request.app.state`` inside a route. The scope is checked before the body.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from lendguard.auth import audit
from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.service import Principal, Scope
from lendguard.conduct.contacts import (
    ContactGuard,
    ContactLog,
    ContactRefused,
    ContactRequest,
    normalise_contact,
)
from lendguard.conduct.rescue_flags import Flag
from lendguard.conduct.schemas import (
    AttemptList,
    ConductPolicy,
    ContactCheck,
    ContactLogged,
    FlagBody,
    FlagCleared,
    FlagList,
    FlagSet,
    MarketingChoice,
    PreferenceChoice,
    PreferenceRecorded,
    Preferences,
    ThirdPartyChoice,
)
from lendguard.errors import FieldError, NotFound, ValidationFailed
from lendguard.kit.crypto import pseudonymise
from lendguard.kit.validation import validation_errors
from lendguard.policies import NoPolicyInForce, PolicyError
from lendguard.web.body import BODY_MODEL_ATTRIBUTE, json_body, read_json
from lendguard.web.openapi import problems
from lendguard.web.responses import PROBLEM_JSON, JSONResponse

router = APIRouter(prefix="/v1/conduct")

ConductChecker = Annotated[Principal, Depends(require(Scope.conduct_check))]
ConductWriter = Annotated[Principal, Depends(require(Scope.conduct_write))]


def contact_guard(request: Request) -> ContactGuard:
    guard: ContactGuard = request.app.state.services.conduct
    return guard


Guard = Annotated[ContactGuard, Depends(contact_guard)]


# -- contacts ------------------------------------------------------------------------------------


@router.post(
    "/contacts/check",
    tags=["conduct"],
    summary="May this collection or marketing contact go out now? (R13, R16-R19, R23-R24, R33)",
    response_model=ContactCheck,
)
def check_contact(
    principal: ConductChecker,
    body: Annotated[ContactRequest, json_body(ContactRequest, "invalid contact check")],
    request: Request,
    guard: Guard,
) -> Any:
    answer = guard.check(body).as_dict()
    if answer["codes"] and body.purpose == "marketing":
        # A marketing contact refused is a decision about the customer's personal data
        # (consent, distress): it goes on the customer's audit trail.
        audit.record_now(
            guard.db,
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
    response_model=ContactLogged,
    response_model_exclude_unset=True,
    responses={
        200: {"model": ContactLogged, "description": "A replay of an attempt_id already logged"},
        **problems(409),
    },
)
def log_contact(
    principal: ConductWriter,
    body: Annotated[ContactLog, json_body(ContactLog, "invalid contact log")],
    request: Request,
    guard: Guard,
) -> Any:
    try:
        logged = guard.log(body, principal.actor)
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


@router.get(
    "/contacts",
    tags=["conduct"],
    summary="A debtor's logged attempts, newest first",
    response_model=AttemptList,
)
def list_contacts(
    _: ConductChecker,
    guard: Guard,
    debtor_id: Annotated[str, Query(min_length=1, max_length=128)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    return {"attempts": guard.attempts(debtor_id, limit)}


# -- preferences ---------------------------------------------------------------------------------


async def _preference_body(request: Request) -> PreferenceChoice:
    """The body as one of the preference kinds (a 400, 413 or 422 problem otherwise), like
    :func:`lendguard.web.body.json_body`, except that a missing or unknown ``kind`` (which fails
    the union itself, at no location) is named as the field ``kind``."""
    raw = await read_json(request)
    try:
        return PreferenceChoice.model_validate(raw)
    except ValidationError as exc:
        errors = [
            FieldError("kind", e.message) if e.field == "body" else e
            for e in validation_errors(exc)
        ]
        raise ValidationFailed("invalid preference", errors=errors) from None


setattr(_preference_body, BODY_MODEL_ATTRIBUTE, PreferenceChoice)


@router.post(
    "/preferences",
    tags=["conduct"],
    status_code=201,
    summary="Record a marketing choice, a third-party opt-out, or inconvenient times",
    response_model=PreferenceRecorded,
)
def set_preference(
    principal: ConductWriter,
    choice: Annotated[PreferenceChoice, Depends(_preference_body)],
    request: Request,
    guard: Guard,
) -> Any:
    body = choice.root
    ip = client_ip(request)
    if isinstance(body, MarketingChoice):
        pk = guard.preferences.operator_set_marketing(
            body.customer_id,
            body.channel,
            body.opted_out,
            body.source,
            principal.actor,
            ip,
            body.at,
        )
        return {"id": pk, "kind": body.kind, "channel": body.channel, "opted_out": body.opted_out}
    if isinstance(body, ThirdPartyChoice):
        return _third_party_opt_out(guard, principal, ip, body)
    stored = guard.operator_set_inconvenient_times(
        body.debtor_id, body.windows, body.source, principal.actor, ip
    )
    return {"kind": body.kind, "debtor_id": body.debtor_id, "windows": stored}


def _third_party_opt_out(
    guard: ContactGuard, principal: Principal, ip: str | None, body: ThirdPartyChoice
) -> dict[str, Any]:
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
    pk = guard.preferences.operator_add_third_party_opt_out(
        body.debtor_id,
        body.third_party_id,
        contact_hash,
        body.source,
        principal.actor,
        ip,
        body.at,
    )
    return {
        "id": pk,
        "kind": body.kind,
        "third_party_id": body.third_party_id,
        "contact_hash": contact_hash,
    }


def _country_code(guard: ContactGuard, jurisdiction: str, at: datetime | None) -> str:
    try:
        policy = guard.policy(jurisdiction.upper(), (at or datetime.now(UTC)).date())
    except PolicyError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("jurisdiction", str(exc))]) from None
    found = policy.get("phone_country_code")
    return str(found.value) if found else ""


@router.get(
    "/preferences",
    tags=["conduct"],
    summary="A customer's recorded preferences",
    response_model=Preferences,
)
def get_preferences(
    _: ConductChecker,
    guard: Guard,
    customer_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> Any:
    return {
        "customer_id": customer_id,
        **guard.preferences.for_customer(customer_id),
        "inconvenient_times": guard.inconvenient_times(customer_id),
    }


# -- rescue flags --------------------------------------------------------------------------------


@router.post(
    "/flags",
    tags=["conduct"],
    status_code=201,
    summary="Suppress marketing to, or pause collection from, a customer (R33)",
    response_model=FlagSet,
)
def set_flag(
    principal: ConductWriter,
    body: Annotated[FlagBody, json_body(FlagBody, "invalid flag")],
    request: Request,
    guard: Guard,
) -> Any:
    if body.until is not None and body.until <= (body.since or datetime.now(UTC)):
        raise ValidationFailed("invalid flag", errors=[FieldError("until", "must be after since")])
    pk = guard.flags.operator_set_flag(
        body.customer_id,
        body.flag,
        body.reason,
        body.source,
        principal.actor,
        client_ip(request),
        body.since,
        body.until,
    )
    return {"id": pk, "customer_id": body.customer_id, "flag": body.flag.value}


@router.delete(
    "/flags/{customer_id}/{flag}",
    tags=["conduct"],
    summary="End a customer's open flag now (history is kept)",
    response_model=FlagCleared,
)
def clear_flag(
    customer_id: str, flag: Flag, request: Request, guard: Guard, principal: ConductWriter
) -> Any:
    cleared = guard.flags.operator_clear_flag(
        customer_id, flag, principal.actor, client_ip(request)
    )
    return {"customer_id": customer_id, "flag": flag.value, "cleared": cleared}


@router.get(
    "/flags",
    tags=["conduct"],
    summary="A customer's rescue flags, newest first",
    response_model=FlagList,
)
def get_flags(
    _: ConductChecker,
    guard: Guard,
    customer_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> Any:
    return {"customer_id": customer_id, "flags": guard.flags.flags(customer_id)}


# -- policy --------------------------------------------------------------------------------------


@router.get(
    "/policies/{jurisdiction}",
    tags=["conduct"],
    summary="The conduct policy in force on a date, with the source of every value",
    response_model=ConductPolicy,
)
def get_policy(
    jurisdiction: str,
    guard: Guard,
    _: ConductChecker,
    on: date | None = None,
) -> Any:
    on_date = on or datetime.now(UTC).date()
    try:
        policy = guard.policy(jurisdiction.upper(), on_date)
    except NoPolicyInForce as exc:
        # The jurisdiction has a policy, but no version of it covers that day: there is no
        # policy to answer with (a 404 naming the date), the request itself is well formed.
        raise NotFound(str(exc), errors=[FieldError("on", str(exc))]) from None
    except PolicyError as exc:
        raise NotFound(str(exc)) from None
    return policy.as_dict()
