"""FastAPI dependencies: ``Authorization: Bearer KEY`` and a scope per endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from lendguard.auth.service import Principal, Scope
from lendguard.errors import Forbidden, Unauthorized


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise Unauthorized("missing or malformed 'Authorization: Bearer <key>' header")
        principal = request.app.state.services.api_keys.authenticate(secret.strip())
        if principal is None:
            raise Unauthorized("the API key is not valid")
        if not principal.has(scope):
            raise Forbidden(f"the API key lacks the '{scope.value}' scope")
        return principal

    return dependency
