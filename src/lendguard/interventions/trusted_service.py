"""The trusted person (issue #19, item 4).

A customer may name a trusted person who must confirm their outflows above an amount the
customer chose. It is opt-in and the trusted person learns of the customer's payments, so a
registration must name the customer's consent in the ledger (policy
``interventions/trusted.yaml``: purpose third_party_sharing, scope trusted_contact, granted and
not withdrawn since). The contact's name and phone are kept only in the encrypted vault; the
registration row holds their keyed hashes.

The decision engine reads each customer's threshold from its lists view (loaded with the
lists, rebuilt after each change here, followed by other processes through the audit trail): an
outflow above it is intercepted with DELAY and the reason TRUSTED_CONFIRMATION_REQUIRED. The
trusted person's answer on such a decision is recorded once (confirmed or declined), or as
expired when it comes after the policy's hours.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from lendguard.auth import audit
from lendguard.cases.holds import HoldDesk
from lendguard.decisions.service import DecisionService
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed
from lendguard.interventions.trusted_repository import trusted_repository as repo
from lendguard.policies import Policy, load_policy
from lendguard.privacy import intake
from lendguard.privacy.vault import Vault

POLICY_KIND = "interventions"
POLICY_NAME = "trusted"
REASON = "TRUSTED_CONFIRMATION_REQUIRED"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _checked_customer(customer_id: str) -> None:
    if not customer_id.strip() or len(customer_id) > 128 or _CONTROL.search(customer_id):
        raise ValidationFailed(
            "invalid customer id",
            errors=[
                FieldError(
                    "customer_id", "1 to 128 characters, not blank, with no control characters"
                )
            ],
        )


def _bad_consent(message: str) -> Conflict:
    """A consent that exists but does not allow a trusted contact: the body is well formed,
    the ledger's state refuses it (as the ledger itself answers a consent its notice does not
    cover)."""
    return Conflict(
        "the consent named does not allow a trusted contact",
        errors=[FieldError("consent_id", message)],
    )


class TrustedService:
    """Registers and revokes trusted persons and records their answers. ``clock`` gives "now"
    (tests pin it); ``policy_directory`` overrides where ``trusted.yaml`` is read from."""

    def __init__(
        self,
        decisions: DecisionService,
        vault: Vault,
        clock: Callable[[], datetime] | None = None,
        policy_directory: str | None = None,
        holds: HoldDesk | None = None,
    ) -> None:
        self.holds = holds
        self.decisions = decisions
        self.db = decisions.db
        self.vault = vault
        self.clock = clock or (lambda: datetime.now(UTC))
        self.policy_directory = policy_directory

    def policy(self, on: datetime) -> Policy:
        return load_policy(POLICY_KIND, POLICY_NAME, on.date(), self.policy_directory)

    def _stored(self, customer_id: str) -> str:
        _checked_customer(customer_id)
        return intake.stored_identifier(customer_id, self.decisions.pii_key)

    def _publish(self) -> None:
        with self.decisions.configuration.lock:
            self.decisions.lists.reload()

    # -- registration --------------------------------------------------------------------------

    def register(
        self,
        customer_id: str,
        name: str,
        phone: str,
        threshold: float,
        consent_id: int,
        actor: str,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Register (or replace) the customer's trusted person: the consent is checked, the
        name and phone go to the vault, the engine sees the threshold at once."""
        stored = self._stored(customer_id)
        now = self.clock()
        wanted = self.policy(now)["consent_purpose"].value
        purpose, scope = str(wanted["purpose"]), str(wanted["scope"])
        with self.db.begin() as conn:
            consent = repo.consent(conn, consent_id)
            if consent is None:
                # The row the body names is missing (404); the body itself is valid.
                raise NotFound(
                    f"consent {consent_id} is not in the consent ledger",
                    errors=[FieldError("consent_id", "no such entry in the consent ledger")],
                )
            if consent["customer_id"] not in (customer_id, stored):
                raise _bad_consent("is another customer's consent")
            if (consent["purpose"], consent["scope"]) != (purpose, scope):
                raise _bad_consent(f"must be a consent for {purpose}, scope {scope}")
            if not consent["granted"]:
                raise _bad_consent("is a withdrawal, not a consent")
            later = repo.later_consent(conn, consent["customer_id"], purpose, scope, consent_id)
            if later is not None and not later["granted"]:
                raise _bad_consent("was withdrawn since")
            values = {
                "customer_id": stored,
                "name_token": self.vault.put("name", name, stored, conn=conn),
                "phone_token": self.vault.put("phone", phone, stored, conn=conn),
                "threshold": float(threshold),
                "consent_id": str(consent_id),
                "created_at": now,
                "revoked_at": None,
            }
            repo.replace_contact(conn, values)
            audit.record(
                conn,
                actor,
                "trusted.registered",
                f"trusted_contact:{stored}",
                ip,
                {"threshold": str(threshold), "consent_id": consent_id},
            )
        self._publish()
        return self.view(customer_id)

    def revoke(self, customer_id: str, actor: str, ip: str | None = None) -> dict[str, Any]:
        """End the registration (the vault keeps the values for the record until erased)."""
        stored = self._stored(customer_id)
        now = self.clock()
        with self.db.begin() as conn:
            if not repo.revoke(conn, stored, now):
                raise NotFound("the customer has no trusted contact registered")
            audit.record(conn, actor, "trusted.revoked", f"trusted_contact:{stored}", ip)
        self._publish()
        return self.view(customer_id)

    def view(self, customer_id: str) -> dict[str, Any]:
        stored = self._stored(customer_id)
        with self.db.connect() as conn:
            row = repo.contact(conn, stored)
        if row is None:
            raise NotFound("the customer has no trusted contact registered")
        consent = row["consent_id"]
        return {
            "customer_id": customer_id,
            "threshold": float(row["threshold"]),
            "consent_id": int(consent) if consent is not None else None,
            "registered_at": _utc(row["created_at"]),
            "revoked_at": _utc(row["revoked_at"]),
            "active": row["revoked_at"] is None,
        }

    # -- confirmations -------------------------------------------------------------------------

    def _settle_hold(self, decision: dict[str, Any], confirmed: bool, actor: str) -> None:
        """The held payment follows the trusted person's answer: declined, it is cancelled;
        confirmed, it is released — unless another reason would hold it anyway (then the case
        flow decides) — as an agent's release is, with the second person above the release
        policy's amount."""
        if self.holds is None:
            return
        others = [
            r
            for r in decision["reasons"]
            if r["code"] != REASON and r.get("action") in ("intercept", "block")
        ]
        if confirmed and others:
            return
        note = (
            "confirmed by the customer's trusted person"
            if confirmed
            else "declined by the customer's trusted person"
        )
        try:
            self.holds.end(
                decision["decision_id"], "release" if confirmed else "cancel", actor, note
            )
        except (NotFound, Conflict):
            pass  # not filed under a case yet, or already ended by the case flow

    def confirm(
        self, decision_id: str, confirmed: bool, by: str, actor: str, ip: str | None = None
    ) -> dict[str, Any]:
        """Record the trusted person's answer on a decision that waits for it: once, and only
        within the policy's hours (a late answer is recorded as expired and refused)."""
        decision = self.decisions.get_decision(decision_id)
        reason = next((r for r in decision["reasons"] if r["code"] == REASON), None)
        if reason is None:
            raise Conflict(
                "this decision does not wait for a trusted person's confirmation",
                errors=[FieldError("decision_id", "not held for a trusted person")],
            )
        now = self.clock()
        requested = _utc(decision["decided_at"])
        assert requested is not None
        expires = requested + timedelta(hours=float(self.policy(now)["confirmation_hours"].value))
        late = now > expires
        status = "expired" if late else ("confirmed" if confirmed else "declined")
        amount = reason["values"].get("amount")
        try:
            with self.db.begin() as conn:
                existing = repo.confirmation(conn, decision_id)
                if existing is not None:
                    raise Conflict(
                        f"the trusted person's answer is already recorded ({existing['status']})",
                        errors=[FieldError("decision_id", f"already {existing['status']}")],
                    )
                repo.insert_confirmation(
                    conn,
                    {
                        "decision_id": decision_id,
                        "customer_id": decision["customer_id"],
                        "status": status,
                        "amount": float(amount) if amount is not None else None,
                        "requested_at": requested,
                        "expires_at": expires,
                        "answered_at": now,
                        "actor": actor,
                    },
                )
                audit.record(
                    conn,
                    actor,
                    f"trusted.{status}",
                    f"decision:{decision_id}",
                    ip,
                    {"by": by, "confirmed": confirmed},
                )
        except IntegrityError:
            raise Conflict(
                "the trusted person's answer is already recorded",
                errors=[FieldError("decision_id", "already answered")],
            ) from None
        if late:
            raise Conflict(
                f"the answer came after {expires.isoformat()}: the request has expired and the "
                "payment stays held for review",
                errors=[FieldError("confirmed", "too late: the request expired")],
            )
        self._settle_hold(decision, confirmed, actor)
        return {
            "decision_id": decision_id,
            "status": status,
            "amount": float(amount) if amount is not None else None,
            "requested_at": requested,
            "expires_at": expires,
            "answered_at": now,
        }
