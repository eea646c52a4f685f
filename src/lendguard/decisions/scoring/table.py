"""Training a learned risk score from a table (one row per borrower, a 0/1 label).

For problems that are not event streams, such as financial distress: Give Me Some Credit, HMEQ,
German credit. ``train_table`` reads a CSV, a zipped CSV or a Parquet file, learns a LightGBM
booster with an isotonic calibration on top, and writes a :class:`ScoringModel` folder whose card
holds everything needed to turn a new table into the same feature matrix (``table_rows``):

* features in a fixed order; the label, the id column and a leading unnamed index are never
  features;
* string columns become LightGBM categoricals, their levels (learned on the training part) stored
  in the card; a value not among them at scoring time is missing;
* missing values are left as NaN for LightGBM (non-finite numbers are treated as missing too);
* each numeric feature is clipped to its 0.1% and 99.9% quantiles, learned on the training part
  only, stored in the card and applied at scoring.

The rows are split, stratified by the label, into a training part and a validation part
(``valid_size``); a calibration slice of the training part serves for early stopping and for the
isotonic calibration. The validation part is used only for the metrics in the card.
"""

from __future__ import annotations

import hashlib
import io
import platform
import re
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import sklearn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import train_test_split

from lendguard.decisions.scoring.metrics import MetricsError, score_metrics
from lendguard.decisions.scoring.model import Calibration, ModelError, ScoringModel

KIND = "table"
CALIBRATION_SIZE = 0.2
CLIP_QUANTILES = (0.001, 0.999)
MAX_CATEGORY_LEVELS = 1000
EARLY_STOPPING_ROUNDS = 50
TIE_BREAK = 1e-4
NULL_VALUES = ["NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
INDEX_NAMES = re.compile(r"^(|Unnamed: \d+|__index_level_\d+__)$")
LABEL_TRUE = {"1", "1.0", "true", "yes"}
LABEL_FALSE = {"0", "0.0", "false", "no"}
MISSING_NOTE = (
    "missing values are left as NaN for LightGBM (which learns a direction for them at each "
    "split); non-finite numbers and categorical values not seen in training are missing too"
)

Table = pl.DataFrame | str | Path | Sequence[Mapping[str, Any]]


# -- reading ---------------------------------------------------------------------------------


def _table_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".zip"):
        return "csv.zip"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ModelError(
        f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
        "expected .csv, .zip (holding one CSV) or .parquet"
    )


def _read_csv(source: Path | bytes, name: str) -> pl.DataFrame:
    data = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        return pl.read_csv(data, infer_schema_length=None, null_values=NULL_VALUES)
    except pl.exceptions.NoDataError:
        raise ModelError(f"{name}: the file is empty (no header, no rows)") from None
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise ModelError(f"{name}: not a readable CSV file: {exc}") from None


def read_table(path: str | Path) -> pl.DataFrame:
    """A CSV, a .zip holding one CSV, or a Parquet file as a polars frame (ModelError if not)."""
    path = Path(path)
    kind = _table_format(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: the file is empty (0 bytes)")
    if kind == "csv":
        return _read_csv(path, str(path))
    if kind == "parquet":
        try:
            return pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ModelError(f"{path}: not a readable Parquet file: {exc}") from None
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                m
                for m in archive.infolist()
                if not m.is_dir()
                and not m.filename.startswith("__MACOSX/")
                and m.filename.lower().endswith(".csv")
            ]
            if len(members) != 1:
                raise ModelError(
                    f"{path}: a .zip must hold exactly one .csv file, it holds "
                    f"{[m.filename for m in members]}"
                )
            payload = archive.read(members[0])
    except zipfile.BadZipFile:
        raise ModelError(f"{path}: not a valid .zip file") from None
    if not payload.strip():
        raise ModelError(f"{path}: the CSV {members[0].filename!r} inside it is empty")
    return _read_csv(payload, f"{path}:{members[0].filename}")


