"""Quality metrics of a score against 0/1 labels, as every report prints them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

FPR_POINTS = (0.001, 0.01)


class MetricsError(ValueError):
    pass


def score_metrics(labels: Any, scores: Any) -> dict[str, Any]:
    """``roc_auc``, ``auprc``, ``recall_at_fpr`` (at 0.1% and 1%), ``n`` and ``positives``."""
    y = np.asarray(labels, dtype=np.int8)
    p = np.asarray(scores, dtype=np.float64)
    if y.size == 0:
        raise MetricsError("no rows to evaluate")
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        raise MetricsError(
            f"the labels hold a single class ({positives} positives in {y.size} rows): "
            "ROC-AUC is undefined"
        )
    fpr, tpr, _ = roc_curve(y, p)
    recall_at = {}
    for point in FPR_POINTS:
        # The best recall reachable without exceeding the false-positive rate.
        allowed = tpr[fpr <= point]
        recall_at[str(point)] = round(float(allowed.max()) if allowed.size else 0.0, 5)
    return {
        "roc_auc": round(float(roc_auc_score(y, p)), 5),
        "auprc": round(float(average_precision_score(y, p)), 5),
        "recall_at_fpr": recall_at,
        "n": int(y.size),
        "positives": positives,
    }
