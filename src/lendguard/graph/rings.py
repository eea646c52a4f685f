"""Batch ring and mule detection over the link index, with igraph.

Two partitions of the customer graph:

* **groups** — connected components over *strong* links only (a shared device, SIM, bank card or
  address). A component is flagged as a ring when it is big enough and looks organised: most of
  its accounts were opened within 30 days of its last activity (gangs register identities in
  bursts; a family sharing a tablet has old accounts) *and* it shares two or more kinds of strong
  identifier (a promoter's tablet signs honest strangers up together, but they do not share
  SIMs and cards), or a good share of it already carries confirmed fraud labels. Components
  above ``split_above`` customers (a chain through a popular-but-not-hub entity) are split by
  their Leiden communities before scoring.
* **communities** — Leiden (modularity, weighted) over *all* links, strong and weak (IP with time
  decay, shared payees, contact lists): the console's wider picture of who clusters with whom.

Mules: an account whose mule score (:meth:`LinkIndex.mule_score`) ever reached
``mule_threshold`` — inbound from many unrelated senders within three days, fast cash-out, a young
account.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import igraph as ig

from lendguard.graph.index import STRONG, LinkIndex, link_weight

# One lock for igraph's process-wide random generator (layouts and Leiden seed it per call).
IGRAPH_RNG_LOCK = threading.Lock()
MIN_RING_SIZE = 4
NEW_SHARE = 0.5
LABELLED_SHARE = 0.3
SPLIT_ABOVE = 120
MULE_THRESHOLD = 0.6
NEW_ACCOUNT_S = 30 * 86_400


@dataclass
class Ring:
    ring_id: str
    members: list[str]
    new_share: float
    labelled_share: float
    link_types: list[str]
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ring_id": self.ring_id,
            "size": len(self.members),
            "members": self.members,
            "new_share": round(self.new_share, 3),
            "labelled_share": round(self.labelled_share, 3),
            "link_types": self.link_types,
            "reasons": self.reasons,
        }


@dataclass
class Detection:
    rings: list[Ring]
    mules: dict[str, float]
    communities: int
    graph_customers: int
    graph_edges: int
    ring_of: dict[str, str] = field(default_factory=dict)

    @property
    def ring_members(self) -> set[str]:
        return set(self.ring_of)


def customer_graph(index: LinkIndex, now: float) -> tuple[ig.Graph, list[str]]:
    """The weighted customer graph: one edge per pair sharing at least one non-hub entity, with
    the summed weight of what they share and a ``strong`` flag."""
    weights: dict[tuple[int, int], float] = defaultdict(float)
    strong_pairs: set[tuple[int, int]] = set()
    ids: dict[str, int] = {}
    names: list[str] = []
    cap = index.hub_cap
    for users in index.entities.values():
        if len(users) < 2 or len(users) > cap:
            continue
        people = sorted(users)
        numbered = []
        for person in people:
            number = ids.get(person)
            if number is None:
                number = ids[person] = len(names)
                names.append(person)
            numbered.append(number)
        for i, a in enumerate(numbered):
            a_type, _, a_last = users[people[i]]
            for j in range(i + 1, len(numbered)):
                b = numbered[j]
                b_type, _, b_last = users[people[j]]
                link_type = a_type if a_type == b_type else min(a_type, b_type, key=_rank)
                pair = (a, b) if a < b else (b, a)
                weights[pair] += link_weight(link_type, min(a_last, b_last), now)
                if a_type in STRONG and b_type in STRONG:
                    strong_pairs.add(pair)
    edges = list(weights)
    graph = ig.Graph(n=len(names), edges=edges)
    graph.es["weight"] = [weights[e] for e in edges]
    graph.es["strong"] = [e in strong_pairs for e in edges]
    graph.vs["name"] = names
    return graph, names


def _rank(link_type: str) -> int:
    """Weaker link type wins when two customers reach one entity differently (own phone vs a
    contact-list entry)."""
    return 0 if link_type not in STRONG else 1


def detect(
    index: LinkIndex,
    *,
    now: float | None = None,
    min_size: int = MIN_RING_SIZE,
    new_share: float = NEW_SHARE,
    labelled_share: float = LABELLED_SHARE,
    split_above: int = SPLIT_ABOVE,
    mule_threshold: float = MULE_THRESHOLD,
    seed: int = 1,
) -> Detection:
    """Rings and mules in the index as of ``now`` (default: its latest event)."""
    at = index.last_seen if now is None else now
    graph, names = customer_graph(index, at)
    strong = graph.subgraph_edges([e.index for e in graph.es if e["strong"]], delete_vertices=False)
    groups: list[list[int]] = [c for c in strong.connected_components() if len(c) >= min_size]
    with IGRAPH_RNG_LOCK:
        # igraph draws from one process-wide generator: a private seeded one for this call,
        # then the default back, so neither a console picture nor anyone else is disturbed.
        ig.set_random_number_generator(random.Random(seed))
        try:
            communities = graph.community_leiden(
                objective_function="modularity", weights="weight", n_iterations=-1
            )
        finally:
            ig.set_random_number_generator(random)
    final: list[list[int]] = []
    for members in groups:
        if len(members) <= split_above:
            final.append(members)
            continue
        parts: dict[int, list[int]] = defaultdict(list)
        for v in members:
            parts[communities.membership[v]].append(v)
        final.extend(p for p in parts.values() if len(p) >= min_size)
    rings: list[Ring] = []
    ring_of: dict[str, str] = {}
    for members in sorted(final, key=lambda m: (-len(m), min(m))):
        people = sorted(names[v] for v in members)
        ring = _score(index, people, at, new_share, labelled_share)
        if ring is None:
            continue
        ring.ring_id = f"g{len(rings) + 1:05d}"
        rings.append(ring)
        for person in people:
            ring_of[person] = ring.ring_id
    mules = {c: s for c, s in index.mule_peak.items() if s >= mule_threshold}
    return Detection(
        rings=rings,
        mules=mules,
        communities=len(set(communities.membership)),
        graph_customers=graph.vcount(),
        graph_edges=graph.ecount(),
        ring_of=ring_of,
    )


@dataclass
class GroupScore:
    new_share: float
    labelled_share: float
    link_types: list[str]
    reasons: list[str]


def score_group(
    index: LinkIndex,
    people: list[str],
    now: float,
    new_share: float = NEW_SHARE,
    labelled_share: float = LABELLED_SHARE,
) -> GroupScore:
    """Why a group of linked customers looks organised (empty ``reasons``: it looks like a
    family or strangers signed up together). The caller applies the minimum size."""
    if not people:
        return GroupScore(0.0, 0.0, [], [])
    last = min(now, max(index.last_activity.get(p, now) for p in people))
    opened = [index.created_at.get(p) for p in people]
    recent = sum(1 for t in opened if t is not None and 0 <= last - t <= NEW_ACCOUNT_S)
    labelled = sum(1 for p in people if p in index.fraud_customers)
    share_new = recent / len(people)
    share_labelled = labelled / len(people)
    types = sorted({e["type"] for e in index.shared_entities(people) if e["type"] in STRONG})
    reasons = []
    # Opening accounts together is not enough: a promoter's tablet signs up honest strangers in
    # one afternoon. Gangs also share SIMs and the cards the loans are paid to.
    if share_new >= new_share and len(types) >= 2:
        reasons.append("ACCOUNTS_OPENED_TOGETHER_SHARING_IDENTIFIERS")
    if share_labelled >= labelled_share:
        reasons.append("CONFIRMED_FRAUD_IN_GROUP")
    return GroupScore(share_new, share_labelled, types, reasons)


def _score(
    index: LinkIndex, people: list[str], now: float, new_share: float, labelled_share: float
) -> Ring | None:
    """A group is a ring when it looks organised; None when it looks like a family."""
    found = score_group(index, people, now, new_share, labelled_share)
    if not found.reasons:
        return None
    return Ring("", people, found.new_share, found.labelled_share, found.link_types, found.reasons)


def components_from_links(
    customers: Any, entities: Any, n_customers: int, n_entities: int, hub_cap: int | None = None
) -> tuple[Any, int]:
    """Connected components of a customer–entity link list at scale (arrays in, labels out).

    ``customers[i]`` used ``entities[i]`` (integer ids, NumPy arrays). The bipartite graph is
    built in igraph's C core straight from the arrays — no per-link Python — and components of
    it are the groups of customers joined through any shared entity. Returns (the component id
    of each customer, the number of components among customers). This is the path for millions
    of links; :func:`customer_graph` (weighted, pairwise) is for the scoring of candidates.

    ``hub_cap``: links to an entity used by more customers than this are left out first (a
    payment gateway's payee, a carrier NAT address), as the live index does; without it one
    giant component swallows most of a real platform.
    """
    import numpy as np

    if hub_cap is not None:
        degree = np.bincount(np.asarray(entities, dtype=np.int64), minlength=n_entities)
        keep = degree[entities] <= hub_cap
        customers, entities = customers[keep], entities[keep]

    edges = np.empty((len(customers), 2), dtype=np.int64)
    edges[:, 0] = customers
    edges[:, 1] = np.asarray(entities, dtype=np.int64) + n_customers
    graph = ig.Graph(n=n_customers + n_entities, edges=edges)
    membership = np.asarray(graph.connected_components().membership, dtype=np.int64)
    labels = membership[:n_customers]
    return labels, int(len(np.unique(labels)))
