"""The live entity-link graph: customers joined by what they share, updated event by event.

Gangs ("black and gray industry") reuse devices, SIM cards, bank cards and addresses across many
identities (and the same few voices speak for all of them), and mule accounts collect money from
many unrelated people. This index keeps, per shared entity, who used it and when, and joins
customers that share a *strong* entity (device, phone, card, address, voice) in a union-find
forest, so the size of a customer's linked group, the share
of it with confirmed fraud labels and the share of freshly opened accounts are a few dictionary
look-ups away at decision time (microseconds; measured in ``bench/graph_features.py``).

Weak links (an IP address, with time decay; a payee two customers both paid; a phone number in a
contact list) never merge groups: honest students share a campus Wi-Fi address and honest people
pay the same landlord. They feed the weighted graph that :mod:`lendguard.graph.rings` partitions
with Leiden in batch.

Why hand-written rather than igraph here: igraph graphs are immutable in size-efficient form and
rebuilding one per event would cost milliseconds; an incremental union-find costs microseconds.
The batch side (:mod:`lendguard.graph.rings`) uses igraph.

Point in time: the features of an event count the event's own links (they are part of what is
being decided, not the future), and everything before it; :meth:`LinkIndex.add` folds the event
in after the decision, like the window state.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

# Link types, their weight in the batch graph and whether they join groups. A voice is the voice
# vendor's opaque id of a speaker (``session.voice_id``; never a voiceprint): one voice heard on
# several customers' sessions (a contact with an agent, a voice check) is one person behind them.
STRONG = ("device", "phone", "card", "address", "voice")
_STRONG_SET = frozenset(STRONG)
# The event field each linkable identifier comes from (strong ones first; IP is weak); a dotted
# name is a field of one of the event's objects.
STRONG_FIELDS = {
    "device": "device_id",
    "phone": "phone",
    "card": "card_id",
    "address": "address_id",
    "voice": "session.voice_id",
}
LINK_FIELDS = {**STRONG_FIELDS, "ip": "ip"}
# One C-level call reads every link field of an event, in LINK_FIELDS order.
_read_link_fields = attrgetter(*LINK_FIELDS.values())


def _raw_field(body: Mapping[str, Any], name: str) -> Any:
    """The value of a :data:`LINK_FIELDS` name in an event's JSON body (``session.voice_id``
    inside ``session``); None when absent."""
    if "." not in name:
        return body.get(name)
    head, _, tail = name.partition(".")
    inner = body.get(head)
    return inner.get(tail) if isinstance(inner, Mapping) else None


WEAK = ("ip", "payee", "contact")
LINK_WEIGHT: dict[str, float] = {
    "device": 1.0,
    "phone": 1.0,
    "card": 1.0,
    "address": 0.6,
    "voice": 1.0,
    "ip": 0.3,
    "payee": 0.4,
    "contact": 0.3,
}
_PREFIX = {
    "device": "d:",
    "phone": "ph:",
    "card": "k:",
    "address": "a:",
    "voice": "v:",
    "ip": "i:",
    "payee": "p:",
    "contact": "ph:",
}
# An entity shared by more customers than this stops joining groups (a shop's card reader, a
# lender's own payee, a carrier-grade NAT); it is still recorded and counted.
HUB_CAP = 50
# IP links fade: weight x 2^(-age / half-life).
IP_HALF_LIFE_S = 7 * 86_400
NEW_ACCOUNT_S = 30 * 86_400
# Mule view of an account: inbound and outbound money over this window.
MULE_WINDOW_S = 3 * 86_400
MULE_MEMORY_HALF_LIFE_S = 30 * 86_400
OUTFLOW = frozenset({"transfer", "withdrawal", "payment"})


@dataclass(slots=True)
class _Account:
    """Money in and out of one account (a customer's own, or a payee seen from our side)."""

    inbound: list[tuple[float, str, float]]
    outbound: list[tuple[float, float]]
    first_seen: float

    def trim(self, now: float) -> None:
        cut = now - MULE_WINDOW_S
        if self.inbound and self.inbound[0][0] <= cut:
            self.inbound = [x for x in self.inbound if x[0] > cut]
        if self.outbound and self.outbound[0][0] <= cut:
            self.outbound = [x for x in self.outbound if x[0] > cut]


def _ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


class LinkIndex:
    """Customers, the entities they use, groups over strong links, and mule statistics."""

    def __init__(
        self, hub_cap: int = HUB_CAP, card_alias: Callable[[str], str] | None = None
    ) -> None:
        self.hub_cap = hub_cap
        # Card numbers reach the engine pseudonymised (keyed hash) while payee account ids do
        # not: ``card_alias`` maps a payee id into the card namespace, so money paid to a
        # customer's own card finds that customer.
        self.card_alias = card_alias
        # entity key -> customer -> [link type, first seen, last seen]
        self.entities: dict[str, dict[str, list[Any]]] = {}
        # customer -> entity keys
        self.customer_entities: dict[str, set[str]] = {}
        # entity key -> customers joined through it (strong links only)
        self._strong: dict[str, list[str]] = {}
        # union-find over customers
        self._parent: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}
        self._created: dict[str, list[float]] = {}  # root -> sorted account-opening times
        self._labelled: dict[str, int] = {}  # root -> customers with a confirmed fraud label
        self.fraud_customers: set[str] = set()
        # customer -> ids of the events whose fraud label marks it (a label 0 on the last of
        # them clears the mark); a mark given without an event id is kept under "".
        self._fraud_events: dict[str, set[str]] = {}
        self.created_at: dict[str, float] = {}
        self.accounts: dict[str, _Account] = {}
        self.card_owner: dict[str, str] = {}
        self.mule_peak: dict[str, float] = {}
        self._peak_at: dict[str, tuple[float, float]] = {}
        self.last_activity: dict[str, float] = {}
        self.last_seen = 0.0
        self.events = 0

    # -- union-find ------------------------------------------------------------------------------

    def _find(self, customer: str) -> str:
        parent = self._parent
        root = parent.get(customer)
        if root is None:
            parent[customer] = customer
            self._members[customer] = [customer]
            created = self.created_at.get(customer)
            self._created[customer] = [created] if created is not None else []
            self._labelled[customer] = 1 if customer in self.fraud_customers else 0
            return customer
        if root == customer:
            return customer
        path = [customer]
        while parent[root] != root:
            path.append(root)
            root = parent[root]
        for node in path:
            parent[node] = root
        return root

    def _union(self, a: str, b: str) -> str:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return ra
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._members[ra].extend(self._members.pop(rb))
        created = self._created[ra]
        for value in self._created.pop(rb):
            insort(created, value)
        self._labelled[ra] += self._labelled.pop(rb)
        return ra

    def groups(self, min_size: int = 2) -> list[list[str]]:
        """Every group of ``min_size`` or more customers joined by strong links, sorted."""
        return [sorted(members) for members in self._members.values() if len(members) >= min_size]

    def snapshot(self) -> LinkIndex:
        """A copy to read at leisure (batch detection, the console) while this one keeps
        folding events in; take it under the lock that guards this index."""
        copy = LinkIndex(hub_cap=self.hub_cap, card_alias=self.card_alias)
        copy.entities = {
            key: {c: list(seen) for c, seen in users.items()}
            for key, users in self.entities.items()
        }
        copy.customer_entities = {c: set(keys) for c, keys in self.customer_entities.items()}
        copy._strong = {key: list(users) for key, users in self._strong.items()}
        copy._parent = dict(self._parent)
        copy._members = {root: list(m) for root, m in self._members.items()}
        copy._created = {root: list(c) for root, c in self._created.items()}
        copy._labelled = dict(self._labelled)
        copy.fraud_customers = set(self.fraud_customers)
        copy._fraud_events = {c: set(ids) for c, ids in self._fraud_events.items()}
        copy.created_at = dict(self.created_at)
        copy.accounts = {
            key: _Account(list(a.inbound), list(a.outbound), a.first_seen)
            for key, a in self.accounts.items()
        }
        copy.card_owner = dict(self.card_owner)
        copy.mule_peak = dict(self.mule_peak)
        copy._peak_at = dict(self._peak_at)
        copy.last_activity = dict(self.last_activity)
        copy.last_seen = self.last_seen
        copy.events = self.events
        return copy

    def group(self, customer: str) -> list[str]:
        """The customers joined to ``customer`` by strong links (itself included)."""
        if customer not in self._parent:
            return [customer]
        return list(self._members[self._find(customer)])

    def group_size(self, customer: str) -> int:
        if customer not in self._parent:
            return 1
        return len(self._members[self._find(customer)])

    # -- folding events in -----------------------------------------------------------------------

    def add(
        self,
        customer: str,
        kind: str,
        ts: float,
        *,
        amount: float = 0.0,
        links: Mapping[str, str | None] | None = None,
        contacts: Iterable[str] = (),
        payee: str | None = None,
        payer: str | None = None,
        created_at: float | None = None,
    ) -> None:
        """Fold one decided event in: its links, its account opening time, its money."""
        self._add(
            customer,
            kind,
            ts,
            amount,
            tuple((links or {}).items()),
            contacts,
            payee,
            payer,
            created_at,
        )

    def _add(
        self,
        customer: str,
        kind: str,
        ts: float,
        amount: float,
        links: Iterable[tuple[str, Any]],
        contacts: Iterable[str],
        payee: str | None,
        payer: str | None,
        created_at: float | None,
    ) -> None:
        """:meth:`add` with the links as (type, value) pairs: the one place events are folded
        in (every event passes here, so it takes positional arguments and nothing optional)."""
        self.events += 1
        if ts > self.last_seen:
            self.last_seen = ts
        if ts > self.last_activity.get(customer, 0.0):
            self.last_activity[customer] = ts
        if created_at is not None and customer not in self.created_at:
            self.created_at[customer] = created_at
            root = self._parent.get(customer)
            if root is not None:
                insort(self._created[self._find(customer)], created_at)
        link = self._link
        for link_type, value in links:
            if value:
                link(customer, link_type, value, ts)
        for phone in contacts:
            if phone:
                link(customer, "contact", phone, ts)
        outflow = kind in OUTFLOW
        if outflow and payee:
            link(customer, "payee", payee, ts)
        if amount > 0 and (outflow or kind == "deposit"):
            self._money(customer, kind, ts, amount, payee, payer)

    def _link(self, customer: str, link_type: str, value: str, ts: float) -> None:
        key = _PREFIX[link_type] + value
        users = self.entities.get(key)
        if users is None:
            users = self.entities[key] = {}
            seen = None
        else:
            seen = users.get(customer)
            if seen is not None and (link_type not in _STRONG_SET or seen[0] in _STRONG_SET):
                # A link this customer already has (most events): a customer whose link is
                # already strong is in the entity's strong list (it was added when the link
                # became strong), so nothing but the time changes.
                if ts > seen[2]:
                    seen[2] = ts
                if link_type == "card" and value not in self.card_owner:
                    self.card_owner[value] = customer
                return
        if seen is None:
            users[customer] = [link_type, ts, ts]
            self.customer_entities.setdefault(customer, set()).add(key)
        else:
            if link_type in _STRONG_SET and seen[0] not in _STRONG_SET:
                seen[0] = link_type  # a contact-list number that is also their own phone
            seen[2] = max(seen[2], ts)
        if link_type == "card" and value not in self.card_owner:
            self.card_owner[value] = customer
        if link_type in _STRONG_SET:
            strong = self._strong.setdefault(key, [])
            if len(strong) > self.hub_cap or customer in strong:
                if customer not in strong:
                    strong.append(customer)  # a hub: counted, joins nobody
                return
            strong.append(customer)
            if len(strong) == 1:
                self._find(customer)
            elif len(strong) <= self.hub_cap:
                self._union(strong[0], customer)
            else:
                # The entity just became a hub: the joins it made were wrong all along.
                self._regroup()

    def _regroup(self) -> None:
        """Rebuild the union-find from the strong entities that are not hubs (rare: when an
        entity crosses the hub cap)."""
        people = list(self._parent)
        self._parent, self._members, self._created, self._labelled = {}, {}, {}, {}
        for person in people:
            self._find(person)
        for users in self._strong.values():
            if 1 < len(users) <= self.hub_cap:
                first = users[0]
                for other in users[1:]:
                    self._union(first, other)

    def _money(
        self,
        customer: str,
        kind: str,
        ts: float,
        amount: float,
        payee: str | None,
        payer: str | None,
    ) -> None:
        if kind == "deposit" and amount > 0:
            account = self._account(customer, ts)
            account.trim(ts)
            account.inbound.append((ts, payer or "", amount))
            self._peak(customer, ts)
        elif kind in OUTFLOW and amount > 0:
            own = self.accounts.get(customer)
            if own is not None:
                own.trim(ts)
                own.outbound.append((ts, amount))
                self._peak(customer, ts)
            if payee and self._card_holder(payee) is None:
                seen = self._account("p:" + payee, ts)
                seen.trim(ts)
                seen.inbound.append((ts, customer, amount))

    def _peak(self, customer: str, ts: float) -> None:
        """Keep each account's highest mule score so far (what batch flagging reads) and when
        it was reached (what :meth:`suspected_mule` decays)."""
        score = self._window_score(customer, ts)
        if score > self.mule_peak.get(customer, 0.0):
            self.mule_peak[customer] = score
        # The remembered peak is the one that weighs most *now*: a later, lower burst replaces
        # an old peak that has faded below it (a mule coming back stays suspect).
        remembered = self._peak_at.get(customer)
        if score > 0.0 and (remembered is None or score >= self._faded(remembered, ts)):
            self._peak_at[customer] = (score, ts)

    def _account(self, key: str, ts: float) -> _Account:
        account = self.accounts.get(key)
        if account is None:
            account = self.accounts[key] = _Account([], [], ts)
        return account

    def add_event(self, event: Any) -> None:
        """Fold in a validated :class:`lendguard.events.schemas.Event`."""
        amount = event.amount
        self.add_decided(
            event,
            event.occurred_at.timestamp(),
            event.type.value,
            float(amount) if amount is not None else 0.0,
        )

    def add_decided(self, event: Any, ts: float, kind: str, amount: float) -> None:
        """:meth:`add_event` with the event's timestamp, type value and amount (0.0 when it
        has none) as the decision already read them: ``apply_event`` folds every decided
        event in through here, so they are not read twice.

        The same mapping as :meth:`_fold` (tests hold the two to the same graph), written out
        for the live path.
        """
        profile = event.customer
        created = profile.created_at.timestamp() if profile and profile.created_at else None
        if created is None and kind == "registration":
            created = ts
        contacts = event.attributes.get("contact_phones")
        self._add(
            event.customer_id,
            kind,
            ts,
            amount,
            zip(LINK_FIELDS, _read_link_fields(event), strict=True),
            [str(c) for c in contacts] if isinstance(contacts, list) else (),
            event.payee_id,
            event.payer_id,
            created,
        )

    def add_raw(self, body: Mapping[str, Any]) -> None:
        """Fold in an event as the JSON the API took (history rebuilds skip validation cost)."""
        profile = body.get("customer") or {}
        created = _ts(profile["created_at"]) if profile.get("created_at") else None
        self._fold(
            str(body["customer_id"]),
            str(body["type"]),
            _ts(body["occurred_at"]),
            body.get("amount"),
            created,
            body.get("attributes") or {},
            {link: _raw_field(body, name) for link, name in LINK_FIELDS.items()},
            body.get("payee_id"),
            body.get("payer_id"),
        )

    def _fold(
        self,
        customer: str,
        kind: str,
        ts: float,
        amount: Any,
        created: float | None,
        attributes: Mapping[str, Any],
        links: dict[str, Any],
        payee: Any,
        payer: Any,
    ) -> None:
        """The one mapping from an event's fields (``links``: :data:`LINK_FIELDS` read from it)
        to links and money."""
        if created is None and kind == "registration":
            created = ts
        contacts = attributes.get("contact_phones")
        self._add(
            customer,
            kind,
            ts,
            float(amount) if amount is not None else 0.0,
            links.items(),
            [str(c) for c in contacts] if isinstance(contacts, list) else (),
            payee,
            payer,
            created,
        )

    def mark_fraud(self, customer: str, event_id: str | None = None) -> None:
        """A confirmed fraud label (case resolution, chargeback) on one of the customer's
        events: counts from now on, until a label 0 clears every event that marked it."""
        self._fraud_events.setdefault(customer, set()).add(event_id or "")
        if customer in self.fraud_customers:
            return
        self.fraud_customers.add(customer)
        if customer in self._parent:
            self._labelled[self._find(customer)] += 1

    def clear_fraud(self, customer: str, event_id: str | None = None) -> None:
        """A label 0 (a corrected label) on ``event_id``: the customer stays marked while
        another of its events holds a fraud label; ``event_id`` None clears them all."""
        marks = self._fraud_events.get(customer)
        if marks is not None:
            if event_id is None:
                marks.clear()
            else:
                marks.discard(event_id)
            if marks:
                return
            del self._fraud_events[customer]
        if customer not in self.fraud_customers:
            return
        self.fraud_customers.discard(customer)
        if customer in self._parent:
            self._labelled[self._find(customer)] -= 1

    # -- features --------------------------------------------------------------------------------

    def ring_roots(self, customer: str, strong_links: Mapping[str, str | None]) -> set[str]:
        """Roots of the groups this customer would join if this event's own links count."""
        roots = {self._find(customer)} if customer in self._parent else set()
        for link_type, value in strong_links.items():
            if not value:
                continue
            users = self._strong.get(_PREFIX[link_type] + value)
            if users and len(users) < self.hub_cap:
                roots.add(self._find(users[0]))
        return roots

    def shared_identifier_types(self, customer: str, strong_links: Mapping[str, str | None]) -> int:
        """Kinds of strong identifier this customer shares with someone else (the event's own
        links included)."""
        kinds: set[str] = set()
        cap = self.hub_cap
        for key in self.customer_entities.get(customer, ()):
            users = self._strong.get(key)
            if users is not None and 1 < len(users) <= cap and customer in users:
                kinds.add(self.entities[key][customer][0])
        for link_type, value in strong_links.items():
            if value and link_type not in kinds:
                users = self._strong.get(_PREFIX[link_type] + value)
                if users and len(users) < cap and (len(users) > 1 or users[0] != customer):
                    kinds.add(link_type)
        return len(kinds)

    def ring_view(
        self, customer: str, strong_links: Mapping[str, str | None], now: float
    ) -> tuple[int, float, float]:
        """(group size, share with fraud labels, share opened in the last 30 days) for an event.

        The event's customer counts once, whether or not it is in the index yet.
        """
        # ring_roots inlined (this runs for most events): the usual answer is one root.
        known = customer in self._parent
        find = self._find
        first = find(customer) if known else None
        extra: list[str] | None = None
        strong, cap = self._strong, self.hub_cap
        for link_type, value in strong_links.items():
            if not value:
                continue
            users = strong.get(_PREFIX[link_type] + value)
            if users and len(users) < cap:
                root = find(users[0])
                if first is None:
                    first = root
                elif root != first and (extra is None or root not in extra):
                    if extra is None:
                        extra = [root]
                    else:
                        extra.append(root)
        roots: tuple[str, ...] = ()
        if first is not None:
            roots = (first,) if extra is None else (first, *extra)
        size = 0
        labelled = 0
        recent = 0
        cut = now - NEW_ACCOUNT_S
        for root in roots:
            size += len(self._members[root])
            labelled += self._labelled[root]
            created = self._created[root]
            recent += bisect_right(created, now) - bisect_left(created, cut)
        if not known:
            size += 1
            if customer in self.fraud_customers:
                labelled += 1
            opened = self.created_at.get(customer)
            if opened is not None and cut <= opened <= now:
                recent += 1
        return size, labelled / size, min(1.0, recent / size)

    def mule_score(self, account_key: str, now: float) -> float:
        """0–1: how much an account looks like a money mule at ``now``.

        Inbound from many different senders within three days (the main signal), most of it
        already gone again (fast cash-out), and a young account. Salary from one employer, a
        few family transfers or loans from two lenders score near zero. A mule account is used
        for weeks, while its bursts last hours: an earlier peak counts too, halving every
        ``MULE_MEMORY_HALF_LIFE_S``.
        """
        score = self._window_score(account_key, now)
        peak = self._peak_at.get(account_key)
        if peak is not None and peak[1] <= now:
            score = max(score, round(self._faded(peak, now), 4))
        return score

    @staticmethod
    def _faded(peak: tuple[float, float], now: float) -> float:
        return peak[0] * math.pow(2.0, -max(0.0, now - peak[1]) / MULE_MEMORY_HALF_LIFE_S)

    def _window_score(self, account_key: str, now: float) -> float:
        account = self.accounts.get(account_key)
        if account is None or len(account.inbound) < 3:
            return 0.0  # fewer than three senders scores nothing (below)
        cut = now - MULE_WINDOW_S
        senders: set[str] = set()
        inbound = 0.0
        for ts, payer, amount in account.inbound:
            if cut < ts <= now:
                senders.add(payer)
                inbound += amount
        if len(senders) < 3:
            return 0.0
        outbound = sum(a for ts, a in account.outbound if cut < ts <= now)
        many = min(1.0, (len(senders) - 2) / 4)  # 3 senders → 0.25, 6 or more → 1
        cash_out = min(1.0, outbound / inbound) if inbound else 0.0
        owner = account_key[2:] if account_key.startswith("p:") else account_key
        opened = self.created_at.get(owner, account.first_seen)
        young = 1.0 if now - opened < 90 * 86_400 else 0.0
        return round(many * (0.6 + 0.3 * cash_out + 0.1 * young), 4)

    def _card_holder(self, payee: str) -> str | None:
        owner = self.card_owner.get(payee)
        if owner is None and self.card_alias is not None:
            owner = self.card_owner.get(self.card_alias(payee))
        return owner

    def payee_mule_score(self, payee: str | None, now: float) -> float:
        """The mule score of whoever receives a payment: a customer's own card, else the payee
        as our other customers have paid it."""
        if not payee:
            return 0.0
        owner = self._card_holder(payee)
        if owner is not None:
            return self.mule_score(owner, now)
        # An outside account shows us only its inbound side: a shop or a landlord also takes
        # money from many people. Without the cash-out and the account's age this view stays
        # below any sensible threshold (at most 0.5); the rule set's payee-many-payers rule
        # covers that case on its own evidence.
        return round(min(0.5, self.mule_score("p:" + payee, now) * 0.5 / 0.7), 4)

    # -- what the console draws ------------------------------------------------------------------

    def shared_entities(self, customers: Iterable[str]) -> list[dict[str, Any]]:
        """Entities used by two or more of ``customers``: what ties a group together."""
        wanted = set(customers)
        seen: dict[str, list[str]] = {}
        for customer in wanted:
            for key in self.customer_entities.get(customer, ()):
                seen.setdefault(key, []).append(customer)
        out = []
        for key, users in seen.items():
            if len(users) < 2:
                continue
            first = next(iter(self.entities[key].values()))
            out.append(
                {
                    "entity": key,
                    "type": first[0],
                    "customers": sorted(users),
                    "total_users": len(self.entities[key]),
                }
            )
        out.sort(key=lambda e: (-len(e["customers"]), e["entity"]))
        return out

    def neighbourhood(
        self, customer: str, hops: int = 2, limit: int = 80
    ) -> tuple[list[str], list[tuple[str, str, str, float]]]:
        """Customers and entities within ``hops`` customer-to-customer steps (at most ``limit``
        nodes; hub entities are shown but not walked through). Edges: (customer, entity, type,
        last seen)."""
        nodes: list[str] = [customer]
        known = {customer}
        edges: list[tuple[str, str, str, float]] = []
        frontier = [customer]
        for _ in range(hops):
            following: list[str] = []
            for person in frontier:
                for key in sorted(self.customer_entities.get(person, ())):
                    users = self.entities[key]
                    link_type, _, last = users[person]
                    if key not in known:
                        if len(known) >= limit:
                            continue
                        known.add(key)
                        nodes.append(key)
                    edges.append((person, key, link_type, last))
                    if len(users) > self.hub_cap:
                        continue
                    for other in sorted(users):
                        if other not in known and len(known) < limit:
                            known.add(other)
                            nodes.append(other)
                            following.append(other)
                            other_type, _, other_last = users[other]
                            edges.append((other, key, other_type, other_last))
            frontier = following
        unique = list(dict.fromkeys(edges))
        return nodes, unique


def link_weight(link_type: str, last_seen: float, now: float) -> float:
    """Weight of one customer–entity link in the batch graph (IP links decay)."""
    weight = LINK_WEIGHT[link_type]
    if link_type == "ip":
        weight *= math.pow(2.0, -max(0.0, now - last_seen) / IP_HALF_LIFE_S)
    return weight
