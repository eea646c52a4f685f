"""The money lock and kill switch (issue #19, item 3).

A customer, in the lender's app or through an agent, locks their money: every outflow and every
new credit is blocked by the decision engine until an unlock that needs a stronger verification
than the app (policy ``interventions/locks.yaml``: in person, by video, or a cooling-off during
which the lock keeps holding). The kill switch also suspends every session on a device new
since the lock. Scammers coach victims to unlock; so locking is always easy and immediate, and
unlocking is verified, recorded and, for a cooling-off, delayed.

Every change is a compare-and-set on the lock's revision, written with its history step and its
audit entry in one transaction; then the engine's view of the locks is rebuilt, so the next
decision in this process sees it, and the audit entry is the cue for other processes to reload
theirs (``DecisionService.follow_configuration``, at most a second later).

The engine compares an event's own time with a cooling-off's end, so a pending unlock takes
effect without any further call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from lendguard.auth import audit
from lendguard.decisions.policy import epoch_seconds
from lendguard.decisions.service import DecisionService
from lendguard.errors import Conflict, FieldError, LendGuardError, NotFound, ValidationFailed
from lendguard.interventions.lock_repository import lock_repository as repo
from lendguard.policies import Policy, load_policy
from lendguard.privacy import intake

POLICY_KIND = "interventions"
POLICY_NAME = "locks"
VERIFIED_METHODS = ("in_person", "video")
CHANNELS = ("app", "agent")
_ATTEMPTS = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _utc(moment: datetime | None) -> datetime | None:
    """A stored instant with its zone (SQLite gives back what was written without it)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def effective_state(row: dict[str, Any], now: datetime) -> str:
    """The lock's state as it stands at ``now``: a cooling-off unlock whose time has come is
    unlocked, though its row still says unlock_pending (nothing runs to change it)."""
    state = str(row["state"])
    until = row["unlock_effective_at"]
    if state == "unlock_pending" and until is not None:
        if epoch_seconds(until) <= epoch_seconds(now):
            return "unlocked"
    return state


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


