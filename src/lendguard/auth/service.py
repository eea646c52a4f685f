"""API keys: high-entropy secrets shown once, stored as SHA-256 hashes, with scopes, an
optional expiry, and revocation that every running process sees within :data:`CACHE_TTL_S`."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, Final

from sqlalchemy import Connection, Engine

from lendguard.auth import audit
from lendguard.auth.repository import ApiKeyRepository
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
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
    # Interventions (issue #19). The lender's app posts a customer's answers to a challenge.
    challenges_answer = "challenges:answer"
    # Money lock and kill switch: the lender's app (the customer's own request) or an agent.
    # Unlocking needs the same scope plus a stronger verification recorded with it.
    locks_write = "locks:write"
    # Trusted person: registration (with the customer's consent) and their confirmations.
    trusted_write = "trusted:write"
    # The evidence pack of interventions (disputes, reimbursement claims, the regulator).
    evidence_read = "evidence:read"
    # The alliance (issue #20). Reads the history of exchanges, the members and the list's
    # counts; never an item.
    alliance_read = "alliance:read"
    # The lender's application flow asks members whether an applicant is on their lists.
    alliance_lookup = "alliance:lookup"
    # Keeps the lender's own alliance list, runs a PSI with a member, starts an aggregation.
    alliance_write = "alliance:write"
    # The protection report (issue #21): its figures, the console page and education's reach.
    reports_read = "reports:read"
    # Consumer education: the lender's app reads the content library and its quizzes
    # (education:read) and reports delivery, opening, completion and quiz answers
    # (education:write).
    education_read = "education:read"
    education_write = "education:write"
    # The lender's app opens the borrower's privacy centre for one customer: a short-lived
    # signed link bound to that customer.
    privacy_portal = "privacy:portal"


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
            Scope.locks_write,
            Scope.evidence_read,
            # an agent reads a decision's questions out on a call and records the answers
            Scope.challenges_answer,
            Scope.alliance_read,
            Scope.education_read,
        }
    ),
    # the checker: reviews and approves rule-set and model versions, reads cases; the senior
    # who approves a complaint's extension to day 60 (so it reads and acts on complaints)
    Role.approver: frozenset(
        {
            Scope.decisions_read,
            Scope.cases_read,
            Scope.rules_write,
            Scope.rules_approve,
            Scope.complaints_read,
            Scope.complaints_write,
        }
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
            Scope.evidence_read,
            Scope.alliance_read,
            Scope.reports_read,
            Scope.education_read,
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


KEY_STATES = ("active", "expired", "revoked")

CACHE_TTL_S = 0.5
"""How long a process trusts what it read about a key. A key revoked or expired by another
process (``lendguard apikeys revoke``, ``POST /v1/apikeys/{id}/revoke``, another server) is
refused by every process at most this long after the change commits; the revoking process
refuses it at once. One indexed read per key and process every half second, never on the hot
path in between."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise ValidationFailed(
            "a time needs its UTC offset",
            errors=[FieldError(field, "give a UTC offset, e.g. 2026-12-31T00:00:00+08:00")],
        )
    return moment.astimezone(UTC)


class _NotCached(Enum):
    token = "not cached"


NOT_CACHED: Final = _NotCached.token
""":meth:`ApiKeyService.cached_principal`'s answer when only the database knows."""


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    expires_at: datetime | None
    read_at: float  # monotonic seconds


