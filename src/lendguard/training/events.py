"""Training and evaluating a fraud score on event history, through the live feature code.

The history is replayed in time order through the same state and feature functions as the
decision engine, so each row describes an event exactly as the engine saw it: point in time,
history before the event only. Fraud labels become known ``reveal_delay`` after their event (a
case takes time to resolve) and only then feed the label-derived features, so no event ever
sees its own label or a later one. Offline code: the CLI and ``bench/`` import it, the server
never does (an import-linter contract keeps it so).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import sklearn
from rich.progress import Progress
from sklearn.linear_model import LogisticRegression

from lendguard.decisions.features.compute import (
    FEATURES,
    LazyFeatures,
    apply_event,
    open_context,
    record_fraud_label,
)
from lendguard.decisions.scoring.events import MODEL_FEATURES, feature_row
from lendguard.decisions.scoring.metrics import MetricsError, score_metrics
from lendguard.decisions.scoring.model import Calibration, ModelError, ScoringModel
from lendguard.decisions.scoring.monitoring import daily_psi, reference_distribution
from lendguard.decisions.state import MemoryStateStore
from lendguard.events.readers import BadRowError, read_events
from lendguard.events.schemas import Event
from lendguard.graph.index import LinkIndex
from lendguard.kit.paths import dotted_get


@dataclass
class ReplayMatrix:
    rows: np.ndarray
    labels: np.ndarray
    times: np.ndarray
    event_ids: list[str]


def _label_of(raw: dict[str, Any], path: str) -> int:
    """Strict, for training: a label must be 0 or 1 (missing counts as 0)."""
    value = dotted_get(raw, path)
    if value in (None, ""):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"label '{path}' has a non-numeric value {value!r}") from None
    if number not in (0.0, 1.0):
        raise ModelError(f"label '{path}' must be 0 or 1, found {value!r}")
    return int(number)


def read_label_file(path: Path) -> dict[str, int]:
    """``event_id,label`` rows (labels that arrived later, e.g. from cases)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"{path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"event_id", "label"} <= set(reader.fieldnames):
            raise ModelError(f"{path}: needs the columns event_id and label")
        out = {}
        for number, row in enumerate(reader, start=2):
            try:
                value = float(row["label"])
            except (TypeError, ValueError):
                value = -1.0
            if value not in (0.0, 1.0):
                raise ModelError(f"{path}:{number}: label {row.get('label')!r} is not 0 or 1")
            out[row["event_id"]] = int(value)
    return out


def load_history(path: Path) -> list[tuple[Event, dict[str, Any]]]:
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    try:
        rows, _ = read_events(path)
    except BadRowError as exc:
        raise ModelError(str(exc)) from None
    except (ValueError, pl.exceptions.NoDataError) as exc:  # unknown type, empty CSV
        if isinstance(exc, pl.exceptions.NoDataError):
            raise ModelError(f"{path}: the file holds no events") from None
        raise ModelError(str(exc)) from None
    if not rows:
        raise ModelError(f"{path}: the file holds no events")
    rows.sort(key=lambda pair: pair[0].occurred_at)
    return rows


def replay_matrix(
    rows: list[tuple[Event, dict[str, Any]]],
    label_field: str,
    labels: dict[str, int] | None = None,
    reveal_delay_s: float = 0.0,
    features: tuple[str, ...] | list[str] = MODEL_FEATURES,
    progress: bool = True,
    graph: LinkIndex | None = None,
) -> ReplayMatrix:
    """Replay events (time order) through the live feature code; one row per event.

    A fraud label becomes known ``reveal_delay_s`` after its event and is then folded in as
    the live engine folds a confirmed label: into the label-derived features of the customer
    and payee states and as a fraud mark on the customer in the entity-link graph (so
    ``ring_fraud_share`` reads what the engine would have read). Only labels known strictly
    before an event reach its row: no event sees its own label or a later one.
    """
    store = MemoryStateStore(engine=None)
    graph = LinkIndex() if graph is None else graph
    matrix = np.empty((len(rows), len(features)), dtype=np.float64)
    ys = np.zeros(len(rows), dtype=np.int8)
    times = np.empty(len(rows), dtype=np.float64)
    ids: list[str] = []
    # (known at, order, customer id, event id, state keys of the customer and payee)
    reveals: list[tuple[float, int, str, str, tuple[str, ...]]] = []
    order = 0
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("replaying history for features", total=len(rows))
        for i, (event, raw) in enumerate(rows):
            ts = event.occurred_at.timestamp()
            while reveals and reveals[0][0] < ts:
                known_at, _, customer, event_id, label_keys = heapq.heappop(reveals)
                for key in label_keys:
                    record_fraud_label(store.load([key])[key], known_at)
                graph.mark_fraud(customer, event_id)
            ctx = open_context(event, store.load, graph)
            keys = ctx.states.keys
            matrix[i] = feature_row(LazyFeatures(ctx, {}), features)
            apply_event(event, ctx.states, ctx)
            label = (
                labels.get(event.event_id, 0) if labels is not None else _label_of(raw, label_field)
            )
            ys[i] = label
            times[i] = ts
            ids.append(event.event_id)
            if label:
                label_keys = tuple(keys[role] for role in ("customer", "payee") if role in keys)
                heapq.heappush(
                    reveals,
                    (ts + reveal_delay_s, order, event.customer_id, event.event_id, label_keys),
                )
                order += 1
            if i % 5000 == 0:
                bar.update(task, completed=i)
    return ReplayMatrix(matrix, ys, times, ids)


