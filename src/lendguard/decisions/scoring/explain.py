"""A model's top contributions in words an analyst or a customer can read."""

from __future__ import annotations

from typing import Any

import numpy as np

from lendguard.decisions.features.compute import FEATURES
from lendguard.decisions.scoring.model import ScoringModel


def explain_contributions(model: ScoringModel, row: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
    """TreeSHAP (LightGBM ``pred_contrib``): the k features that raised this score most."""
    out = []
    for name, contribution, value in model.top_reasons(row, k):
        description = model.card.get("feature_descriptions", {}).get(name) or (
            FEATURES[name][1] if name in FEATURES else name
        )
        shown: Any = None if np.isnan(value) else round(value, 4)
        out.append(
            {
                "feature": name,
                "text": f"{description}: {shown if shown is not None else 'unknown'}",
                "value": shown,
                "contribution": round(contribution, 4),
            }
        )
    return out
