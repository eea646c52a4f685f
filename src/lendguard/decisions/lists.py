"""Allow/deny lists, per-customer rule suppressions and customers' own controls (money locks,
trusted persons): stored, then published whole.

Each change is written with its audit entry in one transaction (a change that cannot be
audited does not happen), then the whole view is rebuilt from the table and swapped into the
active configuration (:mod:`lendguard.decisions.configuration`), so a decision sees the lists
before or after a change, never half of it.

Money locks and trusted persons are written by the interventions area (which this area may not
import); it calls :meth:`ListsAndSuppressions.reload` after each change, and, being audited, the
change reaches other processes the way a list entry does (``DecisionService.follow_configuration``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from lendguard.auth import audit
from lendguard.decisions.configuration import LiveConfiguration
from lendguard.decisions.policy import LIST_FIELDS, ListsView, LockState, epoch_seconds
from lendguard.decisions.repository import decision_repository as repo
from lendguard.errors import FieldError, NotFound, ValidationFailed
from lendguard.kit.crypto import pseudonymise
from lendguard.models.interventions import CustomerLock, TrustedContact
from lendguard.privacy import intake

# The lock states that hold: "unlocked" rows stay for their history, out of the view.
HOLDING_LOCK_STATES = ("locked", "unlock_pending")


def _locks_in_force(conn: Connection) -> dict[str, LockState]:
    """Money locks that hold or wait out a cooling-off, by customer id as stored."""
    rows = conn.execute(
        select(
            CustomerLock.customer_id,
            CustomerLock.kill_switch,
            CustomerLock.locked_at,
            CustomerLock.state,
            CustomerLock.unlock_effective_at,
        ).where(CustomerLock.state.in_(HOLDING_LOCK_STATES))
    ).all()
    locks: dict[str, LockState] = {}
    for row in rows:
        until = None
        if row.state == "unlock_pending" and row.unlock_effective_at is not None:
            until = epoch_seconds(row.unlock_effective_at)
        locks[row.customer_id] = LockState(
            since=epoch_seconds(row.locked_at), kill_switch=bool(row.kill_switch), until=until
        )
    return locks


def _trusted_thresholds(conn: Connection) -> dict[str, float]:
    """The amount above which each customer's trusted person confirms an outflow (those not
    revoked)."""
    rows = conn.execute(
        select(TrustedContact.customer_id, TrustedContact.threshold).where(
            TrustedContact.revoked_at.is_(None)
        )
    ).all()
    return {row.customer_id: float(row.threshold) for row in rows}


class ListsAndSuppressions:
    def __init__(self, engine: Engine, configuration: LiveConfiguration, pii_key: bytes) -> None:
        self.db = engine
        self.configuration = configuration
        self.pii_key = pii_key

    def reload(self) -> None:
        """Rebuild the lists view from the tables and publish it."""
        view = ListsView()
        with self.db.connect() as conn:
            entries = repo.list_entries(conn)
            suppressions = repo.suppressions(conn)
            view.locks = _locks_in_force(conn)
            view.trusted = _trusted_thresholds(conn)
        for entry in entries:
            table = view.allow if entry["list_type"] == "allow" else view.deny
            expires = entry["expires_at"]
            table.setdefault(entry["field"], {})[entry["value"]] = (
                epoch_seconds(expires) if expires is not None else None
            )
        for sup in suppressions:
            key = (sup["customer_id"], sup["rule_id"])
            view.suppressions[key] = max(
                view.suppressions.get(key, 0.0), epoch_seconds(sup["until"])
            )
        self.configuration.swap(lists=view)

    def add_entry(
        self,
        list_type: str,
        field: str,
        value: str,
        reason: str,
        author: str,
        expires_at: datetime | None = None,
        ip: str | None = None,
    ) -> int:
        if list_type not in ("allow", "deny"):
            raise ValidationFailed("bad list", errors=[FieldError("list_type", "allow or deny")])
        if field not in LIST_FIELDS:
            raise ValidationFailed(
                "bad field", errors=[FieldError("field", f"one of {LIST_FIELDS}")]
            )
        if not value.strip() or not reason.strip():
            raise ValidationFailed(
                "value and reason are required",
                errors=[
                    FieldError(name, "must not be empty")
                    for name, text in (("value", value), ("reason", reason))
                    if not text.strip()
                ],
            )
        if field == "card":
            # Card numbers are only ever held as pseudonyms; the lender lists the number it knows.
            value = pseudonymise(value, self.pii_key)
        elif field in ("customer", "device", "payee"):
            # An id holding personal information is stored as its pseudonym (privacy.intake):
            # the lender lists the id it knows, and the entry meets the events.
            value = intake.stored_identifier(value, self.pii_key)
        with self.db.begin() as conn:
            entry_id = repo.insert_list_entry(
                conn,
                {
                    "list_type": list_type,
                    "field": field,
                    "value": value,
                    "reason": reason,
                    "author": author,
                    "created_at": datetime.now(UTC),
                    "expires_at": expires_at,
                },
            )
            audit.record(
                conn,
                author,
                "lists.add",
                f"list_entry:{entry_id}",
                ip,
                {"list_type": list_type, "field": field, "reason": reason},
            )
        with self.configuration.lock:
            self.reload()
        return entry_id

    def add_suppression(
        self,
        customer_id: str,
        rule_id: str,
        until: datetime,
        reason: str,
        author: str,
        ip: str | None = None,
    ) -> int:
        errors = [
            FieldError(name, "must not be empty")
            for name, text in (
                ("customer_id", customer_id),
                ("rule_id", rule_id),
                ("reason", reason),
            )
            if not text.strip()
        ]
        ruleset = self.configuration.active.ruleset
        if ruleset is not None and rule_id.strip() and rule_id not in {r.id for r in ruleset.rules}:
            errors.append(FieldError("rule_id", f"no rule '{rule_id}' in the active rule set"))
        if errors:
            raise ValidationFailed("invalid suppression", errors=errors)
        customer_id = intake.stored_identifier(customer_id, self.pii_key)
        with self.db.begin() as conn:
            suppression_id = repo.insert_suppression(
                conn,
                {
                    "customer_id": customer_id,
                    "rule_id": rule_id,
                    "until": until,
                    "reason": reason,
                    "author": author,
                    "created_at": datetime.now(UTC),
                },
            )
            audit.record(
                conn,
                author,
                "suppressions.add",
                f"suppression:{suppression_id}",
                ip,
                {"rule_id": rule_id, "until": until.isoformat(), "reason": reason},
            )
        with self.configuration.lock:
            self.reload()
        return suppression_id

    def remove_entry(self, entry_id: int, actor: str, ip: str | None = None) -> None:
        with self.db.begin() as conn:
            if not repo.delete_list_entry(conn, entry_id):
                raise NotFound(f"list entry {entry_id} does not exist")
            audit.record(conn, actor, "lists.remove", f"list_entry:{entry_id}", ip)
        with self.configuration.lock:
            self.reload()

    def remove_suppression(self, suppression_id: int, actor: str, ip: str | None = None) -> None:
        with self.db.begin() as conn:
            if not repo.delete_suppression(conn, suppression_id):
                raise NotFound(f"suppression {suppression_id} does not exist")
            audit.record(conn, actor, "suppressions.remove", f"suppression:{suppression_id}", ip)
        with self.configuration.lock:
            self.reload()

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        with self.db.connect() as conn:
            return {"entries": repo.list_entries(conn), "suppressions": repo.suppressions(conn)}