class LockService:
    """Locks, unlocks and reads a customer's money lock. ``clock`` gives "now" (tests pin it);
    ``policy_directory`` overrides where ``locks.yaml`` is read from."""

    def __init__(
        self,
        decisions: DecisionService,
        clock: Callable[[], datetime] | None = None,
        policy_directory: str | None = None,
    ) -> None:
        self.decisions = decisions
        self.db = decisions.db
        self.clock = clock or (lambda: datetime.now(UTC))
        self.policy_directory = policy_directory

    def policy(self, on: datetime) -> Policy:
        return load_policy(POLICY_KIND, POLICY_NAME, on.date(), self.policy_directory)

    def _stored(self, customer_id: str) -> str:
        """The id as the events carry it (an id holding personal information is stored as its
        pseudonym), so the lock meets the customer's events."""
        _checked_customer(customer_id)
        return intake.stored_identifier(customer_id, self.decisions.pii_key)

    def _publish(self) -> None:
        """Rebuild the engine's view (lists, suppressions, locks, trusted persons): the next
        decision in this process sees the change."""
        with self.decisions.configuration.lock:
            self.decisions.lists.reload()

    # -- lock --------------------------------------------------------------------------------

    def lock(
        self,
        customer_id: str,
        channel: str,
        kill_switch: bool,
        actor: str,
        note: str | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Lock (or keep locked) the customer's money. Locking a locked customer changes
        nothing, unless it turns the kill switch on; locking during a cooling-off cancels the
        pending unlock (a customer coached into unlocking can always change their mind)."""
        if channel not in CHANNELS:
            raise ValidationFailed(
                "invalid lock", errors=[FieldError("channel", f"one of {', '.join(CHANNELS)}")]
            )
        stored = self._stored(customer_id)
        for attempt in range(_ATTEMPTS):
            try:
                changed = self._lock_once(stored, channel, kill_switch, actor, note, ip)
            except IntegrityError:
                # Two first locks of one customer at once: the other one's row is there now.
                if attempt == _ATTEMPTS - 1:
                    raise
                continue
            if changed is None:
                continue  # the row moved under us: read it again
            if changed:
                self._publish()
            return self.view(customer_id)
        raise Conflict(
            "the lock kept changing while it was being locked; send the request again",
            errors=[FieldError("customer_id", "changed by another request")],
        )

    def _lock_once(
        self,
        stored: str,
        channel: str,
        kill_switch: bool,
        actor: str,
        note: str | None,
        ip: str | None,
    ) -> bool | None:
        """One try: True when something changed, False when the lock already stood as asked,
        None when another request changed the row first."""
        masked_note = intake.mask_text_in(note) if note else None
        with self.db.begin() as conn:
            now = self.clock()
            row = repo.get(conn, stored)
            state = effective_state(row, now) if row is not None else "unlocked"
            detail: dict[str, Any] = {"channel": channel, "kill_switch": kill_switch}
            if masked_note:
                detail["note"] = masked_note
            if row is None:
                repo.insert(
                    conn,
                    {
                        "customer_id": stored,
                        "state": "locked",
                        "kill_switch": kill_switch,
                        "locked_at": now,
                        "locked_by": actor,
                        "channel": channel,
                        "updated_at": now,
                        "revision": 1,
                    },
                )
                kind = "locked"
            elif state == "locked":
                if not kill_switch or row["kill_switch"]:
                    return False
                kind = "kill_switch_on"
                values: dict[str, Any] = {"kill_switch": True, "updated_at": now}
                if not repo.update_if_revision(conn, stored, row["revision"], values):
                    return None
            else:
                pending = state == "unlock_pending"
                values = {
                    "state": "locked",
                    "unlock_method": None,
                    "unlock_reference": None,
                    "unlock_effective_at": None,
                    "updated_at": now,
                }
                if pending:
                    # The cooling-off is cancelled; the lock it was undoing still stands.
                    kind = "relocked"
                    values["kill_switch"] = bool(row["kill_switch"]) or kill_switch
                else:
                    kind = "locked"
                    values.update(
                        kill_switch=kill_switch, locked_at=now, locked_by=actor, channel=channel
                    )
                if not repo.update_if_revision(conn, stored, row["revision"], values):
                    return None
            repo.add_step(conn, stored, kind, now, actor, detail)
            audit.record(
                conn,
                actor,
                f"locks.{kind}",
                f"customer_lock:{stored}",
                ip,
                {"channel": channel, "kill_switch": kill_switch},
            )
        return True

    # -- unlock ------------------------------------------------------------------------------

    def unlock(
        self,
        customer_id: str,
        method: str,
        revision: int,
        actor: str,
        reference: str | None = None,
        verified_by: str | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Undo the lock with a verification the policy accepts: in person or by video now,
        or a cooling-off that takes effect after the policy's hours (the lock keeps holding
        until then). ``revision`` must be the lock's current one (409 otherwise)."""
        now = self.clock()
        policy = self.policy(now)
        self._check_unlock(policy, method, reference, verified_by)
        stored = self._stored(customer_id)
        # Free text typed by staff: a phone or ID number in it is kept (and answered) masked,
        # as the lock's note is.
        reference = intake.mask_text_in(reference) if reference is not None else None
        verified_by = intake.mask_text_in(verified_by) if verified_by is not None else None
        with self.db.begin() as conn:
            row = repo.get(conn, stored)
            state = effective_state(row, now) if row is not None else "unlocked"
            if row is None or state == "unlocked":
                raise Conflict(
                    "the customer's money is not locked: there is nothing to unlock",
                    errors=[FieldError("customer_id", "not locked")],
                )
            if row["revision"] != revision:
                raise _stale(revision, row["revision"])
            detail: dict[str, Any] = {"method": method}
            if reference is not None:
                detail["reference"] = reference
            if verified_by is not None:
                detail["verified_by"] = verified_by
            if method == "cooling_off":
                if state == "unlock_pending":
                    until = _utc(row["unlock_effective_at"])
                    raise Conflict(
                        "a cooling-off unlock is already running",
                        errors=[
                            FieldError(
                                "method",
                                f"already waiting until {until.isoformat() if until else '?'}",
                            )
                        ],
                    )
                hours = float(policy["cooling_off_hours"].value)
                effective = now + timedelta(hours=hours)
                kind = "unlock_requested"
                values: dict[str, Any] = {"state": "unlock_pending"}
                detail["cooling_off_hours"] = hours
            else:
                effective = now
                kind = "unlocked"
                values = {"state": "unlocked", "kill_switch": False}
            values.update(
                unlock_method=method,
                unlock_reference=reference,
                unlock_effective_at=effective,
                updated_at=now,
            )
            detail["effective_at"] = effective.isoformat()
            if not repo.update_if_revision(conn, stored, revision, values):
                current = repo.get(conn, stored)
                raise _stale(revision, current["revision"] if current else revision)
            repo.add_step(conn, stored, kind, now, actor, detail)
            audit.record(
                conn,
                actor,
                f"locks.{kind}",
                f"customer_lock:{stored}",
                ip,
                {"method": method, "effective_at": effective.isoformat()},
            )
        self._publish()
        return self.view(customer_id)

    @staticmethod
    def _check_unlock(
        policy: Policy, method: str, reference: str | None, verified_by: str | None
    ) -> None:
        accepted = [str(m) for m in policy["unlock_methods"].value]
        errors: list[FieldError] = []
        if method not in accepted:
            errors.append(FieldError("method", f"not accepted: one of {', '.join(accepted)}"))
        elif method in VERIFIED_METHODS:
            what = "the branch visit id" if method == "in_person" else "the video call id"
            for name, value, means in (
                ("reference", reference, what),
                ("verified_by", verified_by, "who verified the customer"),
            ):
                if value is None or not value.strip():
                    errors.append(FieldError(name, f"required for {method}: {means}"))
        if errors:
            raise ValidationFailed("invalid unlock", errors=errors)

    # -- read --------------------------------------------------------------------------------

    def view(self, customer_id: str) -> dict[str, Any]:
        """The lock as it stands now, with its history; 404 when the customer never locked."""
        stored = self._stored(customer_id)
        with self.db.connect() as conn:
            row = repo.get(conn, stored)
            history = repo.history(conn, stored) if row is not None else []
        if row is None:
            raise NotFound("the customer has never locked their money")
        now = self.clock()
        return {
            "customer_id": customer_id,
            "state": effective_state(row, now),
            "kill_switch": bool(row["kill_switch"]),
            "locked_at": _utc(row["locked_at"]),
            "channel": row["channel"],
            "unlock_method": row["unlock_method"],
            "unlock_effective_at": _utc(row["unlock_effective_at"]),
            "revision": row["revision"],
            "history": [{**step, "at": _utc(step["at"])} for step in history],
        }


def _stale(sent: int, current: int) -> LendGuardError:
    return Conflict(
        f"the lock changed since revision {sent}: read it again and retry",
        errors=[FieldError("revision", f"current is {current}")],
    )
