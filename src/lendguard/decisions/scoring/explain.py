"""A model's top contributions in words an analyst or a customer can read."""

from __future__ import annotations

from typing import Any

import numpy as np

from lendguard.decisions.scoring.model import ScoringModel
from lendguard.decisions.scoring.reason_codes import load_catalogue, model_reason


def explain_contributions(model: ScoringModel, row: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
    """TreeSHAP (LightGBM ``pred_contrib``): the k features that raised this score most, each
    with its stable reason code and its text in zh-CN and en (a category by its name, never the
    number the model sees: ``reason_codes.yaml``)."""
    catalogue = load_catalogue()
    out = []
    for name, contribution, value in model.top_reasons(row, k):
        shown = None if np.isnan(value) else round(value, 4)
        out.append(model_reason(name, shown, round(contribution, 4), catalogue))
    return out