class ApiKeyService:
    """Create, list, revoke and expire keys; authenticate a secret.

    ``now`` (UTC) and ``monotonic`` are the clocks: expiry is compared with ``now`` on every
    request (so an expiry takes effect at its instant), the cache's age with ``monotonic``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        cache_ttl_s: float = CACHE_TTL_S,
        now: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = engine
        self.keys = ApiKeyRepository(engine)
        self.cache_ttl_s = cache_ttl_s
        self.now = now
        self.monotonic = monotonic
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    # -- changes -----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        scopes: list[str],
        secret: str | None = None,
        *,
        expires_at: datetime | None = None,
        actor: str | None = None,
        ip: str | None = None,
    ) -> str:
        """Create a key and return the secret (the only time it is visible). With ``actor``
        the creation lands in the audit trail, in the same transaction."""
        return self.issue(name, scopes, secret, expires_at=expires_at, actor=actor, ip=ip)[0]

    def issue(
        self,
        name: str,
        scopes: list[str],
        secret: str | None = None,
        *,
        expires_at: datetime | None = None,
        actor: str | None = None,
        ip: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """:meth:`create`, also returning the key's listing (its id, expiry…)."""
        scopes = parse_scopes(scopes)
        now = self.now()
        if expires_at is not None:
            expires_at = _aware(expires_at, "expires_at")
            if expires_at <= now:
                raise ValidationFailed(
                    "the key would be expired at birth",
                    errors=[FieldError("expires_at", f"must be after {now.isoformat()}")],
                )
        secret = secret or "lg_" + secrets.token_urlsafe(32)
        row = {
            "id": new_id("key"),
            "name": name,
            "key_hash": hash_key(secret),
            "scopes": scopes,
            "created_at": now,
            "created_by": actor,
            "revoked": False,
            "expires_at": expires_at,
        }
        with self.db.begin() as conn:
            self.keys.insert(conn, row)
            if actor is not None:
                detail = {"name": name, "scopes": scopes}
                if expires_at is not None:
                    detail["expires_at"] = expires_at.isoformat()
                audit.record(conn, actor, "apikeys.create", f"apikey:{row['id']}", ip, detail)
        return secret, self._listing(row, now)

    def ensure(self, name: str, scopes: list[str], secret: str) -> None:
        """Create a key with a known secret unless it exists (bootstrap, demo). A key that
        exists but was revoked or expired stays so: a restart does not bring it back."""
        if not self.keys.exists(hash_key(secret)):
            self.create(name, scopes, secret)

    def revoke(self, key_id: str, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Revoke a key for good (idempotent: a second revoke changes and audits nothing)."""
        now = self.now()
        with self.db.begin() as conn:
            row = self._row_for_update(conn, key_id)
            if not row["revoked"]:
                self.keys.mark_revoked(conn, key_id, now, actor)
                audit.record(conn, actor, "apikeys.revoke", f"apikey:{key_id}", ip)
                row.update(revoked=True, revoked_at=now, revoked_by=actor)
        self._forget(row["key_hash"])
        return self._listing(row, now)

    def expire(
        self, key_id: str, actor: str, at: datetime | None = None, ip: str | None = None
    ) -> dict[str, Any]:
        """Set the key's expiry to ``at`` (default: now). Never extends a key, never touches
        a revoked one."""
        now = self.now()
        at = now if at is None else _aware(at, "at")
        with self.db.begin() as conn:
            row = self._row_for_update(conn, key_id)
            if row["revoked"]:
                raise Conflict(f"API key {key_id} is revoked", errors=[FieldError("id", "revoked")])
            current = row["expires_at"]
            if current is not None and at > current:
                raise ValidationFailed(
                    "expire never extends a key",
                    errors=[FieldError("at", f"the key already expires at {current.isoformat()}")],
                )
            self.keys.set_expiry(conn, key_id, at)
            audit.record(
                conn, actor, "apikeys.expire", f"apikey:{key_id}", ip, {"at": at.isoformat()}
            )
            row["expires_at"] = at
        self._forget(row["key_hash"])
        return self._listing(row, now)

    # -- reading -----------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        """Every key, oldest first, with its state (active, expired, revoked); no hashes."""
        now = self.now()
        return [self._listing(row, now) for row in self.keys.all()]

    def cached_principal(self, secret: str) -> Principal | None | _NotCached:
        """What :meth:`authenticate` would answer from its cache (the principal, or None for
        a key expired since), or :data:`NOT_CACHED` when it would read the database."""
        return self._from_cache(hash_key(secret))

    def _from_cache(self, digest: str) -> Principal | None | _NotCached:
        cached = self._cache.get(digest)
        if cached is None or self.monotonic() - cached.read_at >= self.cache_ttl_s:
            return NOT_CACHED
        if cached.expires_at is not None and self.now() >= cached.expires_at:
            return None
        return cached.principal

    def authenticate(self, secret: str) -> Principal | None:
        """The key's principal, or None for an unknown, revoked or expired key."""
        digest = hash_key(secret)
        answer = self._from_cache(digest)
        if answer is not NOT_CACHED:
            return answer
        read_at = self.monotonic()
        row = self.keys.credentials(digest)
        if row is None or row.revoked:
            self._forget(digest)
            return None
        principal = Principal(row.id, row.name, frozenset(row.scopes))
        with self._lock:
            self._cache[digest] = _Cached(principal, row.expires_at, read_at)
        if row.expires_at is not None and self.now() >= row.expires_at:
            return None
        return principal

    # -- helpers -----------------------------------------------------------------------------

    def _forget(self, digest: str) -> None:
        with self._lock:
            self._cache.pop(digest, None)

    def _row_for_update(self, conn: Connection, key_id: str) -> dict[str, Any]:
        found = self.keys.row_for_update(conn, key_id)
        if found is None:
            raise NotFound(f"no API key {key_id}", errors=[FieldError("id", "unknown key")])
        return found

    @staticmethod
    def _listing(row: dict[str, Any], now: datetime) -> dict[str, Any]:
        if row["revoked"]:
            state = "revoked"
        elif row["expires_at"] is not None and now >= row["expires_at"]:
            state = "expired"
        else:
            state = "active"
        return {
            "id": row["id"],
            "name": row["name"],
            "scopes": list(row["scopes"]),
            "state": state,
            "created_at": row["created_at"],
            "created_by": row.get("created_by"),
            "expires_at": row["expires_at"],
            "revoked_at": row.get("revoked_at"),
            "revoked_by": row.get("revoked_by"),
        }
