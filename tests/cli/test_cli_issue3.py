"""``lendguard simulate`` and the pipeline it feeds: simulate → backtest / replay."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.events.schemas import Event
from lendguard.simulate.generator import generate

ARGS = ["--customers", "300", "--days", "5", "--seed", "3"]


def simulate(out: Path, *extra: str) -> Any:
    result = CliRunner().invoke(
        app, ["simulate", *ARGS, *extra, "--out", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("sim") / "run"
    return out, simulate(out)


class TestSimulate:
    def test_writes_events_and_accounts(self, simulated: tuple[Path, Any]) -> None:
        out, result = simulated
        assert sorted(p.name for p in out.iterdir()) == ["accounts.csv", "events.jsonl"]
        events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
        assert events
        for event in events[:: max(1, len(events) // 200)]:
            Event.model_validate(event)
        with (out / "accounts.csv").open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            assert reader.fieldnames == ["customer_id", "role", "scenario", "ring_id"]
            accounts = list(reader)
        roles = Counter(row["role"] for row in accounts)
        assert sum(roles.values()) >= 300
        assert set(roles) <= {"honest", "victim", "mule", "fraudster"}
        assert roles["honest"] > 250
        assert {e["customer_id"] for e in events} <= {row["customer_id"] for row in accounts}
        assert f"{len(events):,} events" in result.stderr
        assert "events.jsonl" in result.stderr

    def test_same_as_the_generator(self, simulated: tuple[Path, Any]) -> None:
        out, _ = simulated
        population = generate(customers=300, days=5, seed=3)
        lines = (out / "events.jsonl").read_bytes().splitlines()
        assert [orjson.loads(line) for line in lines] == population.events
        with (out / "accounts.csv").open(newline="", encoding="utf-8") as handle:
            assert list(csv.DictReader(handle)) == population.accounts_rows()

    def test_deterministic(self, simulated: tuple[Path, Any], tmp_path: Path) -> None:
        first, _ = simulated
        simulate(tmp_path / "again")
        for name in ("events.jsonl", "accounts.csv"):
            assert (tmp_path / "again" / name).read_bytes() == (first / name).read_bytes()

    def test_another_seed_differs(self, simulated: tuple[Path, Any], tmp_path: Path) -> None:
        first, _ = simulated
        result = CliRunner().invoke(
            app,
            [
                "simulate",
                "--customers",
                "300",
                "--days",
                "5",
                "--seed",
                "4",
                "--out",
                str(tmp_path / "other"),
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        other = (tmp_path / "other" / "events.jsonl").read_bytes()
        assert other != (first / "events.jsonl").read_bytes()


class TestPipeline:
    def test_backtest_reads_the_simulated_accounts(self, simulated: tuple[Path, Any]) -> None:
        out, _ = simulated
        result = CliRunner().invoke(
            app,
            ["backtest", "--events", str(out / "events.jsonl"), "--json"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        with (out / "accounts.csv").open(newline="", encoding="utf-8") as handle:
            roles = {row["customer_id"]: row["role"] for row in csv.DictReader(handle)}
        events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
        counted = [e for e in events if not e["attributes"].get("warmup")]
        assert report["events"] == len(counted)
        assert report["warmup_events"] == len(events) - len(counted) > 0
        honest = {e["customer_id"] for e in counted if roles[e["customer_id"]] == "honest"}
        assert report["honest_customers"] == len(honest)
        assert report["fraud_events"] == sum(e["attributes"]["is_fraud"] for e in counted)
        assert report["victim_loss_total"] == round(
            sum(e["attributes"]["victim_loss"] for e in counted), 2
        )
        scenarios = {e["attributes"]["scenario"] for e in counted if e["attributes"]["is_fraud"]}
        assert set(report["by_typology"]) == scenarios

    def test_replay_summary_matches_backtest(self, simulated: tuple[Path, Any]) -> None:
        out, _ = simulated
        runner = CliRunner()
        replayed = runner.invoke(
            app, ["replay", str(out / "events.jsonl"), "--json"], catch_exceptions=False
        )
        backtested = runner.invoke(
            app,
            ["backtest", "--events", str(out / "events.jsonl"), "--json"],
            catch_exceptions=False,
        )
        assert replayed.exit_code == 0, replayed.output
        assert backtested.exit_code == 0, backtested.output
        a, b = json.loads(replayed.stdout), json.loads(backtested.stdout)
        for key in ("events", "actions", "recall_by_count", "recall_by_money", "money_saved"):
            assert a[key] == b[key], key
