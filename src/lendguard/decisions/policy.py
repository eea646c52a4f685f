"""Policy: turn rule hits into one action on the ladder, with guardrails.

Order: the customer's own money lock (and kill switch), then deny lists, then allow lists and
per-customer suppressions (they decide which rule hits count), then "highest action wins", then
guardrails that protect the customer from the engine itself (a repayment is never blocked; a
vulnerable customer who is dissuaded gets a human call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from lendguard.decisions.rules.loader import Action, Measure
from lendguard.events.schemas import Event, EventType

LIST_FIELDS = ("customer", "device", "payee", "ip", "card")


def epoch_seconds(moment: datetime) -> float:
    """A stored instant as the epoch seconds the engine compares (a naive one is UTC: SQLite
    gives back what was written without its zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# Events that move money out or take new credit: what a money lock stops. A limit change counts
# only when it raises the limit (a customer lowering their own limit is protecting themselves).
LOCKED_OUTFLOW_TYPES = frozenset({EventType.transfer, EventType.withdrawal, EventType.payment})
LOCKED_CREDIT_TYPES = frozenset({EventType.application, EventType.disbursement})


@dataclass(frozen=True, slots=True)
class LockState:
    """A customer's money lock as the engine sees it (issue #19).

    ``since``: when the lock was made (epoch seconds), the line between the customer's own
    devices and new ones for the kill switch. ``until``: when a cooling-off unlock takes effect
    (epoch seconds of the event's time); None while locked with no unlock asked for. Only locks
    in force or waiting out a cooling-off are in the view: an unlocked customer has no entry.
    """

    since: float
    kill_switch: bool = False
    until: float | None = None

    def active(self, ts: float) -> bool:
        """Whether the lock still holds for an event at ``ts``."""
        return self.until is None or ts < self.until


@dataclass(slots=True)
class ListsView:
    """Allow/deny lists, suppressions and customers' own controls as the engine sees them at
    one instant.

    ``allow``/``deny`` map a list field (customer, device, payee, ip, card) to
    ``{value: expires_at_epoch_or_None}``; ``suppressions`` map ``(customer_id, rule_id)`` to an
    expiry. ``locks`` maps a customer id (as stored: the pseudonym of an id holding personal
    information, as the events carry it) to its money lock; ``trusted`` maps a customer id to
    the amount above which their trusted person must confirm an outflow. Both are empty for
    almost every deployment, so the engine's cost without them is one truthiness check each.
    """

    allow: dict[str, dict[str, float | None]] = field(default_factory=dict)
    deny: dict[str, dict[str, float | None]] = field(default_factory=dict)
    suppressions: dict[tuple[str, str], float] = field(default_factory=dict)
    locks: dict[str, LockState] = field(default_factory=dict)
    trusted: dict[str, float] = field(default_factory=dict)

    def _hit(
        self, table: dict[str, dict[str, float | None]], event: Event, ts: float
    ) -> str | None:
        if not table:
            return None
        values = {
            "customer": event.customer_id,
            "device": event.device_id,
            "payee": event.payee_id,
            "ip": event.ip,
            "card": event.card_id,
        }
        for kind, value in values.items():
            if value is None:
                continue
            entries = table.get(kind)
            if not entries or value not in entries:
                continue
            expires = entries[value]
            if expires is None or expires > ts:
                return kind
        return None

    def allowed(self, event: Event, ts: float) -> str | None:
        return self._hit(self.allow, event, ts)

    def denied(self, event: Event, ts: float) -> str | None:
        return self._hit(self.deny, event, ts)

    def suppressed(self, customer_id: str, rule_id: str, ts: float) -> bool:
        if not self.suppressions:
            return False
        until = self.suppressions.get((customer_id, rule_id))
        return until is not None and until > ts


EMPTY_LISTS = ListsView()

_NEVER_HOLD_TYPES = frozenset({EventType.repayment})
# Measures that hold the money (a repayment never gets one; a lowered action drops them).
HOLDING_MEASURES = frozenset({Measure.DELAY, Measure.RESTRICT, Measure.SUSPEND})


@dataclass(slots=True)
class Guardrail:
    code: str
    detail: str


def apply_guardrails(
    event: Event,
    action: Action,
    measures: list[Measure],
    vulnerable: bool,
) -> tuple[Action, list[Measure], list[Guardrail]]:
    """Customer-protecting limits on what the engine may do."""
    notes: list[Guardrail] = []
    if event.type in _NEVER_HOLD_TYPES and action.rank > Action.remind.rank:
        notes.append(
            Guardrail(
                "REPAYMENT_NEVER_BLOCKED",
                f"{action.value} lowered to remind: a repayment is never held",
            )
        )
        action = Action.remind
        measures = [m for m in measures if m not in HOLDING_MEASURES]
    if vulnerable and action == Action.dissuade and Measure.CALLBACK not in measures:
        notes.append(
            Guardrail(
                "VULNERABLE_HUMAN_CALLBACK",
                "dissuasion of a vulnerable customer is done by a human callback",
            )
        )
        measures = [*measures, Measure.CALLBACK]
    return action, measures, notes


def strongest(actions: list[Action]) -> Action:
    best = Action.allow
    for a in actions:
        if a.rank > best.rank:
            best = a
    return best
