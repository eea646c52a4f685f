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
  only, stored in the card and applied at scoring;
* standard derived features (``DERIVED_FEATURES``: past-due totals, debt amount, income per
  dependant, ...) are added when the table has Give Me Some Credit's source columns; the card
  names them and scoring computes them from the same raw columns;
* the booster is monotone non-decreasing in the features whose direction is known
  (``MONOTONE_INCREASING``: Give Me Some Credit's past-due counts and their totals, more late
  payments never lower the risk); the card lists them with the reason under
  ``monotone_increasing``.

One function, ``_fit_rows``, is the training code: given some rows it chooses the features,
learns the levels and clip bounds, splits the rows (stratified) into a fit part and a calibration
slice that serves for early stopping and for the isotonic calibration, and fits both, looking at
no other row. Without ``cv`` the rows are first split, stratified, into a training part and a
validation part (``valid_size``) used only for the metrics in the card. With ``cv``
(``cross_validate``) a seeded, stratified K-fold cross-validation runs ``_fit_rows`` on each
fold's training folds and scores its held-out fold; the per-fold and mean ± std figures go to the
card under ``cross_validation`` and the final model is fitted on all rows.
"""

from __future__ import annotations

import hashlib
import io
import platform
import re
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
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
from rich.table import Table as RichTable
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

from lendguard.decisions.scoring.metrics import MetricsError, score_metrics
from lendguard.decisions.scoring.model import Calibration, ModelError, ScoringModel

KIND = "table"
CALIBRATION_SIZE = 0.2
CLIP_QUANTILES = (0.001, 0.999)
MAX_CATEGORY_LEVELS = 1000
EARLY_STOPPING_ROUNDS = 100
N_ESTIMATORS = 3000
MIN_MIN_CHILD_SAMPLES = 20
MAX_MIN_CHILD_SAMPLES = 100
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


# -- derived features ------------------------------------------------------------------------

PAST_DUE_30 = "NumberOfTime30-59DaysPastDueNotWorse"
PAST_DUE_60 = "NumberOfTime60-89DaysPastDueNotWorse"
PAST_DUE_90 = "NumberOfTimes90DaysLate"
PAST_DUE_CODES = 90  # GMSC's past-due counts hold 96 and 98 as codes, not counts


def _num(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False)


def _past_due(weights: tuple[float, float, float]) -> pl.Expr:
    counts = [_num(PAST_DUE_30), _num(PAST_DUE_60), _num(PAST_DUE_90)]
    total = sum((w * c for w, c in zip(weights, counts, strict=True)), pl.lit(0.0))
    coded = pl.any_horizontal([c >= PAST_DUE_CODES for c in counts])
    return pl.when(coded).then(None).otherwise(total)


def _income_known() -> pl.Expr:
    income = _num("MonthlyIncome")
    return income.is_not_null() & income.is_finite()


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from named source columns, the same way in training and scoring."""

    name: str
    sources: tuple[str, ...]
    description: str
    build: Callable[[], pl.Expr]


