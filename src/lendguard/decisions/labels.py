"""Labels: outcomes learned after the decision (fraud or not), recorded and folded in at once.

A fraud label reaches the label-derived features (``payee_fraud_labels``,
``customer_fraud_labels``) and the link graph of later events as soon as it is written, exactly
as training replays them, so a model sees the same signal live. The folding itself belongs to
the decider's state (:meth:`Decider.apply_labels`); this component validates and writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from lendguard.auth import audit
from lendguard.decisions.repository import decision_repository as repo

if TYPE_CHECKING:
    from lendguard.decisions.deciding import Decider


class Labels:
    def __init__(self, decider: Decider) -> None:
        self.decider = decider

    def record(
        self, items: list[dict[str, Any]], actor: str, ip: str | None = None
    ) -> list[dict[str, Any]]:
        """Outcomes posted by the lender (``{event_id, label}`` each): one result per item, in
        place, with the label id, or the reason it was refused. The labels written are audited
        in their own transaction (labels that cannot be audited are not written)."""
        decider = self.decider
        results: list[dict[str, Any]] = []
        valid: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            event_id = item.get("event_id") if isinstance(item, dict) else None
            label = item.get("label") if isinstance(item, dict) else None
            if not isinstance(event_id, str) or not event_id:
                results.append(
                    {"index": index, "error": "event_id: a non-empty string is required"}
                )
            elif label not in (0, 1) or isinstance(label, bool):
                results.append({"index": index, "error": "label: must be 0 or 1"})
            else:
                valid.append({"index": index, "event_id": event_id, "label": int(label)})
                results.append({"index": index, "event_id": event_id})
        with decider.lock:
            with decider.db.connect() as conn:
                known = repo.event_keys_source(conn, [v["event_id"] for v in valid])
            now = datetime.now(UTC)
            rows = []
            for item in valid:
                if item["event_id"] not in known:
                    results[item["index"]] = {
                        "index": item["index"],
                        "error": f"event_id: '{item['event_id']}' is unknown",
                    }
                    continue
                rows.append(
                    {
                        "event_id": item["event_id"],
                        "label": item["label"],
                        "known_at": now,
                        "source": actor,
                    }
                )
            if rows:
                with decider.db.begin() as conn:
                    ids = repo.insert_labels(conn, rows)
                    audit.record(conn, actor, "labels.record", "labels", ip, {"label_ids": ids})
                decider.apply_labels(
                    [
                        {
                            "id": i,
                            "event_id": r["event_id"],
                            "label": r["label"],
                            "known_at": now,
                            "body": known[r["event_id"]],
                        }
                        for i, r in zip(ids, rows, strict=True)
                    ]
                )
                for r, i in zip(rows, ids, strict=True):
                    for res in results:
                        if res.get("event_id") == r["event_id"] and "label_id" not in res:
                            res["label_id"] = i
                            break
        return results

    @staticmethod
    def latest_per_event(engine: Engine) -> dict[str, int]:
        """Every labelled event with its latest label (``lendguard labels export``, the input
        of training): a static read, so the CLI needs no running decider for it."""
        with engine.connect() as conn:
            return repo.latest_label_per_event(conn)

    def apply_new(self, labels: list[dict[str, Any]]) -> None:
        """Labels written elsewhere (a resolved case): ``{id, label, known_at, event_id}``."""
        decider = self.decider
        with decider.db.connect() as conn:
            bodies = repo.event_keys_source(conn, [item["event_id"] for item in labels])
        with decider.lock:
            decider.apply_labels(
                [
                    {**item, "body": bodies[item["event_id"]]}
                    for item in labels
                    if item["event_id"] in bodies
                ]
            )
