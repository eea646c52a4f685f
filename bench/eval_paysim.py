"""PaySim side by side (issue #22): plain LightGBM on the raw columns against the event pipeline.

The same temporal split for both: fit on steps 1-80, evaluate on steps 81-119 (never tuned on
them). Run with and without the balance columns.

* **Baseline**: what a data scientist gets with one LightGBM call (default parameters, seeded,
  one thread) on the raw PaySim columns: ``step``, ``type`` (categorical), ``amount``, and the
  four balance columns when they are kept. The account ids are not features (high-cardinality
  strings) and ``isFlaggedFraud`` is PaySim's own rule output, left out. A second baseline
  leaves ``step`` out too (it ranked the later steps better); the goal is checked against the
  stronger of the two.
* **Pipeline**: ``lendguard import paysim`` (``--drop-balances`` for the run without), then
  ``lendguard model train`` on the same events: history replayed through the live feature
  code, early stopping on the training period's last fifth, a final fit on the whole training
  period, Platt calibration.

Both are scored by :func:`lendguard.decisions.scoring.metrics.score_metrics` on the same
events. ``run(console)`` prints the table and returns the figures; ``python
bench/eval_paysim.py`` runs it alone.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from lendguard.decisions.scoring.metrics import score_metrics
from lendguard.events.imports import import_paysim
from lendguard.training.events import train_events

PAYSIM = Path("../shared/data/paysim/paysim_steps1-119_51k.csv")
LAST_TRAINING_STEP = 80
# Step s is imported at 2024-01-01T00:00+08:00 + (s - 1) hours: step 81 starts here.
STEP_81 = "2024-01-04T08:00:00+08:00"
BALANCES = ("oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest")
GOAL_AUC = 0.95
SEED = 0


def baseline(frame: pl.DataFrame, columns: list[str]) -> dict[str, Any]:
    """One LightGBM call, default parameters, on raw columns; scored on steps 81-119."""
    types = sorted(frame["type"].unique().to_list())
    data = frame.with_columns(
        pl.col("type").replace_strict(types, list(range(len(types)))).alias("type")
    )
    train = data.filter(pl.col("step") <= LAST_TRAINING_STEP)
    test = data.filter(pl.col("step") > LAST_TRAINING_STEP)
    params = {"objective": "binary", "seed": SEED, "deterministic": True, "num_threads": 1}
    params["verbose"] = -1
    booster = lgb.train(
        params,
        lgb.Dataset(
            train.select(columns).to_numpy().astype(np.float64),
            label=train["isFraud"].to_numpy(),
            feature_name=columns,
            categorical_feature=["type"],
        ),
        num_boost_round=100,  # LightGBM's default
    )
    scores = booster.predict(test.select(columns).to_numpy().astype(np.float64))
    return score_metrics(test["isFraud"].to_numpy().astype(int), scores)


def pipeline(source: Path, work: Path, drop_balances: bool) -> dict[str, Any]:
    """Import, replay, train on steps 1-80; the card's figures on steps 81-119."""
    events = work / "events.jsonl"
    import_paysim(source, events, drop_balances=drop_balances)
    started = time.perf_counter()
    card = train_events(
        events, work / "model", train_until=STEP_81, eval_from=STEP_81, progress=False
    )
    figures: dict[str, Any] = dict(card["metrics"]["validation"])
    figures["train_seconds"] = round(time.perf_counter() - started, 1)
    figures["top_features"] = card["top_features"][:5]
    figures["best_iteration"] = card["params"].get("best_iteration")
    return figures


def _row(table: Table, name: str, balances: str, m: dict[str, Any]) -> None:
    table.add_row(
        name,
        balances,
        f"{m['roc_auc']:.4f}",
        f"{m['auprc']:.4f}",
        f"{m['recall_at_fpr']['0.001']:.3f}",
        f"{m['recall_at_fpr']['0.01']:.3f}",
        f"{m['n']} / {m['positives']}",
    )


def run(console: Console, source: Path = PAYSIM, out: Path | None = None) -> dict[str, Any]:
    """The side-by-side table (printed) and its figures: baseline and pipeline, with and
    without balances, and whether the goal (pipeline without balances >= the stronger
    baseline and >= 0.95 ROC-AUC) is met."""
    if not source.exists():
        console.print(f"[yellow]{source} not found: the PaySim side by side is skipped[/yellow]")
        return {"skipped": f"{source} not found"}
    frame = pl.read_csv(source)
    result: dict[str, Any] = {"split": "fit on steps 1-80, evaluate on steps 81-119"}
    with tempfile.TemporaryDirectory() as scratch:
        root = out if out is not None else Path(scratch)
        for balances, drop in (("without", True), ("with", False)):
            kept = [] if drop else list(BALANCES)
            console.print(f"PaySim {balances} balances: baseline and pipeline")
            result[f"{balances}_balances"] = {
                "baseline_raw_columns": baseline(frame, ["step", "type", "amount", *kept]),
                "baseline_without_step": baseline(frame, ["type", "amount", *kept]),
                "pipeline": pipeline(source, root / f"{balances}_balances", drop),
            }
    table = Table(title="PaySim: plain LightGBM on raw columns vs the event pipeline")
    for column in ("model", "balances", "ROC-AUC", "AUPRC", "recall@0.1%FPR", "recall@1%FPR"):
        table.add_column(column)
    table.add_column("events / frauds")
    names = {
        "baseline_raw_columns": "LightGBM raw: step, type, amount",
        "baseline_without_step": "LightGBM raw: type, amount",
        "pipeline": "LendGuard pipeline",
    }
    for balances in ("without", "with"):
        for key, name in names.items():
            _row(table, name, balances, result[f"{balances}_balances"][key])
    console.print(table)
    without = result["without_balances"]
    stronger = max(
        without["baseline_raw_columns"]["roc_auc"], without["baseline_without_step"]["roc_auc"]
    )
    auc = without["pipeline"]["roc_auc"]
    result["goal"] = {
        "pipeline_auc_without_balances": auc,
        "stronger_baseline_auc_without_balances": stronger,
        "target": GOAL_AUC,
        "met": bool(auc >= stronger and auc >= GOAL_AUC),
    }
    colour = "green" if result["goal"]["met"] else "red"
    console.print(
        f"[{colour}]goal (without balances): pipeline ROC-AUC {auc:.4f}, stronger baseline "
        f"{stronger:.4f}, target >= {GOAL_AUC}: {'met' if result['goal']['met'] else 'NOT met'}"
        f"[/{colour}]"
    )
    return result


if __name__ == "__main__":
    print(json.dumps(run(Console(stderr=True)), indent=2))
