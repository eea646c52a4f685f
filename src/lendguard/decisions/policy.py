"""Policy: turn rule hits into one action on the ladder, with guardrails.

Order: deny lists, then allow lists and per-customer suppressions (they decide which rule hits
count), then "highest action wins", then guardrails that protect the customer from the engine
itself (a repayment is never blocked; a vulnerable customer who is dissuaded gets a human call).
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


@dataclass(slots=True)
class ListsView:
    """Allow/deny lists and suppressions as the engine sees them at one instant.

    ``allow``/``deny`` map a list field (customer, device, payee, ip, card) to
    ``{value: expires_at_epoch_or_None}``; ``suppressions`` map ``(customer_id, rule_id)`` to an
    expiry.
    """

    allow: dict[str, dict[str, float | None]] = field(default_factory=dict)
    deny: dict[str, dict[str, float | None]] = field(default_factory=dict)
    suppressions: dict[tuple[str, str], float] = field(default_factory=dict)

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
_HOLDING_MEASURES = frozenset({Measure.DELAY, Measure.RESTRICT, Measure.SUSPEND})


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
        measures = [m for m in measures if m not in _HOLDING_MEASURES]
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