# Standard features for the Give Me Some Credit columns. Each is added when the table has all of
# its source columns (and no column of its name), and is then an ordinary numeric feature: clip
# bounds learned on the training part, NaN where a source is missing.
DERIVED_FEATURES: tuple[DerivedFeature, ...] = (
    DerivedFeature(
        "total_past_due",
        (PAST_DUE_30, PAST_DUE_60, PAST_DUE_90),
        "30-59 + 60-89 + 90+ days past-due counts; missing where any holds a code (96, 98)",
        lambda: _past_due((1.0, 1.0, 1.0)),
    ),
    DerivedFeature(
        "weighted_past_due",
        (PAST_DUE_30, PAST_DUE_60, PAST_DUE_90),
        "30-59 + 2 × 60-89 + 3 × 90+ days past-due counts; missing where any holds a code",
        lambda: _past_due((1.0, 2.0, 3.0)),
    ),
    DerivedFeature(
        "debt_amount",
        ("DebtRatio", "MonthlyIncome"),
        "DebtRatio × MonthlyIncome; where the income is missing, DebtRatio itself (GMSC then "
        "records the monthly debt amount there, not a ratio)",
        lambda: (
            pl.when(_income_known())
            .then(_num("DebtRatio") * _num("MonthlyIncome"))
            .otherwise(_num("DebtRatio"))
        ),
    ),
    DerivedFeature(
        "debt_ratio_with_income",
        ("DebtRatio", "MonthlyIncome"),
        "DebtRatio where the monthly income is known and positive, else missing",
        lambda: (
            pl.when(_income_known() & (_num("MonthlyIncome") > 0))
            .then(_num("DebtRatio"))
            .otherwise(None)
        ),
    ),
    DerivedFeature(
        "income_missing",
        ("MonthlyIncome",),
        "1 where the monthly income is missing, else 0",
        lambda: (~_income_known()).cast(pl.Float64),
    ),
    DerivedFeature(
        "income_per_person",
        ("MonthlyIncome", "NumberOfDependents"),
        "MonthlyIncome / (NumberOfDependents + 1), a missing dependants count taken as 0",
        lambda: _num("MonthlyIncome") / (_num("NumberOfDependents").fill_null(0.0) + 1.0),
    ),
    DerivedFeature(
        "income_per_year_of_age",
        ("MonthlyIncome", "age"),
        "MonthlyIncome / age (missing where age is not positive)",
        lambda: pl.when(_num("age") > 0).then(_num("MonthlyIncome") / _num("age")).otherwise(None),
    ),
    DerivedFeature(
        "other_open_lines",
        ("NumberOfOpenCreditLinesAndLoans", "NumberRealEstateLoansOrLines"),
        "open credit lines and loans that are not real-estate loans or lines",
        lambda: _num("NumberOfOpenCreditLinesAndLoans") - _num("NumberRealEstateLoansOrLines"),
    ),
    DerivedFeature(
        "utilisation_x_open_lines",
        ("RevolvingUtilizationOfUnsecuredLines", "NumberOfOpenCreditLinesAndLoans"),
        "RevolvingUtilizationOfUnsecuredLines × NumberOfOpenCreditLinesAndLoans",
        lambda: (
            _num("RevolvingUtilizationOfUnsecuredLines") * _num("NumberOfOpenCreditLinesAndLoans")
        ),
    ),
)
DERIVED_BY_NAME = {feature.name: feature for feature in DERIVED_FEATURES}

# Features whose effect on the risk is known in advance: the booster is constrained to be
# monotone non-decreasing in each (LightGBM's ``monotone_constraints``) wherever the table has it
# as a numeric feature. The reason for each is recorded in the card.
MONOTONE_INCREASING: dict[str, str] = {
    PAST_DUE_30: "more 30-59 days past-due episodes never lower the risk",
    PAST_DUE_60: "more 60-89 days past-due episodes never lower the risk",
    PAST_DUE_90: "more 90+ days late episodes never lower the risk (the codes 96 and 98, "
    "which stand for a reporting problem, lie above every count: those borrowers default far "
    "more often than those without late payments, so placing them at the top is consistent)",
    "total_past_due": "more past-due episodes in all never lower the risk",
    "weighted_past_due": "more past-due episodes, or later ones, never lower the risk",
}
MONOTONE_METHOD = "advanced"
ENSEMBLE_SIZE = 1


def _derivable(frame: pl.DataFrame, excluded: set[str]) -> list[str]:
    """The derived features whose sources are all numeric feature columns of ``frame``."""
    schema = frame.schema
    names = []
    for feature in DERIVED_FEATURES:
        if feature.name in schema:
            continue
        if all(
            source in schema
            and source not in excluded
            and (schema[source].is_numeric() or schema[source] == pl.Null)
            for source in feature.sources
        ):
            names.append(feature.name)
    return names


def _with_derived(frame: pl.DataFrame, derived: Sequence[str]) -> pl.DataFrame:
    if not derived:
        return frame
    lacking = sorted(
        {s for name in derived for s in DERIVED_BY_NAME[name].sources} - set(frame.columns)
    )
    if lacking:
        raise ModelError(
            f"the table lacks the columns {lacking} that the model's derived features "
            f"{list(derived)} are computed from; it has {frame.columns}"
        )
    return frame.with_columns(DERIVED_BY_NAME[name].build().alias(name) for name in derived)


