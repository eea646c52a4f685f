"""Training a risk score from a table: ``train_table``, ``table_rows`` and ``evaluate_table``,
the cross-validation (``train_table(cv=…)``, ``cross_validate``, ``lendguard model train --cv``)
and the derived features of Give Me Some Credit's columns.

Small synthetic tables built in ``tmp_path``, plus HMEQ and German credit from ``../shared/data``
(skipped, with the reason, where that folder is missing).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.decisions.scoring.metrics import score_metrics
from lendguard.decisions.scoring.model import ModelError, ScoringModel
from lendguard.training.table import (
    CLIP_QUANTILES,
    DERIVED_FEATURES,
    CrossValidation,
    _split,
    cross_validate,
    evaluate_table,
    read_table,
    table_rows,
    train_table,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared/data"
HMEQ = DATA / "hmeq/hmeq.csv"
GERMAN = DATA / "german-credit/german.data"
FAST: dict[str, Any] = {"progress": False, "n_estimators": 60}
FEATURES = ["income", "utilisation", "debt_ratio", "grade", "dependents"]


def synthetic(rows: int = 3000, seed: int = 0) -> pl.DataFrame:
    """Borrowers whose default depends on every feature; ``customer_id`` is a pure identifier."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.0, 0.5, rows)
    utilisation = rng.beta(2, 5, rows)
    outliers = rng.random(rows) < 0.01
    utilisation[outliers] = rng.uniform(50, 5000, int(outliers.sum()))  # data-entry errors
    debt_ratio = rng.gamma(2.0, 0.2, rows)
    grade = rng.choice(np.array(["A", "B", "C", "D"]), rows, p=[0.4, 0.3, 0.2, 0.1])
    dependents = rng.integers(0, 5, rows).astype(np.float64)
    logit = (
        -2.5
        - 0.8 * (np.log(income) - 8.0)
        + 2.5 * np.minimum(utilisation, 1.0)
        + 1.0 * debt_ratio
        + np.select([grade == "C", grade == "D"], [1.0, 2.0], 0.0)
    )
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    income_missing = rng.random(rows) < 0.1
    frame = pl.DataFrame(
        {
            "customer_id": np.arange(100_000, 100_000 + rows),
            "income": np.where(income_missing, np.nan, income.round(2)),
            "utilisation": utilisation,
            "debt_ratio": debt_ratio,
            "grade": grade,
            "dependents": np.where(rng.random(rows) < 0.05, np.nan, dependents),
            "defaulted": label,
        }
    )
    return frame.with_columns(pl.col("income", "dependents").fill_nan(None))


