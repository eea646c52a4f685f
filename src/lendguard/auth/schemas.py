"""The typed contract of API keys, console users and the audit trail: what the admin endpoints
accept and answer. Each response model names every key the service returns (the OpenAPI
contract is generated from these, and the contract test checks real responses against them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lendguard.auth.users import MIN_PASSWORD_LENGTH

# -- API keys --------------------------------------------------------------------------------------


class ApiKeyListing(BaseModel):
    """One API key as an administrator sees it: never its secret nor its hash."""

    id: str
    name: str
    scopes: list[str] = Field(description="the scopes it holds ('admin' holds every scope)")
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyListing] = Field(description="oldest first")


# -- console users ---------------------------------------------------------------------------------

Role = Literal["analyst", "approver", "officer", "admin"]

# What ``UserService.create`` accepts as a username: letters and digits (any script), '-', '_'
# and '.', with at least one letter or digit. Checked with Python's ``re`` (``\w`` is exactly
# ``str.isalnum()`` or '_', as the service reads it), so the schema and the service agree.
USERNAME_PATTERN = r"^[\w.-]*[^\W_][\w.-]*$"


class UserCreate(BaseModel):
    model_config = ConfigDict(regex_engine="python-re", extra="forbid")

    username: str = Field(
        min_length=1,
        max_length=64,
        pattern=USERNAME_PATTERN,
        description="letters, digits, '-', '_' or '.' (at least one letter or digit)",
    )
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)
    role: Role
    locale: Literal["zh-CN", "en"] = "zh-CN"


class UserCreated(BaseModel):
    id: str
    username: str
    role: Role


class UserListing(BaseModel):
    id: str
    username: str
    role: Role
    disabled: bool
    locked_until: datetime | None = Field(description="set while wrong passwords lock it out")
    created_at: datetime
    last_login_at: datetime | None


class UserList(BaseModel):
    users: list[UserListing] = Field(description="by username")


# -- the audit trail -------------------------------------------------------------------------------


class AuditEntryView(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="'key:ID', 'user:NAME', 'os:NAME' or 'system'")
    action: str
    target: str
    ip: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntryView] = Field(
        description="newest first; pass the last id as before_id for the next page"
    )
