"""Population stability: is today's traffic still the population the model learned from?

The model card keeps a reference distribution (decile edges and shares, from the training
period) of the score and of the top features. Each day's values are binned on the same edges
and compared with the population stability index

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

(shares floored at 1e-4 so empty bins stay finite). Usual reading: < 0.1 stable, 0.1–0.25 a
shift worth watching, > 0.25 a shift that needs action; the alert threshold is configurable.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

FLOOR = 1e-4
DEFAULT_THRESHOLD = 0.2
BINS = 10


def reference_distribution(values: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Decile edges and the share of values in each bin (missing values get their own bin)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"edges": [], "shares": [1.0], "missing_share": 1.0}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    shares = _shares(values, edges)
    return {
        "edges": [float(e) for e in edges],
        "shares": [float(s) for s in shares[:-1]],
        "missing_share": float(shares[-1]),
    }


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    finite_mask = np.isfinite(values)
    counts = np.bincount(
        np.searchsorted(edges, values[finite_mask], side="right"), minlength=edges.size + 1
    ).astype(np.float64)
    counts = np.append(counts, float((~finite_mask).sum()))
    total = counts.sum()
    return counts / total if total else counts


def psi(reference: dict[str, Any], values: np.ndarray) -> float:
    edges = np.asarray(reference["edges"], dtype=np.float64)
    expected = np.append(
        np.asarray(reference["shares"], dtype=np.float64),
        float(reference.get("missing_share", 0.0)),
    )
    actual = _shares(np.asarray(values, dtype=np.float64), edges)
    expected = np.maximum(expected, FLOOR)
    actual = np.maximum(actual, FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def daily_psi(
    reference: dict[str, dict[str, Any]],
    timestamps: np.ndarray,
    columns: dict[str, np.ndarray],
    threshold: float = DEFAULT_THRESHOLD,
    min_rows: int = 50,
) -> dict[str, Any]:
    """PSI per UTC day for every column that has a reference; alerts above ``threshold``."""
    days: dict[str, list[int]] = defaultdict(list)
    for i, ts in enumerate(timestamps):
        days[datetime.fromtimestamp(float(ts), UTC).date().isoformat()].append(i)
    report: dict[str, Any] = {"threshold": threshold, "days": [], "alerts": []}
    for day in sorted(days):
        idx = np.asarray(days[day])
        entry: dict[str, Any] = {"day": day, "rows": int(idx.size), "psi": {}}
        if idx.size >= min_rows:
            for name, values in columns.items():
                if name not in reference:
                    continue
                value = round(psi(reference[name], values[idx]), 5)
                entry["psi"][name] = value
                if value > threshold:
                    report["alerts"].append({"day": day, "column": name, "psi": value})
        report["days"].append(entry)
    return report
