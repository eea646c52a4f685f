"""Training a risk score from a table: ``train_table``, ``table_rows`` and ``evaluate_table``.

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

from lendguard.decisions.scoring.model import ModelError, ScoringModel
from lendguard.decisions.scoring.table import (
    CLIP_QUANTILES,
    _split,
    evaluate_table,
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
    assert card["params"]["scale_pos_weight"] > 1
    assert card["params"]["deterministic"] is True
    assert card["params"]["seed"] == 3
    assert 1 <= card["best_iteration"] <= 60
    split = card["split"]
    assert split["train_rows"] + split["calibration_rows"] + split["valid_rows"] == 3000
    assert split["valid_rows"] == 600
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
