"""Console users: argon2 password hashes, roles, lock-out, server-side sessions.

The session cookie carries a random token; the database holds only its SHA-256, so a leaked
table cannot be replayed as cookies. Each session has its own CSRF token, which every state-
changing console request must echo (form field or ``X-CSRF-Token`` header).

Passwords are hashed on the hashing pool of :mod:`lendguard.auth.passwords`, never inside a
database transaction: a sign-in reads the account (:meth:`UserService.login_candidate`), checks
the password, then writes the outcome (:meth:`UserService.finish_login`), so no connection is
held while a hash is computed or waits its turn.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, or_, select, update

from lendguard.auth import audit
from lendguard.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from lendguard.auth.service import ROLE_SCOPES, Principal, Role
from lendguard.config import known_time_zone
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.kit.ids import new_id
from lendguard.models.access import ConsoleSession, User

MAX_FAILED_LOGINS = 5
LOCK_OUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
MIN_PASSWORD_LENGTH = 10


class LoginFailed(Exception):
    """Wrong username or password, or a locked or disabled account (one message for all).

    ``audited`` says the failure changed the account (a wrong password counted towards the
    lock-out) and its ``console.login_failed`` entry was written with that change; a failure
    that changed nothing (an unknown or unusable account) leaves the entry to the caller."""

    def __init__(self, audited: bool = False) -> None:
        super().__init__()
        self.audited = audited


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """The account a sign-in names, as read before its password is checked. ``password_hash``
    is the hash to check against: a dummy one when there is no usable account (unknown,
    disabled or locked), so every attempt costs the same."""

    password_hash: str
    user_id: str | None = None
    username: str = ""
    role: str = ""
    locale: str = ""
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    principal: Principal
    csrf_token: str
    locale: str
    # The user's own time zone for the console (None: the deployment's console_timezone).
    timezone: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_for(user_id: str, username: str, role: str) -> Principal:
    return Principal(
        user_id,
        username,
        frozenset(s.value if hasattr(s, "value") else s for s in ROLE_SCOPES[Role(role)]),
        "user",
        role,
    )


class UserService:
    def __init__(self, engine: Engine) -> None:
        self.db = engine

    def create(
        self,
        username: str,
        password: str,
        role: str,
        locale: str = "zh-CN",
        actor: str | None = None,
        ip: str | None = None,
    ) -> str:
        """A new console user; returns its id. Given an ``actor`` (an administrator, from the
        API or the CLI), the audit entry ``users.create`` commits with the user: an account is
        never created unaudited. (The demo seeding its own users passes none.)"""
        errors = []
        if (
            not username
            or len(username) > 64
            or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            errors.append(FieldError("username", "1-64 letters, digits, '-', '_' or '.'"))
        if role not in {r.value for r in Role}:
            errors.append(FieldError("role", f"one of {[r.value for r in Role]}"))
        if len(password) < MIN_PASSWORD_LENGTH:
            errors.append(FieldError("password", f"at least {MIN_PASSWORD_LENGTH} characters"))
        if errors:
            raise ValidationFailed("invalid user", errors=errors)
        # Hashed before the transaction: no connection is held while the hash is computed.
        password_hash = hash_password(password)
        with self.db.begin() as conn:
            taken = conn.execute(select(User.id).where(User.username == username)).first()
            if taken is not None:
                raise Conflict(
                    f"user '{username}' exists", errors=[FieldError("username", "taken")]
                )
            user_id = new_id("usr")
            conn.execute(
                insert(User),
                {
                    "id": user_id,
                    "username": username,
                    "password_hash": password_hash,
                    "role": role,
                    "locale": locale,
                    "disabled": False,
                    "failed_logins": 0,
                    "created_at": datetime.now(UTC),
                },
            )
            if actor is not None:
                audit.record(conn, actor, "users.create", f"user:{username}", ip, {"role": role})
        return user_id

    def list(self) -> list[dict[str, object]]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(
                    User.id,
                    User.username,
                    User.role,
                    User.disabled,
                    User.locked_until,
                    User.created_at,
                    User.last_login_at,
                ).order_by(User.username)
            ).mappings()
            return [dict(r) for r in rows]

    def login(self, username: str, password: str, ip: str | None) -> tuple[str, SessionInfo]:
        """A new session (cookie token, session info) or :class:`LoginFailed`.

        After ``MAX_FAILED_LOGINS`` wrong passwords in a row the account is locked for
        ``LOCK_OUT``; a correct password does not open a locked account. Blocks while the hash
        is computed; the console checks the password with
        :func:`~lendguard.auth.passwords.verify_password_async` between
        :meth:`login_candidate` and :meth:`finish_login` instead.
        """
        candidate = self.login_candidate(username)
        matched = verify_password(candidate.password_hash, password)
        return self.finish_login(candidate, matched, password, ip)

    def login_candidate(self, username: str) -> LoginCandidate:
        """The account to check a sign-in's password against (a short read)."""
        now = datetime.now(UTC)
        with self.db.connect() as conn:
            row = conn.execute(select(User).where(User.username == username)).one_or_none()
        if row is None or row.disabled or (row.locked_until is not None and row.locked_until > now):
            return LoginCandidate(dummy_hash())
        return LoginCandidate(
            row.password_hash, row.id, row.username, row.role, row.locale, row.timezone
        )

    def finish_login(
        self, candidate: LoginCandidate, matched: bool, password: str, ip: str | None
    ) -> tuple[str, SessionInfo]:
        """Record a sign-in whose password was checked: a wrong one counts towards the lock-out
        (:class:`LoginFailed`); a right one opens a session, unless the account was disabled,
        locked or given another password meanwhile (:class:`LoginFailed`). The audit entry
        (``console.login`` or ``console.login_failed``) is written in the transaction of the
        change it records: the session opened, or the failure counted."""
        user_id = candidate.user_id
        if user_id is None:
            raise LoginFailed()
        now = datetime.now(UTC)
        if not matched:
            with self.db.begin() as conn:
                # Counted in the database (concurrent failures each count), then read back in
                # the same transaction, which holds the row.
                conn.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(failed_logins=User.failed_logins + 1)
                )
                failed = conn.execute(
                    select(User.failed_logins).where(User.id == user_id)
                ).scalar_one_or_none()
                if failed is not None and failed >= MAX_FAILED_LOGINS:
                    conn.execute(
                        update(User)
                        .where(User.id == user_id)
                        .values(failed_logins=0, locked_until=now + LOCK_OUT)
                    )
                audit.record(
                    conn, f"user:{candidate.username}", "console.login_failed", "console", ip
                )
            raise LoginFailed(audited=True)
        values: dict[str, object] = {
            "failed_logins": 0,
            "locked_until": None,
            "last_login_at": now,
        }
        if needs_rehash(candidate.password_hash):
            values["password_hash"] = hash_password(password)
        with self.db.begin() as conn:
            opened = conn.execute(
                update(User)
                .where(
                    User.id == user_id,
                    User.password_hash == candidate.password_hash,
                    User.disabled.is_(False),
                    or_(User.locked_until.is_(None), User.locked_until <= now),
                )
                .values(**values)
            )
            if not opened.rowcount:
                raise LoginFailed()  # (rolls the transaction back: nothing written)
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(24)
            conn.execute(
                insert(ConsoleSession),
                {
                    "token_hash": hash_token(token),
                    "user_id": user_id,
                    "csrf_token": csrf,
                    "created_at": now,
                    "expires_at": now + SESSION_LIFETIME,
                    "ip": ip,
                },
            )
            audit.record(conn, f"user:{candidate.username}", "console.login", "console", ip)
        info = SessionInfo(
            principal_for(user_id, candidate.username, candidate.role),
            csrf,
            candidate.locale,
            candidate.timezone,
        )
        return token, info

    def session(self, token: str) -> SessionInfo | None:
        if not token:
            return None
        now = datetime.now(UTC)
        with self.db.connect() as conn:
            found = conn.execute(
                select(
                    ConsoleSession.csrf_token,
                    ConsoleSession.expires_at,
                    User.id,
                    User.username,
                    User.role,
                    User.locale,
                    User.timezone,
                    User.disabled,
                )
                .join(User, User.id == ConsoleSession.user_id)
                .where(ConsoleSession.token_hash == hash_token(token))
            ).one_or_none()
        if found is None:
            return None
        if found.expires_at <= now or found.disabled:
            return None
        user = found
        csrf = found.csrf_token
        return SessionInfo(
            principal_for(user.id, user.username, user.role), csrf, user.locale, user.timezone
        )

    def set_timezone(self, user_id: str, timezone: str | None) -> None:
        """The user's own console time zone (an IANA name), or ``None`` for the deployment's.
        A name this machine does not know is refused (422 naming the field), never stored."""
        if timezone is not None:
            try:
                known_time_zone(timezone)
            except ValueError as exc:
                raise ValidationFailed(
                    "unknown time zone", errors=[FieldError("timezone", str(exc))]
                ) from exc
        with self.db.begin() as conn:
            done = conn.execute(update(User).where(User.id == user_id).values(timezone=timezone))
            if not done.rowcount:
                raise NotFound(f"user '{user_id}' does not exist")

    def logout(self, token: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                delete(ConsoleSession).where(ConsoleSession.token_hash == hash_token(token))
            )

    def set_role(self, username: str, role: str) -> None:
        if role not in {r.value for r in Role}:
            raise ValidationFailed("bad role", errors=[FieldError("role", "unknown role")])
        with self.db.begin() as conn:
            done = conn.execute(update(User).where(User.username == username).values(role=role))
            if not done.rowcount:
                raise NotFound(f"user '{username}' does not exist")