def write_csv(frame: pl.DataFrame, path: Path, index: str | None = "") -> Path:
    """``frame`` as a CSV, with a leading index column named ``index`` (pandas-style) if given."""
    if index is not None:
        frame = frame.select(pl.int_range(frame.height).alias(index), pl.all())
    frame.write_csv(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """(data file, model folder, card) of one model on the synthetic table, shared by tests."""
    root = tmp_path_factory.mktemp("table")
    data = write_csv(synthetic(), root / "borrowers.csv")
    card = train_table(data, "defaulted", root / "model", id_column="customer_id", seed=3, **FAST)
    return data, root / "model", card


# -- the model and its card -----------------------------------------------------------------


def test_card_describes_the_model(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    data, model_dir, card = trained
    saved = json.loads((model_dir / "card.json").read_text())
    assert saved == json.loads(json.dumps(card, default=str))
    assert card["kind"] == "table"
    assert card["source"]["file"] == "borrowers.csv"
    assert card["source"]["format"] == "csv"
    assert card["source"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert card["rows"] == 3000
    assert 0 < card["positives"] < 3000
    assert card["label"] == "defaulted"
    assert card["id_column"] == "customer_id"
    assert card["index_column"] == ""
    assert card["features"] == FEATURES
    assert card["feature_types"]["grade"] == "categorical"
    assert card["categorical_levels"] == {"grade": ["A", "B", "C", "D"]}
    assert set(card["clip_bounds"]) == set(FEATURES) - {"grade"}
    assert card["clip_quantiles"] == list(CLIP_QUANTILES)
    assert "NaN" in card["missing_values"]
    assert "scale_pos_weight" not in card["params"]  # the isotonic map gives the probabilities
    assert card["derived_features"] == {}  # none of Give Me Some Credit's columns
    assert "cross_validation" not in card
    assert card["metrics_from"] == "the held-out validation part (600 rows)"
    assert card["params"]["deterministic"] is True
    assert card["params"]["seed"] == 3
    assert 1 <= card["best_iteration"] <= 60
    split = card["split"]
    assert split["train_rows"] + split["calibration_rows"] + split["valid_rows"] == 3000
    assert split["valid_rows"] == 600
    assert split["cross_validation_folds"] is None
    metrics = card["metrics"]
    assert metrics["n"] == 600
    assert set(metrics) == {"roc_auc", "auprc", "recall_at_fpr", "n", "positives"}
    assert metrics["roc_auc"] > 0.7
    assert set(card["versions"]) == {"lightgbm", "sklearn", "numpy", "polars", "python"}
    assert card["created_at"].endswith("+00:00")


def test_reloaded_model_predicts_the_same(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    data, model_dir, _ = trained
    model = ScoringModel.load(model_dir)
    rows = table_rows(model, data)
    assert rows.shape == (3000, len(FEATURES))
    first = model.predict_proba(rows)
    again = ScoringModel.load(model_dir).predict_proba(table_rows(model, data))
    np.testing.assert_array_equal(first, again)
    assert np.all((first >= 0) & (first <= 1))


def test_probabilities_are_calibrated(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    _, _, card = trained
    check = card["valid_calibration"]
    assert check["mean_predicted"] == pytest.approx(check["base_rate"], abs=0.03)


def test_calibration_keeps_the_booster_ranking(
    trained: tuple[Path, Path, dict[str, Any]],
) -> None:
    data, model_dir, _ = trained
    model = ScoringModel.load(model_dir)
    rows = table_rows(model, data)
    raw, proba = model.raw(rows), model.predict_proba(rows)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(proba[order]) >= 0)
    assert np.unique(proba).size == np.unique(raw).size


def test_evaluate_matches_scoring(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    data, model_dir, _ = trained
    metrics = evaluate_table(model_dir, data, "defaulted")
    assert metrics["n"] == 3000
    assert metrics["roc_auc"] > 0.7


# -- columns: id, index, categoricals, missing values, clipping ------------------------------


@pytest.mark.parametrize("index", ["", "Unnamed: 0"])
def test_leading_unnamed_index_is_not_a_feature(tmp_path: Path, index: str) -> None:
    data = write_csv(synthetic(800), tmp_path / "t.csv", index=index)
    card = train_table(data, "defaulted", tmp_path / "m", **FAST)
    assert card["index_column"] == index
    assert index not in card["features"]
    assert "customer_id" in card["features"]  # no id column named: an ordinary column


def test_id_column_is_not_a_feature(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    assert "customer_id" not in trained[2]["features"]


def test_categorical_levels_and_unknown_values(
    trained: tuple[Path, Path, dict[str, Any]],
) -> None:
    model = ScoringModel.load(trained[1])
    column = model.features.index("grade")
    base = {"income": 3000.0, "utilisation": 0.3, "debt_ratio": 0.4, "dependents": 1}
    rows = table_rows(model, [base | {"grade": g} for g in ("A", "D", "Z", None)])
    assert rows[:, column].tolist()[:2] == [0.0, 3.0]
    assert np.isnan(rows[2:, column]).all()  # unknown and missing levels are missing
    proba = model.predict_proba(rows)
    assert proba[1] > proba[0]  # grade D is riskier than A
    assert np.isfinite(proba).all()
    assert model.booster.dump_model()["feature_infos"]["grade"]["values"]  # a categorical


def test_missing_values_are_nan(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    model = ScoringModel.load(trained[1])
    rows = table_rows(
        model,
        pl.DataFrame(
            {
                "income": [None, float("inf")],
                "utilisation": [0.5, None],
                "debt_ratio": [0.3, 0.3],
                "grade": ["B", "B"],
                "dependents": [None, 2.0],
            },
            schema_overrides={"income": pl.Float64, "utilisation": pl.Float64},
        ),
    )
    assert np.isnan(rows[0, 0])
    assert np.isnan(rows[1, 0])
    assert np.isnan(rows[1, 1])
    proba = model.predict_proba(rows)
    assert np.all((proba >= 0) & (proba <= 1))


def test_outliers_are_clipped_to_training_quantiles(
    trained: tuple[Path, Path, dict[str, Any]],
) -> None:
    data, model_dir, card = trained
    low, high = card["clip_bounds"]["utilisation"]
    raw_values = pl.read_csv(data)["utilisation"]
    assert raw_values.min() <= low < high < raw_values.max()  # the extreme 0.1% is cut
    model = ScoringModel.load(model_dir)
    column = model.features.index("utilisation")
    row = {"income": 3000.0, "debt_ratio": 0.4, "grade": "A", "dependents": 1}
    rows = table_rows(model, [row | {"utilisation": v} for v in (-1e9, 0.5, 1e12)])
    assert rows[:, column].tolist() == [low, 0.5, high]


def test_clip_bounds_come_from_the_training_part_only(tmp_path: Path) -> None:
    frame = synthetic(1000)
    label = frame["defaulted"].to_numpy().astype(np.int8)
    fit, calib, valid = _split(label, 0.2, 5)
    # Outliers only in the validation part: the bounds must not see them.
    debt = frame["debt_ratio"].to_numpy().copy()
    debt[valid[:20]] = 1e9
    frame = frame.with_columns(debt_ratio=pl.Series(debt))
    data = write_csv(frame, tmp_path / "t.csv")
    card = train_table(data, "defaulted", tmp_path / "m", seed=5, **FAST)
    train = np.concatenate([fit, calib])
    expected = np.quantile(debt[train], CLIP_QUANTILES).tolist()
    assert card["clip_bounds"]["debt_ratio"] == pytest.approx(expected, rel=1e-12)
    assert card["clip_bounds"]["debt_ratio"][1] < 100


def test_table_rows_needs_every_feature(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    model = ScoringModel.load(trained[1])
    with pytest.raises(ModelError, match="lacks the model's feature columns.*'grade'"):
        table_rows(model, [{"income": 1.0, "utilisation": 0.1, "debt_ratio": 0.1}])


def test_extra_and_reordered_columns_are_ignored(
    trained: tuple[Path, Path, dict[str, Any]],
) -> None:
    data, model_dir, _ = trained
    model = ScoringModel.load(model_dir)
    frame = pl.read_csv(data)
    shuffled = frame.select(list(reversed(frame.columns))).with_columns(extra=pl.lit("x"))
    np.testing.assert_array_equal(table_rows(model, frame), table_rows(model, shuffled))


# -- determinism and input formats -----------------------------------------------------------


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    data = write_csv(synthetic(1500), tmp_path / "t.csv")
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        train_table(data, "defaulted", tmp_path / name, seed=seed, **FAST)
    text = {n: (tmp_path / n / "model.txt").read_text() for n in "abc"}
    calibration = {n: (tmp_path / n / "calibration.json").read_text() for n in "abc"}
    assert text["a"] == text["b"]
    assert calibration["a"] == calibration["b"]
    assert text["a"] != text["c"]


def test_zipped_csv_and_parquet_inputs(tmp_path: Path) -> None:
    frame = synthetic(1200)
    csv = write_csv(frame, tmp_path / "t.csv")
    with zipfile.ZipFile(tmp_path / "t.csv.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv, "inner.csv")
    frame.write_parquet(tmp_path / "t.parquet")
    cards = {}
    for name in ("t.csv", "t.csv.zip", "t.parquet"):
        cards[name] = train_table(
            tmp_path / name, "defaulted", tmp_path / f"m-{name}", id_column="customer_id", **FAST
        )
    assert cards["t.csv.zip"]["source"]["format"] == "csv.zip"
    assert cards["t.parquet"]["source"]["format"] == "parquet"
    assert cards["t.parquet"]["index_column"] is None
    for card in cards.values():
        assert card["features"] == FEATURES
    assert cards["t.csv"]["metrics"] == cards["t.csv.zip"]["metrics"]
    assert cards["t.csv"]["metrics"]["roc_auc"] == pytest.approx(
        cards["t.parquet"]["metrics"]["roc_auc"], abs=1e-6
    )
    model = ScoringModel.load(tmp_path / "m-t.parquet")
    np.testing.assert_allclose(
        table_rows(model, tmp_path / "t.parquet"), table_rows(model, csv), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("values", "dtype"),
    [([True, False], pl.Boolean), (["yes", "no"], pl.String), ([1.0, 0.0], pl.Float64)],
)
def test_label_spellings(tmp_path: Path, values: list[Any], dtype: pl.DataType) -> None:
    frame = synthetic(800)
    label = frame["defaulted"].to_numpy()
    mapped = pl.Series("defaulted", [values[0] if v else values[1] for v in label], dtype=dtype)
    data = write_csv(frame.with_columns(mapped), tmp_path / "t.csv")
    card = train_table(data, "defaulted", tmp_path / "m", **FAST)
    assert card["positives"] == int(label.sum())


def test_rows_without_a_label_are_dropped(tmp_path: Path) -> None:
    frame = synthetic(800).with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(None)
        .otherwise(pl.col("defaulted"))
        .alias("defaulted")
    )
    card = train_table(write_csv(frame, tmp_path / "t.csv"), "defaulted", tmp_path / "m", **FAST)
    assert card["rows"] == 790
    assert card["label_missing_rows_dropped"] == 10


def test_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(synthetic(600), tmp_path / "t.csv")
    train_table(data, "defaulted", tmp_path / "m", progress=True, n_estimators=20)
    assert "training t.csv" in capsys.readouterr().err


# -- bad inputs ------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("missing.csv", None, "no such file"),
    ("table.xlsx", "a,b\n1,2\n", "unsupported file type '.xlsx'"),
    ("table.txt", "a,b\n1,2\n", "unsupported file type '.txt'"),
    ("empty.csv", "", "empty"),
    ("header.csv", "x,defaulted\n", "no rows"),
    ("nolabel.csv", "x,y\n1,0\n2,1\n", r"no label column 'defaulted'.*\['x', 'y'\]"),
    ("single.csv", "x,defaulted\n" + "1,0\n" * 50, "single class"),
    ("twos.csv", "x,defaulted\n" + "1,1\n2,2\n" * 25, "0/1-like.*2"),
    ("words.csv", "x,defaulted\n" + "1,good\n2,bad\n" * 25, "0/1-like.*bad"),
    ("few.csv", "x,defaulted\n" + "1,0\n" * 50 + "2,1\n", "too few"),
    ("bad.zip", b"not a zip", "not a valid .zip"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS)
def test_bad_inputs(tmp_path: Path, name: str, content: Any, message: str) -> None:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        train_table(path, "defaulted", tmp_path / "m", **FAST)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"a.csv": "x\n1\n", "b.csv": "x\n2\n"}, "exactly one .csv.*a.csv.*b.csv"),
        ({"notes.txt": "hello"}, r"exactly one .csv.*\[\]"),
        ({"a.csv": ""}, "empty"),
    ],
)
def test_bad_zip_members(tmp_path: Path, members: dict[str, str], message: str) -> None:
    path = _zip(tmp_path / "t.zip", members)
    with pytest.raises(ModelError, match=message):
        train_table(path, "defaulted", tmp_path / "m", **FAST)


@pytest.mark.parametrize("valid_size", [0, 0.0, 0.9, 1.0, -0.2, 2])
def test_valid_size_must_lie_in_range(tmp_path: Path, valid_size: float) -> None:
    data = write_csv(synthetic(300), tmp_path / "t.csv")
    with pytest.raises(ModelError, match=r"valid_size must lie in \(0, 0.9\)"):
        train_table(data, "defaulted", tmp_path / "m", valid_size=valid_size, **FAST)


def test_unknown_id_column(tmp_path: Path) -> None:
    data = write_csv(synthetic(300), tmp_path / "t.csv")
    with pytest.raises(ModelError, match="no id column 'client'.*customer_id"):
        train_table(data, "defaulted", tmp_path / "m", id_column="client", **FAST)


def test_no_features_left(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("id,defaulted\n" + "".join(f"{i},{i % 2}\n" for i in range(100)))
    with pytest.raises(ModelError, match="no feature columns"):
        train_table(data, "defaulted", tmp_path / "m", id_column="id", **FAST)


def test_evaluate_errors(trained: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    data, model_dir, _ = trained
    with pytest.raises(ModelError, match="no label column 'bad'"):
        evaluate_table(model_dir, data, "bad")
    with pytest.raises(ModelError, match="not a model folder"):
        evaluate_table(tmp_path / "nothing", data, "defaulted")
    single = tmp_path / "single.csv"
    pl.read_csv(data).with_columns(defaulted=pl.lit(0)).write_csv(single)
    with pytest.raises(ModelError, match="single class"):
        evaluate_table(model_dir, single, "defaulted")
    with pytest.raises(ModelError, match="no such file"):
        evaluate_table(model_dir, tmp_path / "gone.parquet", "defaulted")


# -- real tables -----------------------------------------------------------------------------


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is missing (the shared data folder is not checked out)")


def test_hmeq(tmp_path: Path) -> None:
    _need(HMEQ)
    card = train_table(HMEQ, "BAD", tmp_path / "hmeq", progress=False, n_estimators=150)
    assert card["rows"] == 5960
    assert card["positives"] == 1189
    assert card["feature_types"]["REASON"] == card["feature_types"]["JOB"] == "categorical"
    assert card["categorical_levels"]["REASON"] == ["DebtCon", "HomeImp"]
    assert "BAD" not in card["features"]
    assert len(card["features"]) == 12
    assert card["metrics"]["roc_auc"] > 0.9
    check = card["valid_calibration"]
    assert check["mean_predicted"] == pytest.approx(check["base_rate"], abs=0.03)
    metrics = evaluate_table(tmp_path / "hmeq", HMEQ, "BAD")
    assert metrics["n"] == 5960
    assert metrics["roc_auc"] >= card["metrics"]["roc_auc"]


def test_german_credit(tmp_path: Path) -> None:
    _need(GERMAN)
    columns = [f"A{i}" for i in range(1, 21)] + ["class"]
    rows = [line.split() for line in GERMAN.read_text().splitlines() if line.strip()]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    numeric = ["A2", "A5", "A8", "A11", "A13", "A16", "A18"]
    frame = frame.with_columns(
        pl.col(numeric).cast(pl.Int64), bad=(pl.col("class") == "2").cast(pl.Int8)
    ).drop("class")
    data = tmp_path / "german.parquet"
    frame.write_parquet(data)
    card = train_table(data, "bad", tmp_path / "german", progress=False, n_estimators=150)
    assert card["rows"] == 1000
    assert card["positives"] == 300
    assert sum(t == "categorical" for t in card["feature_types"].values()) == 13
    assert card["categorical_levels"]["A1"] == ["A11", "A12", "A13", "A14"]
    assert card["metrics"]["roc_auc"] > 0.65
    model = ScoringModel.load(tmp_path / "german")
    proba = model.predict_proba(table_rows(model, frame.head(20)))
    assert np.all((proba >= 0) & (proba <= 1))


def test_high_cardinality_strings_keep_the_most_frequent_levels(tmp_path: Path) -> None:
    frame = synthetic(2400).with_columns(
        branch=pl.format("b{}", pl.int_range(pl.len()) % 1200),  # 1,200 levels, two rows each
    )
    card = train_table(write_csv(frame, tmp_path / "t.csv"), "defaulted", tmp_path / "m", **FAST)
    # levels seen in the training part (some of the 1,200 fell only in the validation part)
    assert 1000 < card["categorical_levels_truncated"]["branch"] <= 1200
    assert len(card["categorical_levels"]["branch"]) == 1000


# -- cross-validation ------------------------------------------------------------------------

EXCLUDED = {"defaulted", "customer_id", ""}


def _cv(frame: pl.DataFrame, folds: int = 4, seed: int = 11) -> CrossValidation:
    y = frame["defaulted"].to_numpy().astype(np.int8)
    return cross_validate(frame, y, EXCLUDED, folds, seed=seed, progress=False, n_estimators=40)


@pytest.fixture(scope="module")
def cross_validated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(model folder, card) of ``train_table(cv=4)`` on a synthetic table of 2,000 rows."""
    root = tmp_path_factory.mktemp("cv")
    data = write_csv(synthetic(2000, seed=4), root / "borrowers.csv")
    card = train_table(
        data, "defaulted", root / "model", id_column="customer_id", seed=2, cv=4, **FAST
    )
    return root / "model", card


def test_cv_folds_are_stratified_disjoint_and_cover_every_row() -> None:
    frame = synthetic(2000, seed=4)
    y = frame["defaulted"].to_numpy()
    result = _cv(frame)
    assert [fold.index for fold in result.folds] == [1, 2, 3, 4]
    held_out = [set(fold.held_out_rows.tolist()) for fold in result.folds]
    for i, rows in enumerate(held_out):
        for other in held_out[i + 1 :]:
            assert not rows & other
    assert set().union(*held_out) == set(range(2000))
    for fold in result.folds:
        assert len(fold.held_out_rows) == 500
        # the training rows are exactly the other folds
        assert set(fold.train_rows.tolist()) == set(range(2000)) - set(fold.held_out_rows.tolist())
        # stratified: each fold holds a quarter of the positives, give or take one
        assert abs(int(y[fold.held_out_rows].sum()) - y.sum() / 4) <= 1
        # the inner fit / calibration split lies inside the training folds
        inner = set(fold.fitted.fit_rows.tolist()) | set(fold.fitted.calibration_rows.tolist())
        assert inner == set(fold.train_rows.tolist())


def test_cv_is_seeded() -> None:
    frame = synthetic(1200, seed=4)
    first, again, other = _cv(frame, seed=5), _cv(frame, seed=5), _cv(frame, seed=6)
    for a, b in zip(first.folds, again.folds, strict=True):
        np.testing.assert_array_equal(a.held_out_rows, b.held_out_rows)
        np.testing.assert_array_equal(a.proba, b.proba)
    assert first.summary["per_fold"] == again.summary["per_fold"]
    assert any(
        not np.array_equal(a.held_out_rows, b.held_out_rows)
        for a, b in zip(first.folds, other.folds, strict=True)
    )


def test_cv_card_records_the_folds_and_their_mean(
    cross_validated: tuple[Path, dict[str, Any]],
) -> None:
    model_dir, card = cross_validated
    assert json.loads((model_dir / "card.json").read_text()) == json.loads(json.dumps(card))
    cv = card["cross_validation"]
    assert cv["folds"] == 4
    assert cv["seed"] == 2
    assert "StratifiedKFold(n_splits=4, shuffle=True, random_state=2)" in cv["method"]
    per_fold = cv["per_fold"]
    assert [f["fold"] for f in per_fold] == [1, 2, 3, 4]
    assert sum(f["held_out_rows"] for f in per_fold) == 2000
    assert sum(f["held_out_positives"] for f in per_fold) == card["positives"]
    for fold in per_fold:
        assert fold["train_rows"] + fold["held_out_rows"] == 2000
        assert 1 <= fold["best_iteration"] <= 60
        assert 0.6 < fold["roc_auc"] < 1
    for metric in ("roc_auc", "auprc"):
        values = [f[metric] for f in per_fold]
        assert cv[metric]["mean"] == round(float(np.mean(values)), 5)
        assert cv[metric]["std"] == round(float(np.std(values)), 5)
        assert cv[metric]["min"] == min(values)
        assert cv[metric]["max"] == max(values)
    assert cv["out_of_fold"]["n"] == 2000
    # The final model is fitted on all rows: no validation part, the metrics are out-of-fold.
    split = card["split"]
    assert split["cross_validation_folds"] == 4
    assert split["valid_size"] is None
    assert split["valid_rows"] == 0
    assert split["train_rows"] + split["calibration_rows"] == 2000
    assert card["metrics"] == cv["out_of_fold"]
    assert card["metrics_from"].startswith("cross-validation, 4 folds")
    assert card["valid_calibration"] == cv["out_of_fold_calibration"]


def test_cv_figures_are_those_of_each_fold_model_on_its_rows() -> None:
    frame = synthetic(1500, seed=8)
    y = frame["defaulted"].to_numpy()
    result = _cv(frame, folds=3)
    for fold, recorded in zip(result.folds, result.summary["per_fold"], strict=True):
        again = fold.fitted.model.predict_proba(fold.fitted.spec.matrix(frame[fold.held_out_rows]))
        np.testing.assert_array_equal(again, fold.proba)
        metrics = score_metrics(y[fold.held_out_rows], again)
        assert recorded["roc_auc"] == metrics["roc_auc"] == fold.metrics["roc_auc"]
        assert recorded["auprc"] == metrics["auprc"]
    oof = np.concatenate([fold.proba for fold in result.folds])
    order = np.concatenate([fold.held_out_rows for fold in result.folds])
    assert result.summary["out_of_fold"] == score_metrics(y[order], oof)


@pytest.mark.parametrize("cv", [1, 0, -3, True, 2.5, "5"])
def test_bad_cv_values(tmp_path: Path, cv: Any) -> None:
    data = write_csv(synthetic(300), tmp_path / "t.csv")
    with pytest.raises(ModelError, match=r"cv must be a whole number of folds, at least 2"):
        train_table(data, "defaulted", tmp_path / "m", cv=cv, **FAST)
    assert not (tmp_path / "m").exists()


def test_more_folds_than_rows_of_a_class(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("x,defaulted\n" + "".join(f"{i},{int(i < 3)}\n" for i in range(60)))
    with pytest.raises(ModelError, match=r"cv=5 folds need at least 5 rows of each class.*3 pos"):
        train_table(data, "defaulted", tmp_path / "m", cv=5, **FAST)


def test_cli_cv(tmp_path: Path) -> None:
    data = write_csv(synthetic(1200, seed=3), tmp_path / "t.csv")
    runner = CliRunner()
    args = ["model", "train", "--table", str(data), "--label", "defaulted", "--out"]
    result = runner.invoke(app, [*args, str(tmp_path / "m"), "--cv", "3", "--seed", "4"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert [f["fold"] for f in card["cross_validation"]["per_fold"]] == [1, 2, 3]
    assert "3-fold cross-validation (seed 4)" in result.stderr  # the table of folds
    assert "mean ± std" in result.stderr
    assert (tmp_path / "m" / "model.txt").exists()

    bad = runner.invoke(app, [*args, str(tmp_path / "bad"), "--cv", "1"])
    assert bad.exit_code == 2
    assert "cv must be a whole number of folds, at least 2, got 1" in bad.stderr
    assert not (tmp_path / "bad").exists()
    both = runner.invoke(app, [*args, str(tmp_path / "b"), "--cv", "3", "--valid-size", "0.3"])
    assert both.exit_code == 2
    assert "either --cv or --valid-size" in both.stderr


# -- no leakage from the held-out fold -------------------------------------------------------


def test_fold_preprocessing_sees_only_its_training_rows() -> None:
    """Levels and clip bounds of each fold come from its training folds alone."""
    frame = synthetic(2000, seed=4)
    folds = _cv(frame).folds  # the assignment depends on the labels and the seed only
    target = folds[1]
    rows = target.held_out_rows[:30]
    grade = frame["grade"].to_numpy().astype(object)
    grade[rows] = "Z"  # a level that only fold 2's held-out rows have
    debt = frame["debt_ratio"].to_numpy().copy()
    debt[rows] = 1e9  # outliers only there
    changed = frame.with_columns(grade=pl.Series(grade), debt_ratio=pl.Series(debt))
    result = _cv(changed)
    for fold in result.folds:
        train = fold.train_rows
        expected = np.quantile(debt[train], CLIP_QUANTILES).tolist()
        assert fold.fitted.spec.clip["debt_ratio"] == pytest.approx(expected, rel=1e-12)
        if fold.index == target.index:
            assert "Z" not in fold.fitted.spec.categorical["grade"]
            assert fold.fitted.spec.clip["debt_ratio"][1] < 100
        else:
            assert "Z" in fold.fitted.spec.categorical["grade"]
    # Scored with the fold's own spec, the unseen level is missing and the outlier clipped.
    spec = result.folds[1].fitted.spec
    x = spec.matrix(changed[rows])
    assert np.isnan(x[:, spec.features.index("grade")]).all()
    assert (x[:, spec.features.index("debt_ratio")] == spec.clip["debt_ratio"][1]).all()


def test_held_out_values_cannot_change_the_fold_model() -> None:
    """Rewriting every feature of fold 3's held-out rows leaves fold 3's fitted model unchanged.

    Anything fitted on all rows (clip quantiles, levels, LightGBM's bins, the calibration) would
    move; the other folds, which train on those rows, must change.
    """
    frame = synthetic(2000, seed=4)
    before = _cv(frame)
    target = before.folds[2]
    rows = target.held_out_rows
    rng = np.random.default_rng(0)
    columns = {
        "income": rng.lognormal(12.0, 2.0, rows.size),
        "utilisation": rng.uniform(100, 1e6, rows.size),
        "debt_ratio": rng.uniform(-1e6, 1e6, rows.size),
        "dependents": rng.integers(50, 90, rows.size).astype(np.float64),
    }
    updated = {}
    for name, values in columns.items():
        column = frame[name].cast(pl.Float64).to_numpy().copy()
        column[rows] = values
        updated[name] = pl.Series(column)
    grade = frame["grade"].to_numpy().astype(object)
    grade[rows] = np.array(["Q", "R", "S"])[rng.integers(0, 3, rows.size)]
    changed = frame.with_columns(grade=pl.Series(grade), **updated)
    after = _cv(changed)
    for old, new in zip(before.folds, after.folds, strict=True):
        np.testing.assert_array_equal(old.held_out_rows, new.held_out_rows)
        same_model = old.fitted.model.booster.model_to_string() == (
            new.fitted.model.booster.model_to_string()
        )
        if old.index == target.index:
            assert same_model
            assert old.fitted.spec == new.fitted.spec
            np.testing.assert_array_equal(
                old.fitted.model.calibration.x, new.fitted.model.calibration.x
            )
            np.testing.assert_array_equal(
                old.fitted.model.calibration.y, new.fitted.model.calibration.y
            )
        else:
            assert not same_model


# -- derived features (Give Me Some Credit's columns) ----------------------------------------

GMSC_COLUMNS = [
    "RevolvingUtilizationOfUnsecuredLines",
    "age",
    "NumberOfTime30-59DaysPastDueNotWorse",
    "DebtRatio",
    "MonthlyIncome",
    "NumberOfOpenCreditLinesAndLoans",
    "NumberOfTimes90DaysLate",
    "NumberRealEstateLoansOrLines",
    "NumberOfTime60-89DaysPastDueNotWorse",
    "NumberOfDependents",
]


def gmsc_like(rows: int = 3000, seed: int = 0) -> pl.DataFrame:
    """A table with Give Me Some Credit's columns, codes 96/98 and missing incomes included."""
    rng = np.random.default_rng(seed)
    late = rng.poisson([0.3, 0.1, 0.1], (rows, 3)).astype(np.int64)
    late[rng.random(rows) < 0.01] = 98
    income = rng.lognormal(8.5, 0.6, rows).round(0)
    missing_income = rng.random(rows) < 0.2
    debt_ratio = np.where(missing_income, rng.gamma(2, 800, rows), rng.beta(2, 5, rows))
    utilisation = rng.beta(1, 3, rows)
    age = rng.integers(21, 90, rows)
    logit = -3 + 0.8 * np.minimum(late.sum(axis=1), 6) + 2 * utilisation - 0.02 * (age - 50)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    lines = rng.integers(0, 20, rows)
    return pl.DataFrame(
        {
            "": np.arange(rows) + 1,
            "SeriousDlqin2yrs": label,
            "RevolvingUtilizationOfUnsecuredLines": utilisation,
            "age": age,
            "NumberOfTime30-59DaysPastDueNotWorse": late[:, 0],
            "DebtRatio": debt_ratio,
            "MonthlyIncome": pl.Series(np.where(missing_income, np.nan, income)).fill_nan(None),
            "NumberOfOpenCreditLinesAndLoans": lines,
            "NumberOfTimes90DaysLate": late[:, 2],
            "NumberRealEstateLoansOrLines": np.minimum(lines, rng.integers(0, 3, rows)),
            "NumberOfTime60-89DaysPastDueNotWorse": late[:, 1],
            "NumberOfDependents": pl.Series(
                np.where(rng.random(rows) < 0.03, np.nan, rng.integers(0, 4, rows))
            ).fill_nan(None),
        }
    )


def test_derived_features_are_computed_in_training_and_scoring(tmp_path: Path) -> None:
    frame = gmsc_like()
    data = tmp_path / "gmsc.csv"
    frame.write_csv(data)
    card = train_table(data, "SeriousDlqin2yrs", tmp_path / "m", **FAST)
    names = [feature.name for feature in DERIVED_FEATURES]
    assert list(card["derived_features"]) == names
    assert card["features"] == GMSC_COLUMNS + names
    assert card["derived_features"]["debt_amount"]["from"] == ["DebtRatio", "MonthlyIncome"]
    assert set(card["clip_bounds"]) == set(card["features"])  # derived ones clipped as well

    model = ScoringModel.load(tmp_path / "m")
    # Scoring needs only the raw columns, in any order, as in the file.
    raw = read_table(data).select(list(reversed(GMSC_COLUMNS)))
    x = table_rows(model, raw)
    assert x.shape == (3000, len(GMSC_COLUMNS) + len(names))
    column = {name: x[:, card["features"].index(name)] for name in card["features"]}
    late = frame.select(GMSC_COLUMNS[2], GMSC_COLUMNS[8], GMSC_COLUMNS[6]).to_numpy()
    coded = (late >= 90).any(axis=1)
    assert np.isnan(column["total_past_due"][coded]).all()
    low, high = card["clip_bounds"]["total_past_due"]
    np.testing.assert_array_equal(
        column["total_past_due"][~coded], np.clip(late[~coded].sum(axis=1), low, high)
    )
    income = frame["MonthlyIncome"].to_numpy()
    debt = frame["DebtRatio"].to_numpy()
    amount = np.where(np.isnan(income), debt, debt * income)
    low, high = card["clip_bounds"]["debt_amount"]
    np.testing.assert_allclose(column["debt_amount"], np.clip(amount, low, high), rtol=1e-12)
    np.testing.assert_array_equal(column["income_missing"], np.isnan(income).astype(float))
    assert np.isnan(column["debt_ratio_with_income"][np.isnan(income)]).all()

    metrics = evaluate_table(tmp_path / "m", data, "SeriousDlqin2yrs")
    assert metrics["roc_auc"] > 0.7


def test_scoring_needs_the_sources_of_derived_features(tmp_path: Path) -> None:
    data = tmp_path / "gmsc.csv"
    gmsc_like(1500).write_csv(data)
    train_table(data, "SeriousDlqin2yrs", tmp_path / "m", **FAST)
    model = ScoringModel.load(tmp_path / "m")
    frame = read_table(data).drop("MonthlyIncome")
    with pytest.raises(ModelError, match=r"lacks the model's feature columns \['MonthlyIncome'\]"):
        table_rows(model, frame)


def test_derived_features_need_every_source_column(tmp_path: Path) -> None:
    data = tmp_path / "gmsc.csv"
    gmsc_like(1500).drop("NumberOfDependents", "age").write_csv(data)
    card = train_table(data, "SeriousDlqin2yrs", tmp_path / "m", **FAST)
    assert "income_per_person" not in card["derived_features"]
    assert "income_per_year_of_age" not in card["derived_features"]
    assert "debt_amount" in card["derived_features"]


def test_unknown_derived_feature_in_a_card(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    model = ScoringModel.load(trained[1])
    card = dict(model.card) | {"derived_features": {"made_up": {}}}
    with pytest.raises(ModelError, match="unknown derived features.*made_up"):
        table_rows(ScoringModel(model.booster, model.calibration, card), [])
