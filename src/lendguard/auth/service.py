"""API keys: high-entropy secrets shown once, stored as SHA-256 hashes, with scopes."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine

from lendguard.decisions.repository import decision_repository as repo
from lendguard.errors import FieldError, ValidationFailed
from lendguard.kit.ids import new_id


class Scope(StrEnum):
    """Add members, never remove them. ``admin`` implies every scope."""

    events_write = "events:write"
    decisions_read = "decisions:read"
    rules_write = "rules:write"
    rules_approve = "rules:approve"
    labels_write = "labels:write"
    admin = "admin"
    cases_read = "cases:read"
    cases_write = "cases:write"
    lists_write = "lists:write"
    audit_read = "audit:read"
    lending_check = "lending:check"
    lending_write = "lending:write"
    privacy_consent = "privacy:consent"
    privacy_requests = "privacy:requests"
    # Purpose bindings (R34): a key used by a marketing or credit-scoring module carries one,
    # and may then never read data collected for anti-fraud.
    purpose_marketing = "purpose:marketing"
    purpose_credit = "purpose:credit"
    conduct_check = "conduct:check"
    conduct_write = "conduct:write"
    privacy_mask = "privacy:mask"
    complaints_write = "complaints:write"
    complaints_read = "complaints:read"
    # The lender's survey system: posts customers' satisfaction surveys, nothing else.
    support_surveys = "support:surveys"


class Role(StrEnum):
    """Console roles. Each maps to the scopes it needs for its daily work, nothing more."""

    analyst = "analyst"
    approver = "approver"
    officer = "officer"
    admin = "admin"


ROLE_SCOPES: dict[Role, frozenset[str]] = {
    # works the queue: reads decisions and cases, acts on cases, lists and snoozes, labels
    Role.analyst: frozenset(
        {
            Scope.decisions_read,
            Scope.cases_read,
            Scope.cases_write,
            Scope.lists_write,
            Scope.labels_write,
            Scope.lending_check,
            Scope.lending_write,
            Scope.complaints_read,
            Scope.complaints_write,
        }
    ),
    # the checker: reviews and approves rule-set and model versions, reads cases
    Role.approver: frozenset(
        {Scope.decisions_read, Scope.cases_read, Scope.rules_write, Scope.rules_approve}
    ),
    # compliance officer: reads everything incl. the audit trail; works privacy requests
    Role.officer: frozenset(
        {
            Scope.decisions_read,
            Scope.cases_read,
            Scope.audit_read,
            Scope.lending_check,
            Scope.privacy_requests,
            Scope.complaints_read,
        }
    ),
    Role.admin: frozenset({Scope.admin}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key or a console user, with the scopes they hold.

    ``actor`` is the identity written to every record (rule-set authors, approvals, case
    timelines, the audit trail); maker–checker compares actors, so a key and a user never
    collide and two keys with the same name stay apart.
    """

    key_id: str
    name: str
    scopes: frozenset[str]
    kind: str = "key"  # key | user
    role: str | None = None

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes or Scope.admin.value in self.scopes

    @property
    def actor(self) -> str:
        if self.kind == "user":
            return f"user:{self.name}"
        return f"key:{self.name}:{self.key_id}"


def hash_key(secret: str) -> str:
    # SHA-256 is the right tool here: the secret has 256 bits of entropy, so a slow
    # password hash would only add latency to every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str | list[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else text
    scopes = [s.strip() for s in items if s.strip()]
    valid = {s.value for s in Scope}
    bad = [s for s in scopes if s not in valid]
    if bad or not scopes:
        raise ValidationFailed(
            "unknown scope",
            errors=[FieldError("scopes", f"unknown {bad}; valid: {sorted(valid)}")],
        )
    return scopes


class ApiKeyService:
    def __init__(self, engine: Engine) -> None:
        self.db = engine
        self._cache: dict[str, Principal | None] = {}
        self._lock = threading.Lock()

    def create(self, name: str, scopes: list[str], secret: str | None = None) -> str:
        """Create a key and return the secret (the only time it is visible)."""
        scopes = parse_scopes(scopes)
        secret = secret or "lg_" + secrets.token_urlsafe(32)
        with self.db.begin() as conn:
            repo.insert_api_key(
                conn,
                {
                    "id": new_id("key"),
                    "name": name,
                    "key_hash": hash_key(secret),
                    "scopes": scopes,
                    "created_at": datetime.now(UTC),
                    "revoked": False,
                },
            )
        return secret

    def ensure(self, name: str, scopes: list[str], secret: str) -> None:
        """Create a key with a known secret unless it exists (bootstrap, demo)."""
        if self.authenticate(secret) is None:
            self.create(name, scopes, secret)
            self._cache.pop(hash_key(secret), None)

    def authenticate(self, secret: str) -> Principal | None:
        digest = hash_key(secret)
        if digest in self._cache:
            return self._cache[digest]
        with self.db.connect() as conn:
            row = repo.find_api_key(conn, digest)
        principal = None
        if row is not None and not row["revoked"]:
            principal = Principal(row["id"], row["name"], frozenset(row["scopes"]))
        if principal is not None:
            with self._lock:
                self._cache[digest] = principal
        return principal