# -- features --------------------------------------------------------------------------------


@dataclass
class FeatureSpec:
    """How a table becomes the feature matrix: derived features, order, levels, clip bounds."""

    features: list[str]
    categorical: dict[str, list[str]] = field(default_factory=dict)
    clip: dict[str, list[float] | None] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> FeatureSpec:
        try:
            spec = cls(
                features=list(card["features"]),
                categorical={k: list(v) for k, v in card.get("categorical_levels", {}).items()},
                clip=dict(card.get("clip_bounds", {})),
                derived=list(card.get("derived_features", {})),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"the model card has no usable feature description: {exc}") from None
        unknown = [name for name in spec.derived if name not in DERIVED_BY_NAME]
        if unknown:
            raise ModelError(f"the model card names unknown derived features {unknown}")
        return spec

    def card_fields(self) -> dict[str, Any]:
        """What the card records about the spec (``from_card`` reads it back)."""
        return {
            "derived_features": {
                name: {
                    "from": list(DERIVED_BY_NAME[name].sources),
                    "how": DERIVED_BY_NAME[name].description,
                }
                for name in self.derived
            },
            "categorical_levels": self.categorical,
            "clip_bounds": self.clip,
            "monotone_increasing": self.monotone_increasing(),
        }

    def monotone_increasing(self) -> dict[str, str]:
        """The numeric features the booster must be non-decreasing in, with the reason."""
        return {
            name: MONOTONE_INCREASING[name]
            for name in self.features
            if name in MONOTONE_INCREASING and name not in self.categorical
        }

    def monotone_constraints(self) -> list[int]:
        """LightGBM's ``monotone_constraints``: 1 (non-decreasing) or 0 (free), per feature."""
        increasing = self.monotone_increasing()
        return [1 if name in increasing else 0 for name in self.features]

    def categorical_indices(self) -> list[int]:
        return [i for i, name in enumerate(self.features) if name in self.categorical]

    def matrix(self, frame: pl.DataFrame, *, derive: bool = True) -> np.ndarray:
        """The float64 feature matrix, one column per feature in order (NaN: missing).

        Derived features are computed from their source columns first (``derive=False``: the
        frame already holds them).
        """
        derived = set(self.derived)
        missing = [
            name for name in self.features if name not in derived and name not in frame.columns
        ]
        if missing:
            raise ModelError(
                f"the table lacks the model's feature columns {missing}; it has {frame.columns}"
            )
        if derive:
            frame = _with_derived(frame, self.derived)
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


