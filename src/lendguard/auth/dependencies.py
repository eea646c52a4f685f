"""``Authorization: Bearer KEY`` and a scope per endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from lendguard.auth.service import Principal, Scope
from lendguard.errors import Forbidden, Unauthorized


def authorize(request: Request, scope: Scope) -> Principal:
    """The principal behind ``Authorization: Bearer KEY`` if it holds ``scope``; else 401/403.

    Called directly by the per-event endpoints (cheaper than FastAPI's dependency solving on
    the hottest path) and through :func:`require` everywhere else.
    """
    header = request.headers.get("authorization", "")
    kind, _, secret = header.partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise Unauthorized("missing or malformed 'Authorization: Bearer <key>' header")
    principal: Principal | None = request.app.state.services.api_keys.authenticate(secret.strip())
    if principal is None:
        raise Unauthorized("the API key is not valid")
    if not principal.has(scope):
        raise Forbidden(f"the API key lacks the '{scope.value}' scope")
    return principal


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency for :func:`authorize`."""

    async def dependency(request: Request) -> Principal:
        return authorize(request, scope)

    return dependency
