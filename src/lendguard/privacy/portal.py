"""The borrower's privacy centre (issue #21): the signed link the lender's app asks for, and
what the customer's page shows and changes.

The link. ``POST /v1/privacy/customers/{id}/portal-link`` gives ``<base>/portal/open/<token>``;
the token is a grant for one customer, valid for minutes:

``version (1) | expires (8, Unix seconds) | locale (1) | nonce (12) | AES-GCM(customer id) | MAC``

The customer id is encrypted (AES-256-GCM under the random nonce, the header as associated
data), never in clear: the URL ends up in SMS logs and browser history. The whole token is
signed with HMAC-SHA256 and checked in constant time before anything else is read from it. Both
keys are derived (HKDF-SHA256, :data:`LINK_LABEL`) from the vault's master key: no secret of
its own, and rotating the master key invalidates every link. A tampered, truncated, swapped or
expired token is refused the same way (:class:`PortalDenied`), with no detail of which.

The page (:class:`PortalService`): the two lists for this customer (``privacy.datamap``), the
current privacy notice, the marketing switches per channel (written to the consent ledger, so
the next contact check reads them at once), the customer's recent interventions with their
messages, their data-subject requests with the clocks, and the money lock when there is one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, func, select, text

from lendguard.auth import audit
from lendguard.errors import Conflict, FieldError, NotFound, RateLimited, ValidationFailed
from lendguard.kit.crypto import pseudonymise
from lendguard.models.decision import DecisionRecord, EventRecord
from lendguard.models.privacy import ConsentRecord, DataSubjectRequest, PrivacyNotice
from lendguard.privacy import datamap, intake
from lendguard.privacy.consent import MARKETING, ConsentLedger
from lendguard.privacy.requests import OPEN, RequestService
from lendguard.privacy.schemas import ConsentBody, NewRequest, RequestDetails

LINK_LABEL = b"lendguard portal link v1"
_VERSION = 1
LOCALES = ("zh-CN", "en")
_HEADER = struct.Struct(">BQB12s")
_MAC_BYTES = 32
_MIN_TOKEN = _HEADER.size + 16 + 1 + _MAC_BYTES
MAX_TOKEN_CHARS = 512
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_CUSTOMER_ID = 128

# The marketing switches the page offers, in order: the consent ledger's marketing scopes
# (lendguard.privacy.consent). sms, call, push and email are the contact guard's channels
# (``CHANNEL_SCOPE``); ``popup`` (in-app pop-ups) is a scope of its own that the lender's app
# asks about before it shows a marketing pop-up (no contact check covers it).
SWITCH_SCOPES = ("sms", "push", "popup", "call", "email")
# Interventions the customer sees: what the engine did beyond allowing.
SHOWN_ACTIONS = ("remind", "dissuade", "intercept", "block")
INTERVENTION_DAYS = 90
# Requests a customer may open from the page (withdraw and explain have their own paths).
PORTAL_REQUEST_KINDS = ("access", "correct", "delete")
MAX_NOTE = 1000
# Consent changes one link may write (a switch set to the state it already has writes nothing):
# enough for any customer, a bound on whoever replays the form with a stolen link.
MAX_SWITCHES_PER_LINK = 20


# Opening a request from the page is checked and written one at a time: in this process by
# this lock, across processes (PostgreSQL) by an advisory lock on the customer and kind.
_REQUEST_LOCK = threading.Lock()


@contextmanager
def _one_at_a_time(engine: Engine, customer_id: str, kind: str) -> Iterator[None]:
    with _REQUEST_LOCK:
        if engine.dialect.name != "postgresql":
            yield
            return
        digest = hashlib.sha256(f"{LINK_LABEL!r}|request|{customer_id}|{kind}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


class PortalDenied(Exception):
    """A link or cookie that is not a valid, unexpired grant (which, is never said)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid link grants: one customer's page until ``expires_at``."""

    customer_id: str
    expires_at: datetime
    locale: str
    link_id: str

    @property
    def actor(self) -> str:
        """Who the audit trail names for what the customer does on the page: the link."""
        return f"portal:{self.link_id}"


def _derive(master_key: bytes, purpose: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=LINK_LABEL + b" " + purpose
    ).derive(master_key)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def checked_customer(customer_id: str) -> str:
    """The customer id as the lender sent it, or 422 naming ``customer_id``."""
    if (
        not customer_id
        or not customer_id.strip()
        or len(customer_id) > MAX_CUSTOMER_ID
        or _CONTROL.search(customer_id)
    ):
        raise ValidationFailed(
            "invalid customer id",
            errors=[
                FieldError(
                    "customer_id", "1 to 128 characters, not blank, with no control characters"
                )
            ],
        )
    return customer_id


