"""The consent ledger (PIPL Arts. 14–17, 23, 28–29), following fides: a consent row points at
the immutable notice version the customer was shown; grants and withdrawals are appended, never
edited; the state at any instant is the latest row at or before it.

Purposes are strings: ``marketing`` (scopes ``sms``, ``call``, ``push``, ``popup``, ``email``
or ``*``), ``credit_assessment``, ``loan_service``, ``anti_fraud``, ``sensitive`` (scope: the
category, e.g. ``financial_account``, ``biometric``: separate consent, Art. 29) and
``third_party_sharing`` (scope: the recipient, Art. 23).

The ledger backs the contact guard's :class:`~lendguard.conduct.preferences.ConsentState`: what
the ledger knows wins over the simple preference store and over anything a caller sends.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, get_args

import orjson
from sqlalchemy import Engine, and_, func, insert, or_, select

from lendguard.auth import audit
from lendguard.conduct.preferences import ConsentState
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.models.privacy import ConsentRecord, PrivacyNotice
from lendguard.privacy.schemas import ConsentBody, ConsentFlow, ConsentPurpose, NoticeBody

MARKETING = "marketing"
ALL = "*"
PURPOSES = frozenset(get_args(ConsentPurpose))
# Purposes whose consent must be given on its own, never in one action with another (R14,
# PIPL Arts. 23, 29): marketing, sensitive categories and each third-party recipient.
SEPARATE = frozenset({MARKETING, "sensitive", "third_party_sharing"})
# A contact channel of the contact guard → the marketing scope that governs it.
CHANNEL_SCOPE = {"sms": "sms", "call": "call", "push": "push", "email": "email", "visit": "call"}


class ConsentLedger:
    def __init__(self, engine: Engine, fallback: ConsentState | None = None) -> None:
        self.db = engine
        self.fallback = fallback

    # -- notices ---------------------------------------------------------------------------------

    def publish_notice(self, body: NoticeBody, actor: str) -> dict[str, Any]:
        """A new version of a notice (the first is 1). Published versions never change."""
        digest = hashlib.sha256(
            orjson.dumps(
                {"purposes": body.purposes, "texts": body.texts}, option=orjson.OPT_SORT_KEYS
            )
        ).hexdigest()
        now = datetime.now(UTC)
        with self.db.begin() as conn:
            last = conn.execute(
                select(func.max(PrivacyNotice.version)).where(
                    PrivacyNotice.notice_key == body.notice_key
                )
            ).scalar_one_or_none()
            version = int(last or 0) + 1
            conn.execute(
                insert(PrivacyNotice),
                {
                    "notice_key": body.notice_key,
                    "version": version,
                    "purposes": body.purposes,
                    "texts": dict(body.texts),
                    "sha256": digest,
                    "published_at": now,
                    "published_by": actor,
                },
            )
            audit.record(
                conn,
                actor,
                "privacy.notice_published",
                f"notice:{body.notice_key}",
                detail={"version": version, "sha256": digest},
            )
        return {"notice_key": body.notice_key, "version": version, "sha256": digest}

    def notice(self, notice_key: str, version: int) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = conn.execute(
                select(PrivacyNotice).where(
                    PrivacyNotice.notice_key == notice_key, PrivacyNotice.version == version
                )
            ).first()
        if row is None:
            raise NotFound(f"notice {notice_key} v{version} does not exist")
        return {
            "notice_key": row.notice_key,
            "version": row.version,
            "purposes": row.purposes,
            "texts": row.texts,
            "sha256": row.sha256,
            "published_at": row.published_at,
        }

    # -- consents --------------------------------------------------------------------------------

    def record(self, body: ConsentBody, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Grant or withdraw: one appended row, effective at once; withdrawing is the same one
        call as granting (PIPL Art. 15)."""
        if body.purpose in ("sensitive", "third_party_sharing") and body.scope == ALL:
            raise ValidationFailed(
                "separate consent per category or recipient",
                errors=[FieldError("scope", "name the sensitive category or the recipient")],
            )
        at = body.at or datetime.now(UTC)
        with self.db.begin() as conn:
            notice = conn.execute(
                select(PrivacyNotice.purposes).where(
                    PrivacyNotice.notice_key == body.notice_key,
                    PrivacyNotice.version == body.notice_version,
                )
            ).first()
            if notice is None:
                # A well-formed consent naming a notice never published: the row it names is
                # missing (404), the body itself is valid.
                raise NotFound(
                    f"notice {body.notice_key} v{body.notice_version} was never published",
                    errors=[FieldError("notice_version", "no such published notice version")],
                )
            if body.purpose not in notice.purposes:
                raise Conflict(
                    f"notice {body.notice_key} v{body.notice_version} does not cover "
                    f"'{body.purpose}': consent must follow a notice that told the purpose",
                    errors=[FieldError("purpose", "not in the notice shown")],
                )
            record_id = conn.execute(
                insert(ConsentRecord).returning(ConsentRecord.id),
                {
                    "customer_id": body.customer_id,
                    "purpose": body.purpose,
                    "scope": body.scope,
                    "granted": body.granted,
                    "method": body.method,
                    "channel": body.channel,
                    "notice_key": body.notice_key,
                    "notice_version": body.notice_version,
                    "at": at,
                    "recorded_by": actor,
                },
            ).scalar_one()
            audit.record(
                conn,
                actor,
                "privacy.consent_granted" if body.granted else "privacy.consent_withdrawn",
                f"customer:{body.customer_id}",
                ip,
                {
                    "purpose": body.purpose,
                    "scope": body.scope,
                    "consent_id": int(record_id),
                    "notice": f"{body.notice_key}:v{body.notice_version}",
                },
            )
        return {"id": int(record_id), "at": at.isoformat(), "granted": body.granted}

    def state(self, customer_id: str, at: datetime | None = None) -> list[dict[str, Any]]:
        """The latest choice per (purpose, scope) at ``at`` (default now)."""
        moment = at or datetime.now(UTC)
        c = ConsentRecord
        latest = (
            select(c.purpose, c.scope, func.max(c.id).label("last"))
            .where(c.customer_id == customer_id, c.at <= moment)
            .group_by(c.purpose, c.scope)
            .subquery()
        )
        with self.db.connect() as conn:
            rows = conn.execute(
                select(c).join(latest, c.id == latest.c.last).order_by(c.purpose, c.scope)
            ).all()
        return [
            {
                "purpose": r.purpose,
                "scope": r.scope,
                "granted": r.granted,
                "at": r.at,
                "method": r.method,
                "channel": r.channel,
                "notice": {"key": r.notice_key, "version": r.notice_version},
            }
            for r in rows
        ]

    def history(self, customer_id: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(ConsentRecord)
                .where(ConsentRecord.customer_id == customer_id)
                .order_by(ConsentRecord.at, ConsentRecord.id)
            ).all()
        return [{k: getattr(r, k) for k in r._mapping} for r in rows]

    def allowed(self, customer_id: str, purpose: str, scope: str, at: datetime) -> bool | None:
        """The latest choice for ``scope`` or the whole purpose, whichever came last."""
        c = ConsentRecord
        with self.db.connect() as conn:
            row = conn.execute(
                select(c.granted)
                .where(
                    and_(
                        c.customer_id == customer_id,
                        c.purpose == purpose,
                        or_(c.scope == scope, c.scope == ALL),
                        c.at <= at,
                    )
                )
                .order_by(c.at.desc(), c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else bool(row.granted)

    # -- the contact guard's interface -----------------------------------------------------------

    def marketing_allowed(self, customer_id: str, channel: str, at: datetime) -> bool | None:
        known = self.allowed(customer_id, MARKETING, CHANNEL_SCOPE.get(channel, channel), at)
        if known is not None or self.fallback is None:
            return known
        return self.fallback.marketing_allowed(customer_id, channel, at)


# -- R14: checking a consent flow ------------------------------------------------------------------


def check_flow(flow: ConsentFlow, necessary: list[str]) -> dict[str, Any]:
    """CONSENT_PRECHECKED, BUNDLED_CONSENT and CONSENT_COERCION (R14)."""
    findings: list[dict[str, Any]] = []
    for index, item in enumerate(flow.items):
        if item.prechecked:
            findings.append(
                {
                    "code": "CONSENT_PRECHECKED",
                    "requirement": "R14",
                    "item": index,
                    "message": "a consent box is ticked by default",
                }
            )
        kinds = {p.split(":", 1)[0] for p in item.purposes}
        separate = kinds & SEPARATE
        if separate and len(item.purposes) > 1:
            findings.append(
                {
                    "code": "BUNDLED_CONSENT",
                    "requirement": "R14",
                    "item": index,
                    "message": f"{sorted(separate)} must be consented to separately, not "
                    f"together with {sorted(set(item.purposes) - separate)}",
                }
            )
    outside = [p for p in flow.loan_refused_because if p not in necessary]
    if flow.product == "online_lending" and outside:
        findings.append(
            {
                "code": "CONSENT_COERCION",
                "requirement": "R14",
                "message": f"the loan was refused because {outside} was declined; the necessary "
                f"personal information for online lending is only {necessary}",
            }
        )
    return {"findings": findings, "compliant": not findings}
