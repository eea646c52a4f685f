"""Admin endpoints for API keys: list them, revoke one (scope ``admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from lendguard.auth import audit
from lendguard.auth.dependencies import client_ip, require
from lendguard.auth.schemas import ApiKeyList, ApiKeyListing
from lendguard.auth.service import ApiKeyService, Principal, Scope

router = APIRouter(prefix="/v1")

Admin = Annotated[Principal, Depends(require(Scope.admin))]


def api_key_service(request: Request) -> ApiKeyService:
    return request.app.state.services.api_keys


Keys = Annotated[ApiKeyService, Depends(api_key_service)]


@router.get(
    "/apikeys",
    tags=["apikeys"],
    summary="Every API key with its scopes and state (active, expired, revoked); no secrets",
    response_model=ApiKeyList,
)
def list_api_keys(request: Request, principal: Admin, keys: Keys) -> object:
    audit.record_read(keys.db, principal.actor, "apikeys", "apikeys", client_ip(request))
    return {"api_keys": keys.list()}


@router.post(
    "/apikeys/{key_id}/revoke",
    tags=["apikeys"],
    summary="Revoke a key for good: refused by every running process within one second",
    response_model=ApiKeyListing,
)
def revoke_api_key(key_id: str, request: Request, principal: Admin, keys: Keys) -> object:
    """Idempotent: revoking a revoked key changes (and audits) nothing and answers it as is."""
    return keys.revoke(key_id, principal.actor, client_ip(request))