class LinkSigner:
    """Makes and checks portal tokens (see the module)."""

    def __init__(self, master_key: bytes) -> None:
        self._mac_key = _derive(master_key, b"mac")
        self._aead = AESGCM(_derive(master_key, b"enc"))
        self._csrf_key = _derive(master_key, b"csrf")

    def issue(self, customer_id: str, locale: str, expires_at: datetime) -> tuple[str, str]:
        """(token, link id) for ``customer_id``."""
        nonce = os.urandom(12)
        header = _HEADER.pack(_VERSION, int(expires_at.timestamp()), LOCALES.index(locale), nonce)
        sealed = self._aead.encrypt(nonce, customer_id.encode("utf-8"), header)
        body = header + sealed
        mac = hmac.new(self._mac_key, body, hashlib.sha256).digest()
        return _b64(body + mac), nonce.hex()

    def verify(self, token: str | None, now: datetime) -> Grant:
        """The grant of a valid, unexpired token; :class:`PortalDenied` otherwise."""
        if not token or len(token) > MAX_TOKEN_CHARS or not _TOKEN_CHARS.match(token):
            raise PortalDenied
        try:
            raw = _unb64(token)
        except (ValueError, TypeError):
            raise PortalDenied from None
        if len(raw) < _MIN_TOKEN:
            raise PortalDenied
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        expected = hmac.new(self._mac_key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise PortalDenied
        header, sealed = body[: _HEADER.size], body[_HEADER.size :]
        version, expires, locale_index, nonce = _HEADER.unpack(header)
        if version != _VERSION or locale_index >= len(LOCALES):
            raise PortalDenied
        try:
            customer_id = self._aead.decrypt(nonce, sealed, header).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise PortalDenied from None
        expires_at = datetime.fromtimestamp(expires, UTC)
        if now >= expires_at:
            raise PortalDenied
        return Grant(customer_id, expires_at, LOCALES[locale_index], nonce.hex())

    def csrf_token(self, token: str) -> str:
        """The form token bound to the grant the cookie carries."""
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, token: str, sent: str) -> bool:
        return hmac.compare_digest(self.csrf_token(token).encode(), sent.encode())


# -- the link ------------------------------------------------------------------------------------


def customer_known(engine: Engine, customer_id: str, pii_key: bytes) -> bool:
    """Whether LendGuard holds anything about the customer: an event (under the id as stored),
    a consent or a data-subject request."""
    ids = _ids(customer_id, pii_key)
    with engine.connect() as conn:
        for query in (
            select(EventRecord.seq).where(EventRecord.customer_id.in_(ids)).limit(1),
            select(ConsentRecord.id).where(ConsentRecord.customer_id == customer_id).limit(1),
            select(DataSubjectRequest.id)
            .where(DataSubjectRequest.customer_id == customer_id)
            .limit(1),
        ):
            if conn.execute(query).first() is not None:
                return True
    return False