def _as_frame(table: Table) -> pl.DataFrame:
    if isinstance(table, pl.DataFrame):
        return table
    if isinstance(table, str | Path):
        return read_table(table)
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # a pandas frame
        return pl.from_pandas(table)
    try:
        return pl.DataFrame(list(table), infer_schema_length=None)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise ModelError(f"cannot read the rows as a table: {exc}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- label -----------------------------------------------------------------------------------


def _labels(frame: pl.DataFrame, label: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The 0/1 labels and the mask of rows that have one (ModelError if not 0/1-like)."""
    if label not in frame.columns:
        raise ModelError(f"{name}: no label column {label!r}; the columns are {frame.columns}")
    column = frame[label]
    present = column.is_not_null().to_numpy()
    values = column.drop_nulls()
    if values.len() == 0:
        raise ModelError(f"{name}: the label column {label!r} holds no values")
    dtype = values.dtype
    if dtype == pl.Boolean:
        y = values.cast(pl.Int8).to_numpy()
    elif dtype.is_numeric():
        floats = values.cast(pl.Float64).to_numpy()
        bad = np.unique(floats[(floats != 0) & (floats != 1)])
        if bad.size:
            raise ModelError(
                f"{name}: the label {label!r} must be 0/1-like, it also holds "
                f"{[_plain(v) for v in bad[:5]]}"
            )
        y = floats.astype(np.int8)
    elif dtype in (pl.String, pl.Categorical, pl.Enum):
        text = values.cast(pl.String).str.strip_chars().str.to_lowercase()
        distinct = set(text.unique().to_list())
        bad_text = sorted(distinct - LABEL_TRUE - LABEL_FALSE)
        if bad_text:
            raise ModelError(
                f"{name}: the label {label!r} must be 0/1-like (0/1, true/false, yes/no), it "
                f"holds {bad_text[:5]}"
            )
        y = text.is_in(sorted(LABEL_TRUE)).cast(pl.Int8).to_numpy()
    else:
        raise ModelError(f"{name}: the label {label!r} has type {dtype}, not 0/1-like")
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        raise ModelError(
            f"{name}: the label {label!r} holds a single class ({positives} positives in "
            f"{y.size} rows); training needs both 0 and 1"
        )
    return np.ascontiguousarray(y, dtype=np.int8), present


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


# -- features --------------------------------------------------------------------------------


@dataclass
class FeatureSpec:
    """How a table becomes the feature matrix: order, categorical levels and clip bounds."""

    features: list[str]
    categorical: dict[str, list[str]] = field(default_factory=dict)
    clip: dict[str, list[float] | None] = field(default_factory=dict)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> FeatureSpec:
        try:
            return cls(
                features=list(card["features"]),
                categorical={k: list(v) for k, v in card.get("categorical_levels", {}).items()},
                clip=dict(card.get("clip_bounds", {})),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"the model card has no usable feature description: {exc}") from None

    def categorical_indices(self) -> list[int]:
        return [i for i, name in enumerate(self.features) if name in self.categorical]

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """The float64 feature matrix, one column per feature in order (NaN: missing)."""
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ModelError(
                f"the table lacks the model's feature columns {missing}; it has {frame.columns}"
            )
        exprs = []
        for name in self.features:
            column = pl.col(name)
            if name in self.categorical:
                levels = self.categorical[name]
                exprs.append(
                    column.cast(pl.String)
                    .replace_strict(
                        levels, list(range(len(levels))), default=None, return_dtype=pl.Float64
                    )
                    .alias(name)
                )
            else:
                exprs.append(column.cast(pl.Float64, strict=False).alias(name))
        if frame.height == 0:
            return np.empty((0, len(self.features)), dtype=np.float64)
        out = frame.select(exprs).to_numpy().astype(np.float64, copy=True)
        out[~np.isfinite(out)] = np.nan
        for i, name in enumerate(self.features):
            bounds = self.clip.get(name)
            if bounds is not None:
                np.clip(out[:, i], bounds[0], bounds[1], out=out[:, i])
        return np.ascontiguousarray(out)


def _choose_features(
    frame: pl.DataFrame, excluded: set[str]
) -> tuple[list[str], list[str], dict[str, str]]:
    """(numeric, categorical, ignored→reason) columns, in the table's order."""
    numeric: list[str] = []
    categorical: list[str] = []
    ignored: dict[str, str] = {}
    for name, dtype in frame.schema.items():
        if name in excluded:
            continue
        if frame[name].null_count() == frame.height:
            ignored[name] = "no values"
        elif dtype == pl.Boolean or dtype.is_numeric():
            numeric.append(name)
        elif dtype in (pl.String, pl.Categorical, pl.Enum):
            categorical.append(name)
        else:
            ignored[name] = f"unsupported type {dtype}"
    return numeric, categorical, ignored


def _learn_spec(
    frame: pl.DataFrame, numeric: list[str], categorical: list[str]
) -> tuple[FeatureSpec, dict[str, int]]:
    """Categorical levels (the most frequent, capped, then sorted) and clip bounds of ``frame``."""
    features = [name for name in frame.columns if name in set(numeric) | set(categorical)]
    spec = FeatureSpec(features=features)
    truncated: dict[str, int] = {}
    for name in categorical:
        counts = (
            frame[name]
            .cast(pl.String)
            .drop_nulls()
            .alias("level")
            .value_counts(name="count")
            .sort(["count", "level"], descending=[True, False])
        )
        levels = counts["level"].to_list()
        if len(levels) > MAX_CATEGORY_LEVELS:
            truncated[name] = len(levels)
            levels = levels[:MAX_CATEGORY_LEVELS]
        spec.categorical[name] = sorted(levels)
    for name in numeric:
        values = frame[name].cast(pl.Float64).to_numpy()
        values = values[np.isfinite(values)]
        if values.size == 0:
            spec.clip[name] = None
            continue
        low, high = np.quantile(values, CLIP_QUANTILES)
        spec.clip[name] = [float(low), float(high)]
    return spec, truncated


# -- training --------------------------------------------------------------------------------


class _ProgressCallback:
    """A LightGBM callback moving a rich progress bar one step per boosting round."""

    order = 25  # after the evaluation is recorded, before early stopping may stop the loop

    def __init__(self, total: int, description: str):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metric]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task(description, total=total, metric="")

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        metric = ""
        if env.evaluation_result_list:
            _, name, value, *_ = env.evaluation_result_list[0]
            metric = f"{name} {value:.5f}"
        self.progress.update(self.task, completed=env.iteration + 1, metric=metric)

    def __enter__(self) -> _ProgressCallback:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def finish(self, best_iteration: int) -> None:
        task = self.progress.tasks[0]
        self.progress.update(
            self.task,
            completed=task.total,
            metric=f"{task.fields['metric']}  best iteration {best_iteration}",
        )


def _params(seed: int, positives: int, negatives: int) -> dict[str, Any]:
    return {
        "objective": "binary",
        "metric": ["auc", "binary_logloss"],
        "first_metric_only": True,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 40,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "scale_pos_weight": round(negatives / positives, 6),
        "seed": seed,
        "bagging_seed": seed,
        "feature_fraction_seed": seed,
        "data_random_seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
    }


def _split(
    y: np.ndarray, valid_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (fit, calibration, valid) row indices; each part holds both classes."""
    rows = np.arange(y.size)
    try:
        train, valid = train_test_split(rows, test_size=valid_size, random_state=seed, stratify=y)
        fit, calib = train_test_split(
            train, test_size=CALIBRATION_SIZE, random_state=seed + 1, stratify=y[train]
        )
    except ValueError as exc:
        raise ModelError(
            f"too few rows to split ({y.size} rows, {int(y.sum())} positives) into training, "
            f"calibration and validation parts: {exc}"
        ) from None
    for part, rows_ in (("training", fit), ("calibration", calib), ("validation", valid)):
        positives = int(y[rows_].sum())
        if positives == 0 or positives == rows_.size:
            raise ModelError(
                f"too few rows of one class ({int(y.sum())} positives in {y.size} rows): the "
                f"{part} part would hold a single class"
            )
    return np.sort(fit), np.sort(calib), np.sort(valid)


def _raw_range(booster: lgb.Booster) -> tuple[float, float]:
    """The lowest and highest raw score the booster can give (sums of extreme leaf values)."""

    def extremes(node: dict[str, Any]) -> tuple[float, float]:
        if "leaf_value" in node:
            value = float(node["leaf_value"])
            return value, value
        left = extremes(node["left_child"])
        right = extremes(node["right_child"])
        return min(left[0], right[0]), max(left[1], right[1])

    low = high = 0.0
    for tree in booster.dump_model()["tree_info"]:
        tree_low, tree_high = extremes(tree["tree_structure"])
        low, high = low + tree_low, high + tree_high
    return low, high


def _strictly_increasing(
    x: np.ndarray, y: np.ndarray, raw_range: tuple[float, float]
) -> Calibration:
    """The isotonic steps, made strictly increasing over every reachable raw score.

    Isotonic regression is flat between its thresholds and beyond its ends, which ties scores the
    booster ranks apart and costs recall at low false-positive rates. The flat ends are extended
    to the booster's raw-score range and the map is mixed with ``TIE_BREAK`` of a linear ramp
    over that range: still within [0, 1], within ``TIE_BREAK`` of the isotonic map, and strictly
    increasing, so the calibrated probability ranks rows exactly as the raw score does.
    """
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    low = min(raw_range[0], float(x[0])) - 1.0
    high = max(raw_range[1], float(x[-1])) + 1.0
    xs = np.concatenate([[low], x, [high]])
    ys = np.concatenate([[y[0]], y, [y[-1]]])
    ramp = (xs - low) / (high - low)
    return Calibration(xs, (1.0 - TIE_BREAK) * ys + TIE_BREAK * ramp)


def _versions() -> dict[str, str]:
    return {
        "lightgbm": lgb.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "polars": pl.__version__,
        "python": platform.python_version(),
    }


def _index_column(frame: pl.DataFrame) -> str | None:
    if frame.width and INDEX_NAMES.match(frame.columns[0]):
        return frame.columns[0]
    return None


def train_table(
    path: Path,
    label: str,
    out: Path,
    *,
    id_column: str | None = None,
    valid_size: float = 0.2,
    seed: int = 0,
    progress: bool = True,
    n_estimators: int = 300,
) -> dict[str, Any]:
    """Train, calibrate and save a risk score for ``label`` in the table at ``path``.

    Writes the model folder ``out`` and returns its card (also in ``out/card.json``).
    """
    started = time.perf_counter()
    path = Path(path)
    if not (isinstance(valid_size, int | float) and 0 < valid_size < 0.9):
        raise ModelError(f"valid_size must lie in (0, 0.9), got {valid_size!r}")
    if n_estimators < 1:
        raise ModelError(f"n_estimators must be at least 1, got {n_estimators}")
    source_format = _table_format(path)
    frame = read_table(path)
    if frame.height == 0:
        raise ModelError(f"{path}: the file has no rows (columns {frame.columns})")
    index_column = _index_column(frame)
    if index_column == label:
        index_column = None
    if id_column is not None:
        if id_column not in frame.columns:
            raise ModelError(f"{path}: no id column {id_column!r}; the columns are {frame.columns}")
        if id_column == label:
            raise ModelError(f"the id column and the label are the same column {label!r}")
    y_all, present = _labels(frame, label, str(path))
    label_missing = int((~present).sum())
    if label_missing:
        frame = frame.filter(pl.Series(present))
    y = y_all

    excluded = {label} | {c for c in (index_column, id_column) if c is not None}
    numeric, categorical, ignored = _choose_features(frame, excluded)
    if not numeric and not categorical:
        raise ModelError(
            f"{path}: no feature columns left besides the label, id and index "
            f"(columns {frame.columns}, ignored {ignored})"
        )
    fit, calib, valid = _split(y, valid_size, seed)
    train = np.sort(np.concatenate([fit, calib]))
    spec, truncated = _learn_spec(frame[train], numeric, categorical)
    x = spec.matrix(frame)

    positives, negatives = int(y[fit].sum()), int(fit.size - y[fit].sum())
    params = _params(seed, positives, negatives)
    categorical_idx = spec.categorical_indices()
    fit_set = lgb.Dataset(
        x[fit],
        label=y[fit],
        feature_name=spec.features,
        categorical_feature=categorical_idx,
        free_raw_data=False,
        params={"verbosity": -1},
    )
    calib_set = lgb.Dataset(
        x[calib], label=y[calib], reference=fit_set, categorical_feature=categorical_idx
    )
    callbacks: list[Any] = [
        lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
    ]
    bar = _ProgressCallback(n_estimators, f"training {path.name}") if progress else None
    if bar is not None:
        callbacks.append(bar)
    try:
        if bar is not None:
            bar.__enter__()
        booster = lgb.train(
            params,
            fit_set,
            num_boost_round=n_estimators,
            valid_sets=[calib_set],
            valid_names=["calibration"],
            callbacks=callbacks,
        )
        if bar is not None:
            bar.finish(booster.best_iteration)
    finally:
        if bar is not None:
            bar.__exit__()
    best_iteration = int(booster.best_iteration) or booster.current_iteration()
    # The booster as it will be saved: exactly the rounds up to the best iteration.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best_iteration))

    raw_calib = np.asarray(booster.predict(x[calib], raw_score=True, num_threads=1))
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    isotonic.fit(raw_calib, y[calib])
    calibration = _strictly_increasing(
        np.asarray(isotonic.X_thresholds_, dtype=np.float64),
        np.asarray(isotonic.y_thresholds_, dtype=np.float64),
        _raw_range(booster),
    )

    card: dict[str, Any] = {
        "kind": KIND,
        "source": {
            "file": path.name,
            "format": source_format,
            "sha256": _sha256(path),
            "bytes": path.stat().st_size,
        },
        "rows": int(y.size),
        "positives": int(y.sum()),
        "label": label,
        "label_missing_rows_dropped": label_missing,
        "id_column": id_column,
        "index_column": index_column,
        "features": spec.features,
        "feature_types": {
            name: "categorical" if name in spec.categorical else "numeric" for name in spec.features
        },
        "categorical_levels": spec.categorical,
        "categorical_levels_truncated": truncated,
        "clip_quantiles": list(CLIP_QUANTILES),
        "clip_bounds": spec.clip,
        "ignored_columns": ignored,
        "missing_values": MISSING_NOTE,
        "split": {
            "stratified": True,
            "seed": seed,
            "valid_size": valid_size,
            "calibration_size": CALIBRATION_SIZE,
            "train_rows": int(fit.size),
            "calibration_rows": int(calib.size),
            "valid_rows": int(valid.size),
        },
        "params": params
        | {"n_estimators": n_estimators, "early_stopping_rounds": EARLY_STOPPING_ROUNDS},
        "best_iteration": best_iteration,
        "calibration": {
            "method": "isotonic regression of the label on the raw score, fitted on the "
            "calibration slice (out of bounds: clip)",
            "tie_break": f"mixed with {TIE_BREAK} of a linear ramp over the booster's reachable "
            "raw-score range, so that the map is strictly increasing and keeps the booster's "
            f"ranking (probabilities move by at most {TIE_BREAK})",
            "points": int(calibration.x.size),
        },
        "versions": _versions(),
    }
    model = ScoringModel(booster, calibration, card)
    proba = model.predict_proba(x[valid])
    card["metrics"] = score_metrics(y[valid], proba)
    card["valid_calibration"] = {
        "mean_predicted": round(float(proba.mean()), 5),
        "base_rate": round(float(y[valid].mean()), 5),
    }
    card["training_seconds"] = round(time.perf_counter() - started, 3)
    card["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    model.save(out)
    return card


# -- scoring ---------------------------------------------------------------------------------


def table_rows(model: ScoringModel, frame_or_path: Table) -> np.ndarray:
    """The feature matrix ``model`` expects for a table (a frame, a file or a list of dicts).

    Same column order, categorical encoding (unknown levels → missing) and clipping as in
    training; other columns are ignored.
    """
    if model.card.get("kind") != KIND:
        raise ModelError(f"not a table model (kind {model.card.get('kind')!r})")
    return FeatureSpec.from_card(model.card).matrix(_as_frame(frame_or_path))


def evaluate_table(model_dir: Path, path: Path, label: str) -> dict[str, Any]:
    """``score_metrics`` of the model in ``model_dir`` on the labelled table at ``path``."""
    model = ScoringModel.load(model_dir)
    frame = read_table(path)
    if frame.height == 0:
        raise ModelError(f"{path}: the file has no rows (columns {frame.columns})")
    y, present = _labels(frame, label, str(path))
    if not present.all():
        frame = frame.filter(pl.Series(present))
    proba = model.predict_proba(table_rows(model, frame))
    try:
        return score_metrics(y, proba)
    except MetricsError as exc:
        raise ModelError(f"{path}: {exc}") from None
