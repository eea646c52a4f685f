"""Outcome metrics of a replay, by the definitions every report shares.

* an *honest customer* has no event whose ``scenario`` is other than ``none`` and is not a mule or
  ring member (from the accounts file where there is one);
* ``honest_remind_or_more_rate`` / ``honest_intercept_or_more_rate``: share of honest customers with
  at least one decision at remind or more / intercept or more whose top reason is of category
  ``fraud`` (wellbeing interventions are reported apart as ``protective_intervention_rate``);
* ``recall_by_count``: share of ``is_fraud`` events decided dissuade or more; ``recall_by_money``:
  ``victim_loss`` of events decided dissuade or more over all ``victim_loss``;
* ``money_saved``: ``victim_loss`` of intercepted or blocked events, plus dissuaded ones times the
  dissuasion success rate (default 0.6).

Events marked ``attributes.warmup`` (history that only builds window state) are decided but not
counted.

The ladder's ranks, "a fraud intervention" and the estimated dissuasion rule come from
:mod:`lendguard.reporting.definitions`, the ones the protection report counts live data by; the
table's labels are the report's titles where the figure is the same.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from lendguard.kit.paths import dotted_get
from lendguard.reporting.definitions import (
    FRAUD_CATEGORY,
    RANK,
    RANK_DISSUADE,
    RANK_INTERCEPT,
    RANK_REMIND,
    estimated_avoided,
    title,
    top_category,
)

__all__ = ["RANK", "RANK_DISSUADE", "RANK_INTERCEPT", "RANK_REMIND", "Outcome"]
DEFAULT_LABEL_FIELD = "attributes.is_fraud"


@dataclass
class Outcome:
    """Accumulates (event, decision) pairs; ``as_dict`` gives the summary."""

    dissuasion_success_rate: float = 0.6
    roles: dict[str, str] | None = None
    events: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    fraud_events: int = 0
    fraud_caught: int = 0
    loss_total: float = 0.0
    loss_caught: float = 0.0
    money_saved: float = 0.0
    by_typology: dict[str, list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0.0, 0.0])
    )
    customers_flagged: set[str] = field(default_factory=set)
    customers_flagged_hard: set[str] = field(default_factory=set)
    customers_protected: set[str] = field(default_factory=set)
    customers_seen: set[str] = field(default_factory=set)
    dishonest: set[str] = field(default_factory=set)
    latencies_us: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0
    skipped: list[str] = field(default_factory=list)
    warmup_events: int = 0
    # Where the 0/1 fraud label sits in the event (dotted path).
    label_field: str = DEFAULT_LABEL_FIELD
    # customer -> (age band, tenure band) as last seen, for the per-group honest rates.
    segments: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(
        self, event: dict[str, Any], decision: dict[str, Any], latency_us: int | None = None
    ) -> None:
        """Count one decided event. Runs once per replayed event (replay / engine only is a
        goal of issue #18), so the usual event (no label, no loss, allowed) takes the short
        way through each step; every figure is as the plain reading of each field gives."""
        attrs = event.get("attributes") or {}
        if attrs.get("warmup"):
            self.warmup_events += 1
            return  # history that only builds state (see the generator): not an outcome
        self.events += 1
        action = decision["action"]
        rank = RANK[action]
        self.actions[action] += 1
        customer = event["customer_id"]
        self.customers_seen.add(customer)
        scenario = attrs.get("scenario", "none")
        scenario = str(scenario) if scenario else "none"
        if scenario != "none":
            self.dishonest.add(customer)
        if self.label_field == DEFAULT_LABEL_FIELD and isinstance(attrs, dict):
            label = attrs.get("is_fraud")
            is_fraud = _label_value(label) if label else 0
        else:
            is_fraud = _label(event, self.label_field)
        loss = attrs.get("victim_loss", 0)
        loss = float(loss) if loss else 0.0
        if is_fraud:
            self.fraud_events += 1
            row = self.by_typology[scenario]
            row[0] += 1
            row[2] += loss
            if rank >= RANK_DISSUADE:
                self.fraud_caught += 1
                row[1] += 1
                row[3] += loss
        self.loss_total += loss
        if rank >= RANK_REMIND:
            if rank >= RANK_DISSUADE:
                self.loss_caught += loss
            if rank >= RANK_INTERCEPT:
                self.money_saved += loss
            elif rank == RANK_DISSUADE:
                self.money_saved += estimated_avoided(loss, self.dissuasion_success_rate)
            category = top_category(decision.get("reasons"))
            if category == FRAUD_CATEGORY:
                self.customers_flagged.add(customer)
                if rank >= RANK_INTERCEPT:
                    self.customers_flagged_hard.add(customer)
            elif category == "wellbeing":
                self.customers_protected.add(customer)
        segment = decision.get("segment")
        if segment:
            band, tenure = segment["age_band"], segment["tenure"]
            known = self.segments.get(customer)
            # Replaced only when it changed: a new tuple per event would outlive the event and
            # make the garbage collector run full passes (same content either way).
            if known is None or known[0] != band or known[1] != tenure:
                self.segments[customer] = (band, tenure)
        if latency_us is not None:
            self.latencies_us.append(latency_us)
        elif "latency_us" in decision:
            self.latencies_us.append(int(decision["latency_us"]))

    def honest_customers(self) -> set[str]:
        honest = self.customers_seen - self.dishonest
        if self.roles:
            honest = {c for c in honest if self.roles.get(c, "honest") == "honest"}
        return honest

    def as_dict(self) -> dict[str, Any]:
        honest = self.honest_customers()
        n_honest = max(1, len(honest))
        lat = sorted(self.latencies_us)

        def pct(q: float) -> int | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

        return {
            "events": self.events,
            "warmup_events": self.warmup_events,
            "events_per_s": (
                round((self.events + self.warmup_events) / self.elapsed_s, 1)
                if self.elapsed_s
                else None
            ),
            "actions": {a: self.actions.get(a, 0) for a in RANK},
            "fraud_events": self.fraud_events,
            "recall_by_count": _ratio(self.fraud_caught, self.fraud_events),
            "recall_by_money": _ratio(self.loss_caught, self.loss_total),
            "victim_loss_total": round(self.loss_total, 2),
            "money_saved": round(self.money_saved, 2),
            "dissuasion_success_rate": self.dissuasion_success_rate,
            "honest_customers": len(honest),
            "honest_remind_or_more_rate": round(len(self.customers_flagged & honest) / n_honest, 5),
            "honest_intercept_or_more_rate": round(
                len(self.customers_flagged_hard & honest) / n_honest, 5
            ),
            "protective_intervention_rate": round(
                len(self.customers_protected) / max(1, len(self.customers_seen)), 5
            ),
            "by_typology": {
                name: {
                    "events": int(row[0]),
                    "recall_by_count": _ratio(row[1], row[0]),
                    "recall_by_money": _ratio(row[3], row[2]),
                    "victim_loss": round(row[2], 2),
                }
                for name, row in sorted(self.by_typology.items())
            },
            "latency_us": {"p50": pct(0.5), "p99": pct(0.99)},
            "honest_by_age_band": self._by_segment(honest, 0),
            "honest_by_tenure": self._by_segment(honest, 1),
            "skipped_rows": self.skipped,
        }

    def _by_segment(self, honest: set[str], index: int) -> dict[str, dict[str, Any]]:
        groups: dict[str, set[str]] = defaultdict(set)
        for customer in honest:
            segment = self.segments.get(customer)
            groups[segment[index] if segment else "unknown"].add(customer)
        return {
            name: {
                "customers": len(members),
                "remind_or_more_rate": round(
                    len(self.customers_flagged & members) / len(members), 5
                ),
                "intercept_or_more_rate": round(
                    len(self.customers_flagged_hard & members) / len(members), 5
                ),
            }
            for name, members in sorted(groups.items())
        }

    def print(self, console: Console) -> None:
        data = self.as_dict()
        table = Table(title="LendGuard replay summary", show_header=True)
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("events", f"{data['events']:,}")
        if data["warmup_events"]:
            table.add_row("  + warm-up history (state only)", f"{data['warmup_events']:,}")
        for action, count in data["actions"].items():
            table.add_row(f"  decided {action}", f"{count:,}")
        table.add_row("scam losses at stake (victim_loss)", f"{data['victim_loss_total']:,.2f} CNY")
        table.add_row("scam losses prevented (money_saved)", f"{data['money_saved']:,.2f} CNY")
        table.add_row("recall by money (dissuade or more)", _pct(data["recall_by_money"]))
        table.add_row("recall by count (dissuade or more)", _pct(data["recall_by_count"]))
        table.add_row("honest customers", f"{data['honest_customers']:,}")
        inconvenienced = title("honest_inconvenienced").lower()
        table.add_row(f"{inconvenienced} (remind+)", _pct(data["honest_remind_or_more_rate"]))
        table.add_row(f"{inconvenienced} (intercept+)", _pct(data["honest_intercept_or_more_rate"]))
        if data["events_per_s"]:
            table.add_row("throughput", f"{data['events_per_s']:,.0f} events/s")
        lat = data["latency_us"]
        if lat["p50"] is not None:
            table.add_row(
                "decision latency p50 / p99 (to decision)", f"{lat['p50']} / {lat['p99']} µs"
            )
        console.print(table)
        typ = Table(title="By typology", show_header=True)
        for col in (
            "typology",
            "fraud events",
            "recall (count)",
            "recall (money)",
            "loss at stake",
        ):
            typ.add_column(col, justify="right" if col != "typology" else "left")
        for name, row in data["by_typology"].items():
            typ.add_row(
                name,
                str(row["events"]),
                _pct(row["recall_by_count"]),
                _pct(row["recall_by_money"]),
                f"{row['victim_loss']:,.0f}",
            )
        console.print(typ)


def _label(event: dict[str, Any], path: str) -> int:
    """Lenient, for reports: anything but a 1 counts as not fraud."""
    return _label_value(dotted_get(event, path))


def _label_value(value: Any) -> int:
    try:
        return 1 if int(float(value or 0)) == 1 else 0
    except (TypeError, ValueError):
        return 0


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 5) if b else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"
