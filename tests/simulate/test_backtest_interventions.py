"""``lendguard backtest --interventions`` (issue #19): one replay, two outcomes — the rule set
alone, and with every challenge answered by the simulated customer and the follow-up counted.

On a small simulated month (the full month's figures are `make eval`'s): the side by side is
reported, challenges are shown and answered, a coached victim who tells the truth is
intercepted, honest friction does not rise and money recall does not fall.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.simulate.backtest import run_backtest
from lendguard.simulate.demo import write_population
from lendguard.simulate.generator import generate
from lendguard.simulate.replay import ReplayError


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("month")
    population = generate(customers=1_500, days=30, seed=1)
    write_population(population.events, population.accounts_rows(), folder)
    return folder / "events.jsonl"


@pytest.fixture(scope="module")
def side_by_side(month: Path) -> dict[str, Any]:
    return run_backtest(month, interventions=True, seed=1, progress=False)


def _steady(report: dict[str, Any]) -> dict[str, Any]:
    """The report less its timings."""
    drop = ("events_per_s", "latency_us")
    return {
        **{k: v for k, v in report.items() if k not in drop},
        "baseline": {k: v for k, v in report["baseline"].items() if k not in drop},
    }


def test_the_side_by_side_reports_both_sides_and_what_the_questions_did(
    side_by_side: dict[str, Any],
) -> None:
    report = side_by_side
    without, extra = report["baseline"], report["interventions"]
    assert without["ruleset"]["interventions"] is False
    assert extra["challenges_shown"] > 0
    # Coached victims who tell the truth are intercepted; honest customers pass.
    assert extra["outcomes"].get("escalated", 0) > 0
    assert any(k.startswith("none:passed") for k in extra["by_scenario"])
    assert not any(k.startswith("none:escalated") for k in extra["by_scenario"])
    assert report["recall_by_money"] >= without["recall_by_money"]
    assert report["money_saved"] >= without["money_saved"]
    assert report["honest_remind_or_more_rate"] <= without["honest_remind_or_more_rate"]
    assert report["honest_intercept_or_more_rate"] <= without["honest_intercept_or_more_rate"]
    assert set(report["honest_by_age_band"]) == set(without["honest_by_age_band"])
    assert 0 <= extra["honest_challenged_rate"] <= 1


def test_the_same_seed_gives_the_same_report(month: Path, side_by_side: dict[str, Any]) -> None:
    again = run_backtest(month, interventions=True, seed=1, progress=False)
    assert _steady(again) == _steady(side_by_side)


def test_interventions_compare_the_rule_set_with_itself(month: Path, tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("name: x\nrules: []\n")
    with pytest.raises(ReplayError, match="no --baseline-rules"):
        run_backtest(month, baseline_rules=rules, interventions=True, progress=False)


def test_the_command_prints_the_side_by_side(month: Path) -> None:
    result = CliRunner().invoke(
        app, ["backtest", "--events", str(month), "--interventions", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["interventions"]["seed"] == 1
    assert "baseline" in body