def _params(positives: int, negatives: int, seed: int) -> dict[str, Any]:
    """Training defaults, chosen on the temporal validation fold (never on evaluation
    events): a slow learning rate with small, well-populated leaves, and no class weight.
    Weighing the rare class up made early stopping erratic (a few rounds on one seed, hundreds
    on the next) and ranked no better on the validation fold; unweighted, the Platt map also
    has less to correct."""
    del positives, negatives  # the class balance is left as it is (see above)
    return {
        "objective": "binary",
        "learning_rate": 0.02,
        "num_leaves": 15,
        "min_child_samples": 100,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,  # deterministic, and fast on a shared 2-core machine
        "verbose": -1,
    }


# Rounds of the final fit on the whole training period, per round early stopping chose on
# the fit part: that fit sees a quarter more rows (the validation fold), so it may go longer.
REFIT_ROUNDS = 1.25


def fit_calibrated(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_cal: np.ndarray,
    y_cal: np.ndarray,
    features: list[str],
    seed: int,
    n_estimators: int = 1000,
    progress: bool = True,
    refit: bool = False,
) -> tuple[lgb.Booster, Calibration, dict[str, Any]]:
    """LightGBM on the fit part; early stopping and Platt calibration on the later part.

    ``refit``: then fit once more on both parts (the later part holds the most recent fraud
    patterns) for ``REFIT_ROUNDS`` times the rounds early stopping chose, keeping the Platt
    map fitted on the held-out scores of the first model (a map fitted on the refit model's
    own training rows would be overconfident).
    """
    for name, y in (("training", y_fit), ("calibration", y_cal)):
        if y.size == 0:
            raise ModelError(f"the {name} part is empty: widen the time range")
        if int(y.sum()) == 0 or int(y.sum()) == y.size:
            raise ModelError(
                f"the {name} part holds a single class ({int(y.sum())} positives in {y.size}): "
                "a model needs both frauds and legitimate events"
            )
    params = _params(int(y_fit.sum()), int(y_fit.size - y_fit.sum()), seed)
    train = lgb.Dataset(x_fit, label=y_fit, feature_name=features, free_raw_data=False)
    valid = lgb.Dataset(x_cal, label=y_cal, reference=train)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("training LightGBM", total=n_estimators)

        def tick(env: lgb.callback.CallbackEnv) -> None:
            bar.update(task, completed=env.iteration + 1)

        booster = lgb.train(
            params,
            train,
            num_boost_round=n_estimators,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(50, verbose=False), tick],
        )
    raw = booster.predict(x_cal, raw_score=True, num_iteration=booster.best_iteration)
    # Platt scaling: monotone, so calibrating never reorders events (ROC-AUC is kept).
    platt = LogisticRegression(C=1e6).fit(np.asarray(raw).reshape(-1, 1), y_cal)
    calibration = Calibration.platt(float(platt.coef_[0][0]), float(platt.intercept_[0]))
    params["best_iteration"] = booster.best_iteration
    if refit:
        rounds = max(1, round(booster.best_iteration * REFIT_ROUNDS))
        both = lgb.Dataset(
            np.concatenate([x_fit, x_cal]),
            label=np.concatenate([y_fit, y_cal]),
            feature_name=features,
        )
        booster = lgb.train(params_for_refit(params), both, num_boost_round=rounds)
        params["refit_rounds"] = rounds
    return booster, calibration, params


def params_for_refit(params: dict[str, Any]) -> dict[str, Any]:
    """The training parameters without the figures recorded about the first fit."""
    return {k: v for k, v in params.items() if k not in ("best_iteration", "refit_rounds")}


