"""What the console and the API show about linked groups: one customer's group (members, what
they share, what they did, their open cases, and whether the batch ring rules would flag it),
the largest groups right now, and the neighbourhood picture.

The live :class:`~lendguard.graph.index.LinkIndex` changes under the decision service's lock:
everything here copies what it needs while holding that lock and does the slow work (database
reads, igraph) after releasing it, so a console page never holds decisions up for longer than a
few dictionary look-ups. Entity values leave this module masked (a type and six characters).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from lendguard.cases.flow import CLOSED
from lendguard.graph.index import STRONG, LinkIndex
from lendguard.graph.picture import mask_entity, neighbourhood_svg
from lendguard.graph.rings import (
    LABELLED_SHARE,
    MIN_RING_SIZE,
    MULE_THRESHOLD,
    NEW_SHARE,
    Detection,
    detect,
    score_group,
)
from lendguard.models.decision import DecisionRecord

# A page lists at most this many members, shared entities and timeline rows; figures always
# count the whole group.
MAX_MEMBERS = 500
MAX_SHARED = 100
TIMELINE_LIMIT = 200
# Open cases are looked up member by member (the cases service answers per customer).
MAX_CASE_LOOKUPS = 200
OVERVIEW_MIN_SIZE = 3
OVERVIEW_TTL_S = 60.0
_CLOSED = frozenset(s.value for s in CLOSED)


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def group_figures(graph: LinkIndex, people: list[str], now: float | None = None) -> dict[str, Any]:
    """Size, new-account share, labelled share, shared strong identifier kinds and the batch
    rules' verdict for one group, as :func:`lendguard.graph.rings.detect` scores a candidate
    (same thresholds): organised when most accounts were opened within 30 days of the group's
    last activity *and* two or more kinds of strong identifier are shared, or when enough of
    it carries confirmed fraud labels; only groups of ``MIN_RING_SIZE`` or more are flagged.
    Call with the service lock held."""
    at = graph.last_seen if now is None else now
    size = len(people)
    found = score_group(graph, people, at)
    share_new, share_labelled, types = found.new_share, found.labelled_share, found.link_types
    reasons = found.reasons if size >= MIN_RING_SIZE else []
    return {
        "size": size,
        "new_share": round(share_new, 3),
        "labelled_share": round(share_labelled, 3),
        "link_types": types,
        "reasons": reasons,
        "flagged": bool(reasons),
        "thresholds": {
            "min_size": MIN_RING_SIZE,
            "new_share": NEW_SHARE,
            "labelled_share": LABELLED_SHARE,
        },
    }


def _first_seen(graph: LinkIndex, customer: str) -> float | None:
    seen = [graph.entities[k][customer][1] for k in graph.customer_entities.get(customer, ())]
    return min(seen) if seen else None


def _masked_shared(shared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": e["type"],
            "entity": mask_entity(e["entity"], e["type"]),
            "strong": e["type"] in STRONG,
            "customers": e["customers"],
            "in_group": len(e["customers"]),
            "total_users": e["total_users"],
        }
        for e in shared[:MAX_SHARED]
    ]


def ring_summary(
    decisions: Any,
    customer_id: str,
    cases: Any = None,
    *,
    include_timeline: bool = True,
    timeline_limit: int = TIMELINE_LIMIT,
) -> dict[str, Any]:
    """One customer's linked group (strong links: device, phone, card, address).

    ``decisions`` is the :class:`~lendguard.decisions.service.DecisionService` (its ``graph``,
    ``lock`` and ``db``); ``cases`` the case service, or None to leave open cases out. A
    customer the graph has never seen is a group of one.
    """
    with decisions.lock:
        graph: LinkIndex = decisions.graph
        known = customer_id in graph.customer_entities or customer_id in graph.last_activity
        people = sorted(graph.group(customer_id))
        figures = group_figures(graph, people)
        shared = graph.shared_entities(people) if len(people) > 1 else []
        rows = [
            {
                "customer_id": p,
                "opened_at": _when(graph.created_at.get(p)),
                "fraud_label": p in graph.fraud_customers,
                "mule_peak": round(graph.mule_peak.get(p, 0.0), 3),
                "suspected_mule": graph.mule_peak.get(p, 0.0) >= MULE_THRESHOLD,
                "first_seen": _when(_first_seen(graph, p)),
                "last_seen": _when(graph.last_activity.get(p)),
            }
            for p in people
        ]
        detection = _cached_detection(graph)
    rows.sort(key=lambda r: (r["opened_at"] is None, r["opened_at"] or 0, r["customer_id"]))
    ring_id = detection.ring_of.get(customer_id) if detection is not None else None
    summary: dict[str, Any] = {
        "customer_id": customer_id,
        "known": known,
        "figures": figures,
        "ring_id": ring_id,
        "members": rows[:MAX_MEMBERS],
        "members_shown": min(len(rows), MAX_MEMBERS),
        "shared": _masked_shared(shared),
        "shared_total": len(shared),
    }
    visible = people[:MAX_MEMBERS]
    if include_timeline:
        summary["timeline"] = member_timeline(decisions, visible, timeline_limit)
    if cases is not None:
        summary["open_cases"] = open_cases(cases, visible)
    return summary


def member_timeline(decisions: Any, people: list[str], limit: int) -> list[dict[str, Any]]:
    """The members' decisions from the decision log, newest first."""
    if not people:
        return []
    query = (
        select(
            DecisionRecord.decision_id,
            DecisionRecord.customer_id,
            DecisionRecord.event_type,
            DecisionRecord.occurred_at,
            DecisionRecord.action,
            DecisionRecord.score,
            DecisionRecord.reasons,
        )
        .where(DecisionRecord.customer_id.in_(people))
        .order_by(DecisionRecord.occurred_at.desc(), DecisionRecord.decision_id)
        .limit(limit)
    )
    with decisions.db.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "decision_id": r.decision_id,
            "customer_id": r.customer_id,
            "event_type": r.event_type,
            "occurred_at": r.occurred_at,
            "action": r.action,
            "score": r.score,
            "top_reason": r.reasons[0]["code"] if r.reasons else None,
        }
        for r in rows
    ]


