"""Who is calling, and may they: ``Authorization: Bearer KEY`` or a console session cookie,
and a scope per endpoint."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from lendguard.auth.service import NOT_CACHED, Principal, Scope
from lendguard.errors import FieldError, Forbidden, Unauthorized
from lendguard.web.openapi import SCOPE_ATTRIBUTE

SESSION_COOKIE = "lg_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authorize(request: Request, scope: Scope) -> Principal:
    """The principal behind the request if it holds ``scope``; else 401/403.

    An API key in ``Authorization: Bearer`` wins. Without one, a console session cookie is
    accepted; a state-changing request on a cookie must also carry the session's CSRF token
    in ``X-CSRF-Token`` (the console's forms check their own hidden field). Used through
    :func:`authorize_async` (the per-event endpoint calls it directly, cheaper than FastAPI's
    dependency solving) and :func:`require`. A request on an API key over its rate limit
    (:mod:`lendguard.auth.ratelimit`) is refused with 429 and ``Retry-After``.
    """
    header = request.headers.get("authorization")
    if header is None:
        return _granted(request, _session_principal(request), scope)
    services = request.app.state.services
    principal = services.api_keys.authenticate(_bearer_secret(header))
    return _granted(request, _key_principal(services, principal), scope)


def _bearer_secret(header: str) -> str:
    kind, _, secret = header.partition(" ")
    secret = secret.strip()
    if kind.lower() != "bearer" or not secret:
        raise Unauthorized("missing or malformed 'Authorization: Bearer <key>' header")
    return secret


def _key_principal(services: Any, principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("the API key is not valid")
    # Per key, before the scope check: every authenticated request counts.
    services.limits.check_api_key(principal.key_id)
    return principal


def _granted(request: Request, principal: Principal, scope: Scope) -> Principal:
    if not principal.has(scope):
        what = "API key" if principal.kind == "key" else f"role '{principal.role}'"
        raise Forbidden(f"the {what} lacks the '{scope.value}' scope")
    request.state.principal = principal
    return principal


async def authorize_async(request: Request, scope: Scope) -> Principal:
    """:func:`authorize` for the event loop: a database read (a console session, or an API
    key its cache does not hold: at most once per key every half second) happens on a worker
    thread. An API key the cache holds is answered on the loop, its header read once."""
    header = request.headers.get("authorization")
    if header is None:
        if request.cookies.get(SESSION_COOKIE):
            return await run_in_threadpool(authorize, request, scope)
        return authorize(request, scope)  # the 401, at once
    services = request.app.state.services
    secret = _bearer_secret(header)
    principal = services.api_keys.cached_principal(secret)
    if principal is NOT_CACHED:
        principal = await run_in_threadpool(services.api_keys.authenticate, secret)
    return _granted(request, _key_principal(services, principal), scope)


def _session_principal(request: Request) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("missing 'Authorization: Bearer <key>' header or console session")
    info = request.app.state.services.users.session(token)
    if info is None:
        raise Unauthorized("the console session has expired; sign in again")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), info.csrf_token.encode()):
            raise Forbidden("missing or wrong CSRF token (header X-CSRF-Token)")
    return info.principal


PURPOSE_HEADER = "x-lendguard-purpose"
# Purposes that may never read what was collected for anti-fraud (R34; Anti-Telecom and Online
# Fraud Law Art. 18).
NOT_ANTI_FRAUD = {"marketing": Scope.purpose_marketing, "credit": Scope.purpose_credit}


class PurposeViolation(Forbidden):
    title = "Purpose violation"


def restricted_purpose(request: Request, principal: Principal) -> str | None:
    """The purpose that may not read anti-fraud data which this principal is bound to (its
    key's own ``purpose:*`` scope) or which the request declares (``X-LendGuard-Purpose``);
    ``None`` when neither applies. The binding wins over the header, so a module cannot read
    past it by leaving the header out or declaring another purpose.

    For the endpoints that must answer such a caller anyway (the data subject's access export)
    and leave the anti-fraud parts out instead of refusing."""
    bound = [p for p, scope in NOT_ANTI_FRAUD.items() if scope.value in principal.scopes]
    if bound:
        return bound[0]
    declared = request.headers.get(PURPOSE_HEADER, "").strip().lower()
    return declared if declared in NOT_ANTI_FRAUD else None


def check_purpose(request: Request, principal: Principal, data_purpose: str) -> None:
    """Refuse (and audit) a read of ``data_purpose`` data by a principal bound to, or a request
    declaring, a purpose that may not use it. The binding is the key's own scope, so a module
    cannot read past it by leaving the header out."""
    purpose = restricted_purpose(request, principal)
    if data_purpose != "anti_fraud" or purpose is None:
        return
    offending = [purpose]
    from lendguard.auth import audit

    audit.record_now(
        request.app.state.services.decisions.db,
        principal.actor,
        "privacy.purpose_violation",
        request.url.path,
        client_ip(request),
        {"code": "PURPOSE_VIOLATION", "data_purpose": data_purpose, "purpose": offending[0]},
    )
    raise PurposeViolation(
        f"PURPOSE_VIOLATION: data collected for anti-fraud may not be read for "
        f"{offending[0]} (R34)",
        errors=[FieldError("purpose", f"{offending[0]} may not read anti-fraud data")],
    )


def require_for(scope: Scope, data_purpose: str) -> Callable[[Request], Awaitable[Principal]]:
    """:func:`require`, plus the purpose check for data collected for ``data_purpose``."""

    async def dependency(request: Request) -> Principal:
        principal = await authorize_async(request, scope)
        if data_purpose == "anti_fraud" and restricted_purpose(request, principal) is not None:
            # A refusal writes to the audit trail: on a worker thread.
            await run_in_threadpool(check_purpose, request, principal, data_purpose)
        return principal

    setattr(dependency, SCOPE_ATTRIBUTE, scope.value)
    return dependency


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency for :func:`authorize` (:func:`authorize_async`: a database read
    runs on a worker thread, never on the event loop)."""

    async def dependency(request: Request) -> Principal:
        return await authorize_async(request, scope)

    setattr(dependency, SCOPE_ATTRIBUTE, scope.value)
    return dependency
