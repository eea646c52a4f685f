"""All SQL of the trusted person: the registration (one per customer), the confirmations, and
the consent ledger entry a registration names (read only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lendguard.models.interventions import TrustedConfirmation, TrustedContact
from lendguard.models.privacy import ConsentRecord

_CONTACT_COLUMNS = list(TrustedContact.__table__.columns)
_CONFIRMATION_COLUMNS = list(TrustedConfirmation.__table__.columns)


class TrustedRepository:
    def contact(self, conn: Connection, customer_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_CONTACT_COLUMNS).where(TrustedContact.customer_id == customer_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def replace_contact(self, conn: Connection, values: dict[str, Any]) -> None:
        """The customer's registration, in place of any earlier one (revoked or not)."""
        conn.execute(
            delete(TrustedContact).where(TrustedContact.customer_id == values["customer_id"])
        )
        conn.execute(insert(TrustedContact).values(**values))

    def revoke(self, conn: Connection, customer_id: str, at: datetime) -> bool:
        result = conn.execute(
            update(TrustedContact)
            .where(TrustedContact.customer_id == customer_id, TrustedContact.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return result.rowcount == 1

    def consent(self, conn: Connection, consent_id: int) -> dict[str, Any] | None:
        row = conn.execute(
            select(
                ConsentRecord.customer_id,
                ConsentRecord.purpose,
                ConsentRecord.scope,
                ConsentRecord.granted,
                ConsentRecord.at,
            ).where(ConsentRecord.id == consent_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def later_consent(
        self, conn: Connection, customer_id: str, purpose: str, scope: str, after_id: int
    ) -> dict[str, Any] | None:
        """The newest entry for the same customer, purpose and scope after ``after_id`` (a
        withdrawal recorded since), or None."""
        row = conn.execute(
            select(ConsentRecord.id, ConsentRecord.granted)
            .where(
                ConsentRecord.customer_id == customer_id,
                ConsentRecord.purpose == purpose,
                ConsentRecord.scope == scope,
                ConsentRecord.id > after_id,
            )
            .order_by(ConsentRecord.id.desc())
            .limit(1)
        ).first()
        return None if row is None else dict(row._mapping)

    def confirmation(self, conn: Connection, decision_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_CONFIRMATION_COLUMNS).where(TrustedConfirmation.decision_id == decision_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def insert_confirmation(self, conn: Connection, values: dict[str, Any]) -> None:
        conn.execute(insert(TrustedConfirmation).values(**values))


trusted_repository = TrustedRepository()