def _time(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ModelError(f"{name} '{text}' is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ModelError(f"{name} needs a time zone offset, e.g. +08:00")
    return moment.timestamp()


def train_events(
    events: Path,
    out: Path,
    label_field: str = "attributes.is_fraud",
    labels_file: Path | None = None,
    train_until: str | None = None,
    eval_from: str | None = None,
    reveal_delay_s: float = 0.0,
    seed: int = 0,
    n_estimators: int = 1000,
    progress: bool = True,
    refit: bool = True,
) -> dict[str, Any]:
    """Train, calibrate, validate on later events and save the model with its card.

    The training period's last fifth (by time) is the validation fold: early stopping and the
    Platt map are chosen on it, then (``refit``) the model is fitted again on the whole
    training period (see :func:`fit_calibrated`)."""
    until = _time(train_until, "--train-until")
    start_eval = _time(eval_from, "--eval-from")
    rows = load_history(events)
    labels = read_label_file(labels_file) if labels_file is not None else None
    data = replay_matrix(rows, label_field, labels, reveal_delay_s, progress=progress)
    times = data.times
    if until is None:
        until = start_eval if start_eval is not None else float(np.quantile(times, 0.8))
    if start_eval is None:
        start_eval = until
    if start_eval < until:
        raise ModelError(
            "--eval-from is before --train-until: evaluation would score events the model "
            "was fitted on"
        )
    train_idx = np.flatnonzero(times < until)
    eval_idx = np.flatnonzero(times >= start_eval)
    if train_idx.size == 0 or eval_idx.size == 0:
        raise ModelError("the time split leaves no training or no evaluation events")
    # Time-ordered inside training too: the last fifth calibrates and stops early.
    cut = int(train_idx.size * 0.8)
    fit_idx, cal_idx = train_idx[:cut], train_idx[cut:]
    features = list(MODEL_FEATURES)
    booster, calibration, params = fit_calibrated(
        data.rows[fit_idx],
        data.labels[fit_idx],
        data.rows[cal_idx],
        data.labels[cal_idx],
        features,
        seed,
        n_estimators,
        progress,
        refit,
    )
    model = ScoringModel(booster, calibration, {"features": features})
    scores = model.predict_proba(data.rows[eval_idx])
    try:
        validation = score_metrics(data.labels[eval_idx], scores)
    except MetricsError as exc:
        raise ModelError(f"evaluation part: {exc}") from None
    importance = booster.feature_importance(importance_type="gain")
    top = [features[i] for i in np.argsort(-importance)[:10] if importance[i] > 0]
    # What "normal" looked like, for population-stability monitoring of the live traffic.
    reference = {"score": reference_distribution(model_scores(model, data.rows[fit_idx]))}
    for name in top[:5]:
        reference[name] = reference_distribution(data.rows[fit_idx, features.index(name)])
    card = {
        "kind": "events",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {"file": events.name, "sha256": _sha256(events), "events": len(rows)},
        "label_field": label_field if labels is None else f"labels file {labels_file}",
        "reveal_delay_s": reveal_delay_s,
        "data_range": {
            "first": _iso(times.min()),
            "last": _iso(times.max()),
            "train_until": _iso(until),
            "eval_from": _iso(start_eval),
        },
        "rows": {
            "fit": int(fit_idx.size),
            "calibration": int(cal_idx.size),
            "evaluation": int(eval_idx.size),
        },
        "positives": {
            "fit": int(data.labels[fit_idx].sum()),
            "calibration": int(data.labels[cal_idx].sum()),
            "evaluation": int(data.labels[eval_idx].sum()),
        },
        "features": features,
        "feature_descriptions": {f: FEATURES[f][1] for f in features},
        "top_features": top,
        "reference": reference,
        "params": params,
        "calibration": "Platt scaling on the last 20% (by time) of the training period",
        "refit": (
            "early stopping on the last 20% (by time) of the training period, then fitted "
            "again on the whole training period"
            if refit
            else None
        ),
        "metrics": {"validation": validation},
        "versions": _versions(),
    }
    model.card = card
    model.save(out)
    return card


def evaluate_events(
    model_dir: Path,
    events: Path,
    label_field: str,
    eval_from: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Replay a history (all of it, so windows are complete) and score events from eval_from."""
    model = ScoringModel.load(model_dir)
    rows = load_history(events)
    data = replay_matrix(
        rows,
        label_field,
        None,
        float(model.card.get("reveal_delay_s", 0.0)),
        features=model.features,
        progress=progress,
    )
    start = _time(eval_from, "--eval-from")
    idx = np.arange(len(rows)) if start is None else np.flatnonzero(data.times >= start)
    try:
        return score_metrics(data.labels[idx], model.predict_proba(data.rows[idx]))
    except MetricsError as exc:
        raise ModelError(str(exc)) from None


def model_scores(model: ScoringModel, rows: np.ndarray) -> np.ndarray:
    return model.predict_proba(rows) if rows.size else np.zeros(0)


def monitor_events(
    model_dir: Path, events: Path, threshold: float = 0.2, progress: bool = True
) -> dict[str, Any]:
    """Daily PSI of the score and the top features of ``events`` against the model's card."""
    model = ScoringModel.load(model_dir)
    reference = model.card.get("reference")
    if not reference:
        raise ModelError(f"{model_dir}: the model card holds no reference distribution")
    rows = load_history(events)
    data = replay_matrix(
        rows, "attributes.is_fraud", None, 0.0, features=model.features, progress=progress
    )
    columns = {"score": model.predict_proba(data.rows)}
    for name in reference:
        if name in model.features:
            columns[name] = data.rows[:, model.features.index(name)]
    return daily_psi(reference, data.times, columns, threshold)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    return {
        "lightgbm": lgb.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
