"""History in, graph out: ``lendguard graph rebuild`` and ``lendguard graph evaluate``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lendguard.events.readers import BadRow, read_events
from lendguard.graph.index import LinkIndex
from lendguard.graph.rings import Detection


def rebuild(
    path: Path,
    *,
    index: LinkIndex | None = None,
    on_progress: Callable[[int], None] | None = None,
    skip_bad: bool = False,
) -> tuple[LinkIndex, list[BadRow]]:
    """Fold a history file (JSONL, CSV or Parquet, time-ordered or not) into a link index.

    Every row is validated as an API event; a bad row stops the run naming its line (nothing is
    half-built: the index is returned only when the file is done), or is listed with
    ``skip_bad``. Rows are folded in time order, as the live engine would have seen them.
    """
    rows, bad = read_events(path, skip_bad=skip_bad)
    rows.sort(key=lambda pair: pair[0].occurred_at)  # stable: ties keep file order
    built = index or LinkIndex()
    for done, (event, _) in enumerate(rows, start=1):
        built.add_event(event)
        if on_progress is not None and done % 5_000 == 0:
            on_progress(done)
    if on_progress is not None:
        on_progress(len(rows))
    return built, bad


def load_truth(accounts: Path) -> tuple[set[str], set[str], dict[str, str]]:
    """(ring members, mules, customer -> ring id) from the simulator's accounts.csv."""
    ring: set[str] = set()
    mules: set[str] = set()
    ring_of: dict[str, str] = {}
    with accounts.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"customer_id", "role", "ring_id"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{accounts}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            if row["ring_id"]:
                ring.add(row["customer_id"])
                ring_of[row["customer_id"]] = row["ring_id"]
            if row["role"] == "mule":
                mules.add(row["customer_id"])
    return ring, mules, ring_of


def _pr(flagged: set[str], truth: set[str]) -> tuple[float, float]:
    hit = len(flagged & truth)
    precision = hit / len(flagged) if flagged else 0.0
    recall = hit / len(truth) if truth else 0.0
    return round(precision, 4), round(recall, 4)


def evaluate(detection: Detection, accounts: Path) -> dict[str, Any]:
    """Per-customer precision and recall of ring membership and of mule flags."""
    ring_truth, mule_truth, truth_ring_of = load_truth(accounts)
    ring_p, ring_r = _pr(detection.ring_members, ring_truth)
    mule_p, mule_r = _pr(set(detection.mules), mule_truth)
    # How whole the found rings are: true rings split across found rings, or merged.
    found_per_true: dict[str, set[str]] = {}
    for customer, ring in truth_ring_of.items():
        found = detection.ring_of.get(customer)
        if found is not None:
            found_per_true.setdefault(ring, set()).add(found)
    return {
        "ring_precision": ring_p,
        "ring_recall": ring_r,
        "mule_precision": mule_p,
        "mule_recall": mule_r,
        "ring_members_true": len(ring_truth),
        "ring_members_flagged": len(detection.ring_members),
        "rings_true": len(set(truth_ring_of.values())),
        "rings_found": len(detection.rings),
        "true_rings_split": sum(1 for f in found_per_true.values() if len(f) > 1),
        "mules_true": len(mule_truth),
        "mules_flagged": len(detection.mules),
        "graph_customers": detection.graph_customers,
        "graph_edges": detection.graph_edges,
        "communities": detection.communities,
    }
