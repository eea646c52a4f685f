"""What the feature engine needs from an entity-link graph, as an interface it is handed.

The features for rings, shared identifiers and mules read a graph of who shares which device,
phone, card or address. The feature engine does not build that graph or import the area that
does: its callers (the decision service, replay, training) hand it any object with these
methods, so the engine stays below the areas and a test can hand it a small fake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

# The event field that carries each strong link type (one that joins customers into a group; a
# dotted name is a field of one of the event's objects, read with ``operator.attrgetter``).
# The graph keys its links by the same names; tests/decisions/test_features.py checks the two
# stay the same.
STRONG_LINK_FIELDS: Mapping[str, str] = {
    "device": "device_id",
    "phone": "phone",
    "card": "card_id",
    "address": "address_id",
    "voice": "session.voice_id",
}


class LinkGraph(Protocol):
    """The entity-link graph as the features read it, and as :func:`apply_event` grows it."""

    def ring_view(
        self, customer: str, strong_links: Mapping[str, str | None], now: float
    ) -> tuple[int, float, float]:
        """(group size, share with fraud labels, share opened in the last 30 days)."""
        ...

    def shared_identifier_types(self, customer: str, strong_links: Mapping[str, str | None]) -> int:
        """Kinds of strong identifier this customer shares with another customer."""
        ...

    def mule_score(self, account_key: str, now: float) -> float:
        """0–1: how much the customer's account looks like a money mule at ``now``."""
        ...

    def payee_mule_score(self, payee: str | None, now: float) -> float:
        """0–1: how much the payee's account looks like a money mule at ``now``."""
        ...

    def add_event(self, event: Any) -> None:
        """Fold in a validated event (after it was decided). A graph may also offer
        ``add_decided(event, ts, kind, amount)``, the same fold given the event's timestamp,
        type value and amount as the decision read them: ``apply_event`` calls it where it
        exists (``lendguard.graph.index.LinkIndex`` does)."""
        ...
