"""The graph's fold paths agree: ``add_event`` (the live path), ``add_raw`` (rebuilds), ``add``
(the keyword API) and a plain reference fold written out here build the same graph.

``LinkIndex._link`` skips most of its work for a link a customer already has; the reference
below is the fold as it was before that shortcut, so random event streams (repeat links, a
contact-list number that later becomes the customer's own phone, hubs, late events) must leave
both graphs identical.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.events.schemas import Event
from lendguard.graph.index import _PREFIX, _STRONG_SET, LINK_FIELDS, OUTFLOW, LinkIndex
from lendguard.simulate.generator import generate


class _Reference(LinkIndex):
    """The fold without shortcuts: every link goes through every step."""

    def _link(self, customer: str, link_type: str, value: str, ts: float) -> None:
        key = _PREFIX[link_type] + value
        users = self.entities.setdefault(key, {})
        seen = users.get(customer)
        if seen is None:
            users[customer] = [link_type, ts, ts]
            self.customer_entities.setdefault(customer, set()).add(key)
        else:
            if link_type in _STRONG_SET and seen[0] not in _STRONG_SET:
                seen[0] = link_type
            seen[2] = max(seen[2], ts)
        if link_type == "card" and value not in self.card_owner:
            self.card_owner[value] = customer
        if link_type in _STRONG_SET:
            strong = self._strong.setdefault(key, [])
            if len(strong) > self.hub_cap or customer in strong:
                if customer not in strong:
                    strong.append(customer)
                return
            strong.append(customer)
            if len(strong) == 1:
                self._find(customer)
            elif len(strong) <= self.hub_cap:
                self._union(strong[0], customer)
            else:
                self._regroup()

    def fold(self, body: dict[str, Any]) -> None:
        ts = datetime.fromisoformat(body["occurred_at"]).timestamp()
        profile = body.get("customer") or {}
        created = (
            datetime.fromisoformat(profile["created_at"]).timestamp()
            if profile.get("created_at")
            else None
        )
        kind = body["type"]
        if created is None and kind == "registration":
            created = ts
        customer = body["customer_id"]
        self.events += 1
        self.last_seen = max(self.last_seen, ts)
        if ts > self.last_activity.get(customer, 0.0):
            self.last_activity[customer] = ts
        if created is not None and customer not in self.created_at:
            self.created_at[customer] = created
            if customer in self._parent:
                from bisect import insort

                insort(self._created[self._find(customer)], created)
        for link_type, name in LINK_FIELDS.items():
            if _field(body, name):
                self._link(customer, link_type, _field(body, name), ts)
        for phone in (body.get("attributes") or {}).get("contact_phones") or ():
            if phone:
                self._link(customer, "contact", str(phone), ts)
        payee = body.get("payee_id")
        if kind in OUTFLOW and payee:
            self._link(customer, "payee", payee, ts)
        amount = float(body["amount"]) if body.get("amount") is not None else 0.0
        self._money(customer, kind, ts, amount, payee, body.get("payer_id"))


def _field(body: dict[str, Any], name: str) -> Any:
    """A link field of a body: ``session.voice_id`` is inside ``session``."""
    head, _, tail = name.partition(".")
    return body.get(head) if not tail else (body.get(head) or {}).get(tail)


def _dump(index: LinkIndex) -> dict[str, Any]:
    return {
        "entities": index.entities,
        "customer_entities": index.customer_entities,
        "strong": index._strong,
        "groups": sorted(index.groups(1)),
        "created": sorted(sorted(v) for v in index._created.values()),
        "labelled": sorted(index._labelled.values()),
        "created_at": index.created_at,
        "accounts": {k: (a.inbound, a.outbound, a.first_seen) for k, a in index.accounts.items()},
        "card_owner": index.card_owner,
        "mule_peak": index.mule_peak,
        "peak_at": index._peak_at,
        "last_activity": index.last_activity,
        "last_seen": index.last_seen,
        "events": index.events,
    }


T0 = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
_CUSTOMERS = [f"c{i}" for i in range(6)]
_VALUES = ["1", "2", "3"]


@st.composite
def _bodies(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for n in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["login", "deposit", "transfer", "payment", "registration"]))
        body: dict[str, Any] = {
            "event_id": f"e{n}",
            "customer_id": draw(st.sampled_from(_CUSTOMERS)),
            "type": kind,
            # late events too: the offset goes back as well as forward
            "occurred_at": datetime.fromtimestamp(
                T0 + draw(st.integers(-3, 40)) * 3_600, UTC
            ).isoformat(),
            "amount": draw(st.sampled_from([None, 0, 50, 2_000])),
            "currency": "CNY",
        }
        for name in ("device_id", "phone", "card_id", "address_id", "ip"):
            if draw(st.booleans()):
                body[name] = draw(st.sampled_from(_VALUES))
        if draw(st.booleans()):
            # the voice vendor's id of the speaker: a strong link inside the session
            body["session"] = {"voice_id": draw(st.sampled_from(_VALUES))}
        if draw(st.booleans()):
            # a number in a contact list may be another customer's (or their own) phone
            body["attributes"] = {"contact_phones": draw(st.lists(st.sampled_from(_VALUES)))}
        if kind in ("transfer", "payment"):
            body["payee_id"] = draw(st.sampled_from(_VALUES + _CUSTOMERS))
        if kind == "deposit":
            body["payer_id"] = draw(st.sampled_from(_CUSTOMERS))
        out.append(body)
    return out


@settings(max_examples=100, deadline=None)
@given(_bodies(), st.integers(1, 3))
def test_every_fold_path_builds_the_reference_graph(
    bodies: list[dict[str, Any]], hub_cap: int
) -> None:
    reference = _Reference(hub_cap=hub_cap)
    live, raw, keyword = (LinkIndex(hub_cap=hub_cap) for _ in range(3))
    for body in bodies:
        reference.fold(body)
        event = Event.model_validate(body)
        live.add_event(event)
        raw.add_raw(body)
        keyword.add(
            body["customer_id"],
            body["type"],
            event.occurred_at.timestamp(),
            amount=float(body["amount"]) if body.get("amount") is not None else 0.0,
            links={link: _field(body, name) for link, name in LINK_FIELDS.items()},
            contacts=[str(c) for c in (body.get("attributes") or {}).get("contact_phones", [])],
            payee=body.get("payee_id"),
            payer=body.get("payer_id"),
            created_at=event.occurred_at.timestamp() if body["type"] == "registration" else None,
        )
    expected = _dump(reference)
    assert _dump(live) == expected
    assert _dump(raw) == expected
    assert _dump(keyword) == expected


def test_a_generated_population_folds_alike() -> None:
    """Rings, mules, kiosks and households: the live path builds the reference graph."""
    population = generate(2_000, days=10, seed=5, ring_members_rate=0.03, mule_rate=0.02)
    reference, live = _Reference(), LinkIndex()
    for body in population.events:
        reference.fold(body)
        live.add_event(Event.model_validate(body))
    assert live.groups(2)
    assert _dump(live) == _dump(reference)
