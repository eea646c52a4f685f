"""Give Me Some Credit's known directions: more late payments never lower the learned risk.

``train_table`` constrains the booster to be non-decreasing in the past-due counts and their
totals (``MONOTONE_INCREASING``) and says so in the card; boosters averaged into one (``_average``)
score exactly the mean of their raw scores. Small synthetic tables only.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

from lendguard.decisions.scoring.model import ScoringModel
from lendguard.training.table import (
    MONOTONE_INCREASING,
    PAST_DUE_30,
    PAST_DUE_60,
    PAST_DUE_90,
    _average,
    table_rows,
    train_table,
)

PAST_DUE = [PAST_DUE_30, PAST_DUE_60, PAST_DUE_90]


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


# (the same generator as tests/scoring/test_table.py)


@pytest.fixture(scope="module")
def gmsc_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScoringModel, dict]:
    root = tmp_path_factory.mktemp("gmsc")
    data = root / "gmsc.csv"
    gmsc_like(3000, seed=5).write_csv(data)
    card = train_table(data, "SeriousDlqin2yrs", root / "m", progress=False, n_estimators=80)
    return ScoringModel.load(root / "m"), card


def test_card_names_the_monotone_features_and_why(gmsc_model: tuple[ScoringModel, dict]) -> None:
    model, card = gmsc_model
    assert card["monotone_increasing"] == {
        name: MONOTONE_INCREASING[name]
        for name in (PAST_DUE_30, PAST_DUE_90, PAST_DUE_60, "total_past_due", "weighted_past_due")
    }
    assert all(reason and "_" not in reason for reason in card["monotone_increasing"].values())
    constraints = card["params"]["monotone_constraints"]
    assert [card["features"][i] for i, c in enumerate(constraints) if c == 1] == list(
        card["monotone_increasing"]
    )


@pytest.mark.parametrize("column", PAST_DUE)
def test_more_late_payments_never_lower_the_risk(
    gmsc_model: tuple[ScoringModel, dict], column: str
) -> None:
    model, _ = gmsc_model
    base = gmsc_like(40, seed=9).with_columns(pl.col(*PAST_DUE).clip(upper_bound=3))
    previous = None
    for count in [0, 1, 2, 3, 5, 8, 13]:
        proba = model.predict_proba(
            table_rows(model, base.with_columns(pl.lit(count).alias(column)))
        )
        if previous is not None:
            assert (proba >= previous - 1e-12).all(), (column, count)
        previous = proba


def test_averaged_boosters_score_the_mean_raw_score() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((600, 3))
    x[rng.random(600) < 0.1, 1] = np.nan
    y = (x[:, 0] + rng.random(600) > 1).astype(int)
    boosters = [
        lgb.train(
            {
                "objective": "binary",
                "verbosity": -1,
                "num_leaves": 4,
                "seed": k,
                "bagging_fraction": 0.7,
                "bagging_freq": 1,
                "num_threads": 1,
            },
            lgb.Dataset(x, y),
            10 + 5 * k,
        )
        for k in range(3)
    ]
    merged = _average(boosters)
    mean = np.mean([b.predict(x, raw_score=True) for b in boosters], axis=0)
    np.testing.assert_allclose(merged.predict(x, raw_score=True), mean, atol=1e-12)
    assert merged.num_trees() == sum(b.num_trees() for b in boosters)
    assert _average(boosters[:1]) is boosters[0]


def test_model_folder_round_trip(gmsc_model: tuple[ScoringModel, dict], tmp_path: Path) -> None:
    model, _ = gmsc_model
    model.save(tmp_path / "again")
    again = ScoringModel.load(tmp_path / "again")
    rows = table_rows(model, gmsc_like(50, seed=4))
    np.testing.assert_array_equal(again.predict_proba(rows), model.predict_proba(rows))