def open_cases(cases: Any, people: Iterable[str]) -> list[dict[str, Any]]:
    """Cases of the members that are not closed yet, newest first."""
    found: list[dict[str, Any]] = []
    for number, person in enumerate(people):
        if number >= MAX_CASE_LOOKUPS:
            break
        found.extend(c for c in cases.for_customer(person) if c["state"] not in _CLOSED)
    found.sort(key=lambda c: c["opened_at"], reverse=True)
    return [
        {
            "id": c["id"],
            "customer_id": c["customer_id"],
            "state": c["state"],
            "case_type": c["case_type"],
            "risk": c["risk"],
            "opened_at": c["opened_at"],
            "overdue": c["overdue"],
        }
        for c in found
    ]


def neighbourhood_picture(
    decisions: Any, customer_id: str, hops: int = 2, limit: int = 80, seed: int = 1
) -> str:
    """The SVG of a customer's neighbourhood, coloured by labels, mule peaks and ring flags."""
    with decisions.lock:
        graph: LinkIndex = decisions.graph
        nodes, edges = graph.neighbourhood(customer_id, hops, limit)
        entity_keys = {e[1] for e in edges}
        customers = [n for n in nodes if n not in entity_keys]
        labelled = {c for c in customers if c in graph.fraud_customers}
        mules = {c for c in customers if graph.mule_peak.get(c, 0.0) >= MULE_THRESHOLD}
        people = graph.group(customer_id)
        in_ring: set[str] = set(people) if group_figures(graph, people)["flagged"] else set()
        detection = _cached_detection(graph)
    if detection is not None:
        in_ring |= {c for c in customers if c in detection.ring_of}
    return neighbourhood_svg(
        nodes, edges, customer_id, ring_members=in_ring, labelled=labelled, mules=mules, seed=seed
    )


# -- the overview: largest groups right now, cached ------------------------------------------------

_cache: weakref.WeakKeyDictionary[LinkIndex, tuple[float, int, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def _cached_detection(graph: LinkIndex) -> Detection | None:
    """The last batch detection over this graph, if the overview computed one lately."""
    cached = _cache.get(graph)
    if cached is None or time.monotonic() - cached[0] > OVERVIEW_TTL_S:
        return None
    detection: Detection = cached[2]["detection"]
    return detection


def rings_overview(decisions: Any, limit: int = 50) -> dict[str, Any]:
    """The largest linked groups right now (``OVERVIEW_MIN_SIZE`` or more), flagged rings first,
    and the suspected mule accounts. Batch detection runs on a copy of the graph and is kept
    for ``OVERVIEW_TTL_S`` seconds per graph (or while no event arrives), so a refresh storm
    computes it once."""
    with decisions.lock:
        graph: LinkIndex = decisions.graph
        events = graph.events
    with _cache_lock:
        cached = _cache.get(graph)
        fresh = cached is not None and (
            cached[1] == events or time.monotonic() - cached[0] <= OVERVIEW_TTL_S
        )
        if cached is not None and fresh:
            result = cached[2]
        else:
            result = _compute_overview(decisions, graph)
            _cache[graph] = (time.monotonic(), result["events"], result)
    out = dict(result)
    out["groups"] = result["groups"][:limit]
    out["mules"] = result["mules"][:limit]
    out.pop("detection")
    return out


def _compute_overview(decisions: Any, graph: LinkIndex) -> dict[str, Any]:
    with decisions.lock:
        copy = graph.snapshot()
    detection = detect(copy)
    entries: list[dict[str, Any]] = []
    for ring in detection.rings:
        figures = group_figures(copy, ring.members)
        figures["reasons"] = list(ring.reasons)
        figures["flagged"] = True
        entries.append({"ring_id": ring.ring_id, "members": ring.members, **figures})
    for people in copy.groups(OVERVIEW_MIN_SIZE):
        if any(p in detection.ring_of for p in people):
            continue
        figures = group_figures(copy, people)
        figures["flagged"] = False  # the batch rules did not flag it (or split it first)
        figures["reasons"] = []
        entries.append({"ring_id": None, "members": people, **figures})
    entries.sort(key=lambda e: (not e["flagged"], -e["size"], e["members"][0]))
    for entry in entries:
        entry["customer_id"] = entry["members"][0]
        entry["members_preview"] = entry["members"][:8]
        del entry["members"]
        del entry["thresholds"]
    mules = sorted(detection.mules.items(), key=lambda m: (-m[1], m[0]))
    return {
        "computed_at": datetime.now(UTC),
        "events": copy.events,
        "groups": entries,
        "rings_flagged": len(detection.rings),
        "mules": [{"customer_id": c, "mule_peak": round(s, 3)} for c, s in mules],
        "graph_customers": len(copy.customer_entities),
        "detection": detection,
    }