def issue_link(
    engine: Engine,
    signer: LinkSigner,
    pii_key: bytes,
    customer_id: str,
    locale: str,
    ttl_s: int,
    base_url: str,
    actor: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A signed link to the customer's page, audited (``privacy.portal_link``: who asked, the
    customer's keyed digest, never the id itself)."""
    checked_customer(customer_id)
    if not customer_known(engine, customer_id, pii_key):
        raise NotFound(
            "no such customer",
            errors=[FieldError("customer_id", "LendGuard holds nothing about this customer")],
        )
    moment = now or datetime.now(UTC)
    expires_at = (moment + timedelta(seconds=ttl_s)).replace(microsecond=0)
    token, link_id = signer.issue(customer_id, locale, expires_at)
    digest = pseudonymise(customer_id, pii_key)
    audit.record_now(
        engine,
        actor,
        "privacy.portal_link",
        f"customer:{digest}",
        ip,
        {
            "customer_digest": digest,
            "link_id": link_id,
            "locale": locale,
            "ttl_s": ttl_s,
            "expires_at": expires_at.isoformat(),
        },
    )
    return {"url": f"{base_url.rstrip('/')}/portal/open/{token}", "expires_at": expires_at}


def _ids(customer_id: str, pii_key: bytes) -> list[str]:
    """The id as the lender sent it and as the decision path stores it (its pseudonym when it
    holds personal information)."""
    stored = intake.stored_identifier(customer_id, pii_key)
    return [customer_id] if stored == customer_id else [customer_id, stored]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# -- the page ------------------------------------------------------------------------------------


class PortalService:
    """What the customer's page shows, and the two things it changes (consent, requests).

    ``lock_view(customer_id)`` gives the money lock (or None when the customer never locked);
    it is passed in by the face that builds this service, so the privacy area imports no
    intervention code."""

    def __init__(
        self,
        engine: Engine,
        ledger: ConsentLedger,
        requests: RequestService,
        pii_key: bytes,
        lock_view: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.db = engine
        self.ledger = ledger
        self.requests = requests
        self.pii_key = pii_key
        self.lock_view = lock_view

    def current_notice(self) -> dict[str, Any] | None:
        """The privacy notice in force: the newest published version of the notice published
        most recently that tells the marketing purpose (the switches are consents against
        it); else the newest notice of any kind; None when none was ever published."""
        n = PrivacyNotice
        with self.db.connect() as conn:
            rows = conn.execute(
                select(n.notice_key, n.version, n.purposes, n.texts, n.published_at).order_by(
                    n.published_at.desc(), n.id.desc()
                )
            ).all()
        if not rows:
            return None
        chosen = next((r for r in rows if MARKETING in (r.purposes or [])), rows[0])
        latest = max((r for r in rows if r.notice_key == chosen.notice_key), key=_version)
        return {
            "key": latest.notice_key,
            "version": int(latest.version),
            "purposes": list(latest.purposes or []),
            "texts": dict(latest.texts or {}),
            "published_at": _utc(latest.published_at),
            "covers_marketing": MARKETING in (latest.purposes or []),
        }

    def switches(self, customer_id: str, now: datetime) -> list[dict[str, Any]]:
        """Each marketing channel: True (allowed), False (stopped) or None (not chosen)."""
        out = []
        for scope in SWITCH_SCOPES:
            if scope == "popup":
                state = self.ledger.allowed(customer_id, MARKETING, scope, now)
            else:
                state = self.ledger.marketing_allowed(customer_id, scope, now)
            out.append({"scope": scope, "allowed": state})
        return out

    def interventions(self, customer_id: str, now: datetime) -> list[dict[str, Any]]:
        d = DecisionRecord
        since = now - timedelta(days=INTERVENTION_DAYS)
        with self.db.connect() as conn:
            rows = conn.execute(
                select(d.decision_id, d.occurred_at, d.action, d.messages)
                .where(
                    d.customer_id.in_(_ids(customer_id, self.pii_key)),
                    d.action.in_(SHOWN_ACTIONS),
                    d.occurred_at >= since,
                )
                .order_by(d.occurred_at.desc())
                .limit(50)
            ).all()
        return [
            {
                "decision_id": r.decision_id,
                "at": _utc(r.occurred_at),
                "action": r.action,
                "messages": {
                    str(m.get("locale")): str(m.get("text"))
                    for m in (r.messages or [])
                    if isinstance(m, dict) and m.get("text")
                },
            }
            for r in rows
        ]

    def open_requests(self, customer_id: str, now: datetime) -> list[dict[str, Any]]:
        r = DataSubjectRequest
        with self.db.connect() as conn:
            rows = conn.execute(
                select(r.id, r.kind, r.status, r.received_at, r.due_at)
                .where(r.customer_id == customer_id, r.status.in_(OPEN))
                .order_by(r.due_at)
                .limit(50)
            ).all()
        out = []
        for row in rows:
            due = _utc(row.due_at)
            assert due is not None
            out.append(
                {
                    "id": row.id,
                    "kind": row.kind,
                    "status": row.status,
                    "received_at": _utc(row.received_at),
                    "due_at": due,
                    "overdue": due < now,
                }
            )
        return out

    def lock(self, customer_id: str) -> dict[str, Any] | None:
        return None if self.lock_view is None else self.lock_view(customer_id)

    def page(self, grant: Grant, locale: str, now: datetime) -> dict[str, Any]:
        """Everything the page shows, for ``grant``'s customer."""
        customer = grant.customer_id
        state = self.ledger.state(customer, now)
        consented = {
            c["scope"] for c in state if c["purpose"] == "third_party_sharing" and c["granted"]
        }
        stored = intake.stored_identifier(customer, self.pii_key)
        # The lists' rows in the words the page prints (each value already in ``locale``).
        collected = [
            {
                "name": c["type"],
                "purpose": c["purpose"],
                "scenario": c["scenario"],
                "retention": c["retention"],
                "sensitive": c["sensitive"],
                "necessary": c["necessary"],
                "collection_count": c.get("collection_count", 0),
            }
            for c in datamap.collected_list(locale, self.db, stored)
        ]
        sharing = [
            {
                "recipient": s["recipient"],
                "shared": s["type"],
                "purpose": s["purpose"],
                "scenario": s["scenario"],
                "method": s["method"],
                "needs_separate_consent": s["needs_separate_consent"],
            }
            for s in datamap.sharing_list(locale, consented)
        ]
        return {
            "collected": collected,
            "sharing": sharing,
            "notice": self.current_notice(),
            "switches": self.switches(customer, now),
            "interventions": self.interventions(customer, now),
            "requests": self.open_requests(customer, now),
            "lock": self.lock(customer),
        }

    # -- changes -------------------------------------------------------------------------------

    def set_switch(
        self, grant: Grant, scope: str, allowed: bool, ip: str | None = None
    ) -> dict[str, Any]:
        """Grant or withdraw marketing on one channel, against the notice in force (method
        ``toggle``, channel ``app``): effective at once for the next contact check."""
        if scope not in SWITCH_SCOPES:
            raise ValidationFailed(
                "unknown switch", errors=[FieldError("scope", f"one of {', '.join(SWITCH_SCOPES)}")]
            )
        now = datetime.now(UTC)
        if self.ledger.allowed(grant.customer_id, MARKETING, scope, now) is allowed:
            return {"scope": scope, "granted": allowed, "unchanged": True}
        if self._changes_by(grant) >= MAX_SWITCHES_PER_LINK:
            raise RateLimited(
                "too many consent changes from one link",
                errors=[FieldError("scope", "open the page again from the app")],
                retry_after=60,
            )
        notice = self.current_notice()
        if notice is None or not notice["covers_marketing"]:
            raise NotFound(
                "no published notice covers marketing",
                errors=[FieldError("notice", "publish a notice that tells the marketing purpose")],
            )
        body = ConsentBody(
            customer_id=grant.customer_id,
            purpose=MARKETING,
            scope=scope,
            granted=allowed,
            method="toggle",
            channel="app",
            notice_key=notice["key"],
            notice_version=notice["version"],
        )
        return self.ledger.record(body, grant.actor, ip)

    def _changes_by(self, grant: Grant) -> int:
        """Consent rows the link has written."""
        c = ConsentRecord
        with self.db.connect() as conn:
            count = conn.execute(
                select(func.count(c.id)).where(
                    c.customer_id == grant.customer_id, c.recorded_by == grant.actor
                )
            ).scalar_one()
        return int(count)

    def open_request(
        self, grant: Grant, kind: str, note: str | None, ip: str | None = None
    ) -> dict[str, Any]:
        """A data-subject request the customer opened on the page (unverified: the privacy
        officer verifies the requester before it is worked, as for any other channel)."""
        if kind not in PORTAL_REQUEST_KINDS:
            raise ValidationFailed(
                "unknown request kind",
                errors=[FieldError("kind", f"one of {', '.join(PORTAL_REQUEST_KINDS)}")],
            )
        details: dict[str, Any] = {}
        if note is not None:
            note = note.strip()
            if len(note) > MAX_NOTE or re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", note):
                raise ValidationFailed(
                    "invalid note",
                    errors=[FieldError("note", f"at most {MAX_NOTE} characters of plain text")],
                )
            if note:
                details["note"] = note
        body = NewRequest(
            customer_id=grant.customer_id,
            kind=kind,  # checked against PORTAL_REQUEST_KINDS above
            details=RequestDetails.model_validate({**details, "channel": "privacy_centre"}),
        )
        with _one_at_a_time(self.db, grant.customer_id, kind):
            if self._open_of_kind(grant.customer_id, kind):
                # one open request per kind: a replayed or stolen link cannot flood the officer
                raise Conflict(
                    "a request of this kind is already open",
                    errors=[FieldError("kind", "a request of this kind is already open")],
                )
            return self.requests.create(body, grant.actor, ip)

    def _open_of_kind(self, customer_id: str, kind: str) -> bool:
        r = DataSubjectRequest
        with self.db.connect() as conn:
            found = conn.execute(
                select(r.id)
                .where(r.customer_id == customer_id, r.kind == kind, r.status.in_(OPEN))
                .limit(1)
            ).first()
        return found is not None


def _version(row: Any) -> int:
    return int(row.version)