def _min_child_samples(fit_rows: int) -> int:
    """Leaf size grows with the data: 20 rows for small tables, 100 from 64,000 fit rows on."""
    return int(min(MAX_MIN_CHILD_SAMPLES, max(MIN_MIN_CHILD_SAMPLES, fit_rows // 640)))


def _params(seed: int, fit_rows: int) -> dict[str, Any]:
    # Chosen once on Give Me Some Credit with cross-validation seeds other than the reported
    # one (docs/benchmarks.md): a slow learning rate with early stopping, small trees, no class
    # weights (the isotonic calibration gives the probabilities).
    return {
        "objective": "binary",
        "metric": ["binary_logloss", "auc"],
        "first_metric_only": True,
        "learning_rate": 0.02,
        "num_leaves": 15,
        "min_child_samples": _min_child_samples(fit_rows),
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "seed": seed,
        "bagging_seed": seed,
        "feature_fraction_seed": seed,
        "data_random_seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
    }


def _check_parts(y: np.ndarray, parts: Mapping[str, np.ndarray]) -> None:
    for part, rows in parts.items():
        positives = int(y[rows].sum())
        if positives == 0 or positives == rows.size:
            raise ModelError(
                f"too few rows of one class ({int(y.sum())} positives in {y.size} rows): the "
                f"{part} part would hold a single class"
            )


def _holdout(y: np.ndarray, valid_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (training, validation) row indices, sorted."""
    rows = np.arange(y.size)
    try:
        train, valid = train_test_split(rows, test_size=valid_size, random_state=seed, stratify=y)
    except ValueError as exc:
        raise ModelError(
            f"too few rows to split ({y.size} rows, {int(y.sum())} positives) into training, "
            f"calibration and validation parts: {exc}"
        ) from None
    return np.sort(train), np.sort(valid)


def _inner_split(y: np.ndarray, rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, calibration) indices of ``rows``: early stopping and calibration."""
    try:
        fit, calib = train_test_split(
            rows, test_size=CALIBRATION_SIZE, random_state=seed + 1, stratify=y[rows]
        )
    except ValueError as exc:
        raise ModelError(
            f"too few rows to split ({rows.size} rows, {int(y[rows].sum())} positives) into "
            f"training and calibration parts: {exc}"
        ) from None
    return np.sort(fit), np.sort(calib)


def _split(
    y: np.ndarray, valid_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (fit, calibration, valid) row indices; each part holds both classes."""
    train, valid = _holdout(y, valid_size, seed)
    fit, calib = _inner_split(y, train, seed)
    _check_parts(y, {"training": fit, "calibration": calib, "validation": valid})
    return fit, calib, valid


def _average(boosters: Sequence[lgb.Booster]) -> lgb.Booster:
    """One booster whose raw score is the mean of the boosters' raw scores.

    The boosters share their features (one training set); their trees are put one after the
    other with every leaf (and internal node) value divided by their number, so the sum over all
    trees is the mean of their sums. One booster is returned as it is.
    """
    if len(boosters) == 1:
        return boosters[0]
    scale = 1.0 / len(boosters)
    texts = [booster.model_to_string() for booster in boosters]
    start = texts[0].index("\nTree=0\n")
    head = [line for line in texts[0][:start].split("\n") if not line.startswith("tree_sizes=")]
    trees: list[str] = []
    for text in texts:
        body = text[text.index("\nTree=0\n") + 1 : text.index("\nend of trees")]
        for block in body.split("\n\n\n"):
            lines = block.strip("\n").split("\n")
            if not lines or not lines[0].startswith("Tree="):
                continue
            lines[0] = f"Tree={len(trees)}"
            for i, line in enumerate(lines):
                key, _, values = line.partition("=")
                if key in ("leaf_value", "internal_value"):
                    lines[i] = f"{key}=" + " ".join(
                        repr(float(value) * scale) for value in values.split()
                    )
            trees.append("\n".join(lines))
    text = "\n".join(head) + "\n\n" + "".join(f"{tree}\n\n\n" for tree in trees)
    return lgb.Booster(model_str=text + "end of trees\n")


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


@dataclass
class FittedPart:
    """A booster and its calibration fitted on some rows of a table, with what was learned."""

    model: ScoringModel
    spec: FeatureSpec
    truncated: dict[str, int]
    ignored: dict[str, str]
    params: dict[str, Any]
    best_iteration: int
    fit_rows: np.ndarray
    calibration_rows: np.ndarray


def _fit_rows(
    frame: pl.DataFrame,
    y: np.ndarray,
    rows: np.ndarray,
    excluded: set[str],
    *,
    seed: int,
    n_estimators: int,
    bar: _ProgressCallback | None = None,
    name: str = "the table",
) -> FittedPart:
    """The training code, for the single fit, each cross-validation fold and the final fit.

    Only ``rows`` (sorted indices of ``frame``) are looked at: the feature choice, the
    categorical levels and clip bounds, the fit / calibration split, early stopping, the booster
    and the isotonic calibration all come from them, never from the other rows.
    """
    part = frame[rows]
    y_part = y[rows]
    derived = _derivable(part, excluded)
    part = _with_derived(part, derived)
    numeric, categorical, ignored = _choose_features(part, excluded)
    if not numeric and not categorical:
        raise ModelError(
            f"{name}: no feature columns left besides the label, id and index "
            f"(columns {frame.columns}, ignored {ignored})"
        )
    fit, calib = _inner_split(y_part, np.arange(rows.size), seed)
    _check_parts(y_part, {"training": fit, "calibration": calib})
    spec, truncated = _learn_spec(part, numeric, categorical)
    spec.derived = [d for d in derived if d in spec.features]
    x = spec.matrix(part, derive=False)

    params = _params(seed, int(fit.size))
    monotone = spec.monotone_constraints()
    if any(monotone):
        params |= {"monotone_constraints": monotone, "monotone_constraints_method": MONOTONE_METHOD}
    categorical_idx = spec.categorical_indices()
    fit_set = lgb.Dataset(
        x[fit],
        label=y_part[fit],
        feature_name=spec.features,
        categorical_feature=categorical_idx,
        free_raw_data=False,
        params={"verbosity": -1},
    )
    calib_set = lgb.Dataset(
        x[calib], label=y_part[calib], reference=fit_set, categorical_feature=categorical_idx
    )
    boosters: list[lgb.Booster] = []
    iterations: list[int] = []
    if bar is not None:
        bar.__enter__()
    try:
        for member in range(ENSEMBLE_SIZE):
            callbacks: list[Any] = [
                lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
            ]
            if bar is not None:
                callbacks.append(bar)
            member_seed = seed + 1000 * member
            trained = lgb.train(
                params
                | {
                    "seed": member_seed,
                    "bagging_seed": member_seed,
                    "feature_fraction_seed": member_seed,
                },
                fit_set,
                num_boost_round=n_estimators,
                valid_sets=[calib_set],
                valid_names=["calibration"],
                callbacks=callbacks,
            )
            best = int(trained.best_iteration) or trained.current_iteration()
            iterations.append(best)
            # The member as it will be kept: exactly the rounds up to its best iteration.
            boosters.append(lgb.Booster(model_str=trained.model_to_string(num_iteration=best)))
        if bar is not None:
            bar.finish(iterations[-1])
    finally:
        if bar is not None:
            bar.__exit__()
    best_iteration = iterations[0] if len(iterations) == 1 else round(float(np.mean(iterations)))
    booster = _average(boosters)

    raw_calib = np.asarray(booster.predict(x[calib], raw_score=True, num_threads=1))
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    isotonic.fit(raw_calib, y_part[calib])
    calibration = _strictly_increasing(
        np.asarray(isotonic.X_thresholds_, dtype=np.float64),
        np.asarray(isotonic.y_thresholds_, dtype=np.float64),
        _raw_range(booster),
    )
    card = {"kind": KIND, "features": spec.features} | spec.card_fields()
    return FittedPart(
        model=ScoringModel(booster, calibration, card),
        spec=spec,
        truncated=truncated,
        ignored=ignored,
        params=params,
        best_iteration=best_iteration,
        fit_rows=rows[fit],
        calibration_rows=rows[calib],
    )


def _predict(fitted: FittedPart, frame: pl.DataFrame, rows: np.ndarray) -> np.ndarray:
    return fitted.model.predict_proba(fitted.spec.matrix(frame[rows]))


# -- cross-validation ------------------------------------------------------------------------


@dataclass
class Fold:
    """One cross-validation fold: its rows, the part fitted without them, their metrics."""

    index: int
    train_rows: np.ndarray
    held_out_rows: np.ndarray
    fitted: FittedPart
    proba: np.ndarray
    metrics: dict[str, Any]


@dataclass
class CrossValidation:
    folds: list[Fold]
    summary: dict[str, Any]


def _check_cv(cv: object, y: np.ndarray) -> int:
    if isinstance(cv, bool) or not isinstance(cv, int | np.integer) or cv < 2:
        raise ModelError(f"cv must be a whole number of folds, at least 2, got {cv!r}")
    positives = int(y.sum())
    fewest = min(positives, int(y.size) - positives)
    if cv > fewest:
        raise ModelError(
            f"cv={cv} folds need at least {cv} rows of each class; the label has {positives} "
            f"positives and {y.size - positives} negatives"
        )
    return int(cv)


def _spread(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(array.mean()), 5),
        "std": round(float(array.std(ddof=0)), 5),
        "min": round(float(array.min()), 5),
        "max": round(float(array.max()), 5),
    }


def cross_validate(
    frame: pl.DataFrame,
    y: np.ndarray,
    excluded: set[str],
    cv: int,
    *,
    seed: int = 0,
    n_estimators: int = N_ESTIMATORS,
    progress: bool = True,
    name: str = "the table",
) -> CrossValidation:
    """Seeded, stratified ``cv``-fold cross-validation of the training code (``_fit_rows``).

    Each fold fits everything (features, levels, clip bounds, inner split, booster,
    calibration) on the other folds and scores its own rows with the calibrated probability.
    """
    started = time.perf_counter()
    cv = _check_cv(cv, y)
    splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    folds: list[Fold] = []
    progress_bar = _fold_progress(cv, name) if progress else None
    try:
        if progress_bar is not None:
            progress_bar.start()
        for index, (train, held_out) in enumerate(splitter.split(np.zeros(y.size), y), start=1):
            train, held_out = np.sort(train), np.sort(held_out)
            _check_parts(y, {f"fold {index} held-out": held_out})
            fitted = _fit_rows(
                frame, y, train, excluded, seed=seed, n_estimators=n_estimators, name=name
            )
            proba = _predict(fitted, frame, held_out)
            metrics = score_metrics(y[held_out], proba)
            folds.append(Fold(index, train, held_out, fitted, proba, metrics))
            if progress_bar is not None:
                task = progress_bar.tasks[0].id
                progress_bar.update(
                    task, advance=1, metric=f"fold {index} ROC-AUC {metrics['roc_auc']:.4f}"
                )
    finally:
        if progress_bar is not None:
            progress_bar.stop()

    oof = np.empty(y.size, dtype=np.float64)
    for fold in folds:
        oof[fold.held_out_rows] = fold.proba
    summary: dict[str, Any] = {
        "folds": cv,
        "seed": seed,
        "method": (
            f"StratifiedKFold(n_splits={cv}, shuffle=True, random_state={seed}); each fold runs "
            "the same training code as the single fit on the other folds only (feature choice, "
            "categorical levels, clip bounds, fit / calibration split, early stopping, booster, "
            "isotonic calibration) and scores its held-out rows with the calibrated probability"
        ),
        "per_fold": [
            {
                "fold": fold.index,
                "train_rows": int(fold.train_rows.size),
                "held_out_rows": int(fold.held_out_rows.size),
                "held_out_positives": int(y[fold.held_out_rows].sum()),
                "best_iteration": fold.fitted.best_iteration,
                "roc_auc": fold.metrics["roc_auc"],
                "auprc": fold.metrics["auprc"],
                "recall_at_fpr": fold.metrics["recall_at_fpr"],
            }
            for fold in folds
        ],
        "roc_auc": _spread([fold.metrics["roc_auc"] for fold in folds]),
        "auprc": _spread([fold.metrics["auprc"] for fold in folds]),
        "std": "population standard deviation over the folds (ddof=0)",
        "out_of_fold": score_metrics(y, oof),
        "out_of_fold_calibration": {
            "mean_predicted": round(float(oof.mean()), 5),
            "base_rate": round(float(y.mean()), 5),
        },
        "seconds": round(time.perf_counter() - started, 3),
    }
    return CrossValidation(folds, summary)


def _fold_progress(cv: int, name: str) -> Progress:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[metric]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    progress.add_task(f"cross-validating {name}, {cv} folds", total=cv, metric="")
    return progress


def cross_validation_table(summary: Mapping[str, Any]) -> RichTable:
    """The card's ``cross_validation`` block as a rich table: one row per fold, mean ± std."""
    table = RichTable(
        title=f"{summary['folds']}-fold cross-validation (seed {summary['seed']})",
        title_justify="left",
    )
    for column in ("fold", "held-out rows", "positives", "best iteration", "ROC-AUC", "AUPRC"):
        table.add_column(column, justify="right")
    for fold in summary["per_fold"]:
        table.add_row(
            str(fold["fold"]),
            f"{fold['held_out_rows']:,}",
            f"{fold['held_out_positives']:,}",
            str(fold["best_iteration"]),
            f"{fold['roc_auc']:.5f}",
            f"{fold['auprc']:.5f}",
        )
    roc, auprc = summary["roc_auc"], summary["auprc"]
    table.add_section()
    table.add_row(
        "mean ± std",
        "",
        "",
        "",
        f"{roc['mean']:.5f} ± {roc['std']:.5f}",
        f"{auprc['mean']:.5f} ± {auprc['std']:.5f}",
    )
    table.add_row(
        "out of fold",
        "",
        "",
        "",
        f"{summary['out_of_fold']['roc_auc']:.5f}",
        f"{summary['out_of_fold']['auprc']:.5f}",
    )
    return table


# -- the command -----------------------------------------------------------------------------


def train_table(
    path: Path,
    label: str,
    out: Path,
    *,
    id_column: str | None = None,
    valid_size: float = 0.2,
    seed: int = 0,
    progress: bool = True,
    n_estimators: int = N_ESTIMATORS,
    cv: int | None = None,
) -> dict[str, Any]:
    """Train, calibrate and save a risk score for ``label`` in the table at ``path``.

    Without ``cv``: a stratified validation part (``valid_size``) is held out and the card's
    metrics come from it. With ``cv`` (at least 2): a seeded, stratified ``cv``-fold
    cross-validation of the same training code is recorded under ``cross_validation``, then the
    final model is fitted on all rows (no validation part; the card's metrics are the pooled
    out-of-fold ones). Writes the model folder ``out`` and returns its card (also in
    ``out/card.json``).
    """
    started = time.perf_counter()
    path = Path(path)
    if cv is None and not (isinstance(valid_size, int | float) and 0 < valid_size < 0.9):
        raise ModelError(f"valid_size must lie in (0, 0.9), got {valid_size!r}")
    if n_estimators < 1:
        raise ModelError(f"n_estimators must be at least 1, got {n_estimators}")
    if cv is not None and (isinstance(cv, bool) or not isinstance(cv, int) or cv < 2):
        raise ModelError(f"cv must be a whole number of folds, at least 2, got {cv!r}")
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
    y, present = _labels(frame, label, str(path))
    label_missing = int((~present).sum())
    if label_missing:
        frame = frame.filter(pl.Series(present))
    excluded = {label} | {c for c in (index_column, id_column) if c is not None}

    cross: CrossValidation | None = None
    if cv is not None:
        cross = cross_validate(
            frame,
            y,
            excluded,
            cv,
            seed=seed,
            n_estimators=n_estimators,
            progress=progress,
            name=path.name,
        )
        train, valid = np.arange(y.size), np.empty(0, dtype=np.int64)
    else:
        train, valid = _holdout(y, valid_size, seed)
        _check_parts(y, {"validation": valid})
    bar = _ProgressCallback(n_estimators, f"training {path.name}") if progress else None
    final = _fit_rows(
        frame, y, train, excluded, seed=seed, n_estimators=n_estimators, bar=bar, name=str(path)
    )
    spec = final.spec

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
        **spec.card_fields(),
        "categorical_levels_truncated": final.truncated,
        "clip_quantiles": list(CLIP_QUANTILES),
        "ignored_columns": final.ignored,
        "missing_values": MISSING_NOTE,
        "split": {
            "stratified": True,
            "seed": seed,
            "valid_size": None if cv is not None else valid_size,
            "cross_validation_folds": cv,
            "calibration_size": CALIBRATION_SIZE,
            "train_rows": int(final.fit_rows.size),
            "calibration_rows": int(final.calibration_rows.size),
            "valid_rows": int(valid.size),
        },
        "params": final.params
        | {"n_estimators": n_estimators, "early_stopping_rounds": EARLY_STOPPING_ROUNDS},
        "best_iteration": final.best_iteration,
        "calibration": {
            "method": "isotonic regression of the label on the raw score, fitted on the "
            "calibration slice (out of bounds: clip)",
            "tie_break": f"mixed with {TIE_BREAK} of a linear ramp over the booster's reachable "
            "raw-score range, so that the map is strictly increasing and keeps the booster's "
            f"ranking (probabilities move by at most {TIE_BREAK})",
            "points": int(final.model.calibration.x.size),
        },
        "versions": _versions(),
    }
    model = ScoringModel(final.model.booster, final.model.calibration, card)
    if cross is not None:
        card["cross_validation"] = cross.summary
        card["metrics"] = cross.summary["out_of_fold"]
        card["metrics_from"] = f"cross-validation, {cv} folds, pooled out-of-fold probabilities"
        card["valid_calibration"] = cross.summary["out_of_fold_calibration"]
    else:
        proba = _predict(final, frame, valid)
        card["metrics"] = score_metrics(y[valid], proba)
        card["metrics_from"] = f"the held-out validation part ({valid.size} rows)"
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
