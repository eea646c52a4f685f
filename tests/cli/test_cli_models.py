"""``lendguard model train | evaluate | register`` through Typer's runner.

Histories come from the simulator (frauds made common), written as JSONL in a temporary folder;
``register`` writes to a fresh SQLite database named by ``LENDGUARD_DATABASE_URL``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from typer.testing import CliRunner

from fixtures import make_event
from lendguard.cli.main import app, os_actor
from lendguard.config import get_settings
from lendguard.db import make_engine
from lendguard.decisions.scoring.model import CALIBRATION_FILE, CARD_FILE, MODEL_FILE
from lendguard.decisions.service import DecisionService
from lendguard.graph.index import LinkIndex
from lendguard.simulate.generator import generate

METRIC_KEYS = {"roc_auc", "auprc", "recall_at_fpr", "n", "positives"}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[CliRunner]:
    """A runner whose commands use a fresh SQLite database; global state is restored after."""
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LENDGUARD_STATE_BACKEND", "memory")
    monkeypatch.delenv("LENDGUARD_REDIS_URL", raising=False)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    structlog.configure(**logging_config)


def invoke(runner: CliRunner, args: list[str]) -> Any:
    return runner.invoke(app, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    population = generate(customers=150, days=10, seed=2, victim_rate=0.2, ring_members_rate=0.05)
    return population.events


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]) -> Path:
    path = tmp_path_factory.mktemp("cli-models") / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, history: Path) -> tuple[Path, dict[str, Any]]:
    """``model train`` with defaults; (model folder, card printed on stdout)."""
    out = tmp_path_factory.mktemp("cli-trained") / "model"
    result = CliRunner().invoke(
        app, ["model", "train", "--events", str(history), "--out", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    card: dict[str, Any] = json.loads(result.stdout)
    return out, card


def fraud_times(events: list[dict[str, Any]]) -> list[float]:
    return sorted(
        datetime.fromisoformat(e["occurred_at"]).timestamp()
        for e in events
        if e["attributes"]["is_fraud"]
    )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def assert_error(result: Any, *fragments: str) -> None:
    """Exit code 2, nothing on stdout, ``error: ...`` naming the problem on stderr."""
    assert result.exit_code == 2, result.output
    assert result.stdout.strip() == ""
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# -- train -------------------------------------------------------------------------------------


class TestTrain:
    def test_prints_the_card_and_writes_the_folder(
        self, trained: tuple[Path, dict[str, Any]], events: list[dict[str, Any]]
    ) -> None:
        out, card = trained
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [MODEL_FILE, CALIBRATION_FILE, CARD_FILE]
        )
        assert json.loads((out / CARD_FILE).read_text(encoding="utf-8")) == card
        assert card["kind"] == "events"
        assert card["source"]["events"] == len(events)
        validation = card["metrics"]["validation"]
        assert set(validation) == METRIC_KEYS
        assert set(validation["recall_at_fpr"]) == {"0.001", "0.01"}
        assert set(card["versions"]) >= {"lightgbm", "scikit-learn", "numpy"}

    def test_split_options(
        self, cli: CliRunner, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        frauds = fraud_times(events)
        until, start = frauds[int(len(frauds) * 0.6)], frauds[int(len(frauds) * 0.7)]
        result = invoke(
            cli,
            [
                "model",
                "train",
                "--events",
                str(history),
                "--out",
                str(tmp_path / "m"),
                "--train-until",
                iso(until),
                "--eval-from",
                iso(start),
                "--seed",
                "3",
            ],
        )
        assert result.exit_code == 0, result.output
        card = json.loads(result.stdout)
        times = [datetime.fromisoformat(e["occurred_at"]).timestamp() for e in events]
        assert card["rows"]["evaluation"] == sum(1 for t in times if t >= start)
        assert card["rows"]["fit"] + card["rows"]["calibration"] == sum(
            1 for t in times if t < until
        )
        assert card["params"]["seed"] == 3

    def test_labels_and_label_field(
        self, cli: CliRunner, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        """Labels under another field name, or only in a CSV: both train the same classes."""
        moved = []
        for raw in events:
            copy = json.loads(json.dumps(raw))
            copy["attributes"]["confirmed"] = {"fraud": copy["attributes"].pop("is_fraud")}
            moved.append(copy)
        path = tmp_path / "moved.jsonl"
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in moved))
        positives = sum(e["attributes"]["is_fraud"] for e in events)

        by_field = invoke(
            cli,
            [
                "model",
                "train",
                "--events",
                str(path),
                "--out",
                str(tmp_path / "a"),
                "--label-field",
                "attributes.confirmed.fraud",
            ],
        )
        assert by_field.exit_code == 0, by_field.output
        assert sum(json.loads(by_field.stdout)["positives"].values()) == positives

        labels = tmp_path / "labels.csv"
        labels.write_text(
            "event_id,label\n"
            + "".join(f"{e['event_id']},{e['attributes']['is_fraud']}\n" for e in events),
            encoding="utf-8",
        )
        by_csv = invoke(
            cli,
            [
                "model",
                "train",
                "--events",
                str(path),
                "--out",
                str(tmp_path / "b"),
                "--labels",
                str(labels),
            ],
        )
        assert by_csv.exit_code == 0, by_csv.output
        card = json.loads(by_csv.stdout)
        assert sum(card["positives"].values()) == positives
        assert "labels file" in card["label_field"]


class TestTrainRefusals:
    def run(self, cli: CliRunner, out: Path, *args: str) -> Any:
        return invoke(cli, ["model", "train", "--out", str(out), *args])

    def test_label_field_missing_everywhere(
        self, cli: CliRunner, history: Path, tmp_path: Path
    ) -> None:
        result = self.run(
            cli, tmp_path / "m", "--events", str(history), "--label-field", "attributes.nope"
        )
        assert_error(result, "single class", "0 positives")
        assert not (tmp_path / "m").exists()

    def test_single_class_in_training(
        self, cli: CliRunner, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        first = fraud_times(events)[0]
        result = self.run(
            cli, tmp_path / "m", "--events", str(history), "--train-until", iso(first)
        )
        assert_error(result, "training part holds a single class")

    def test_unknown_file_type(self, cli: CliRunner, tmp_path: Path) -> None:
        path = tmp_path / "events.xml"
        path.write_text("<events/>", encoding="utf-8")
        assert_error(
            self.run(cli, tmp_path / "m", "--events", str(path)), "unknown event file type"
        )

    @pytest.mark.parametrize("name", ["events.jsonl", "events.csv"])
    def test_empty_file(self, cli: CliRunner, tmp_path: Path, name: str) -> None:
        path = tmp_path / name
        path.write_bytes(b"")
        assert_error(self.run(cli, tmp_path / "m", "--events", str(path)), "holds no events")

    def test_nonexistent_file(self, cli: CliRunner, tmp_path: Path) -> None:
        result = self.run(cli, tmp_path / "m", "--events", str(tmp_path / "nope.jsonl"))
        assert_error(result, "nope.jsonl", "no such file")

    def test_labels_csv_without_the_columns(
        self, cli: CliRunner, history: Path, tmp_path: Path
    ) -> None:
        labels = tmp_path / "labels.csv"
        labels.write_text("id,fraud\nx,1\n", encoding="utf-8")
        result = self.run(cli, tmp_path / "m", "--events", str(history), "--labels", str(labels))
        assert_error(result, "labels.csv", "event_id and label")

    def test_label_value_2(self, cli: CliRunner, tmp_path: Path) -> None:
        path = tmp_path / "events.jsonl"
        path.write_bytes(orjson.dumps(make_event(attributes={"is_fraud": 2})) + b"\n")
        assert_error(self.run(cli, tmp_path / "m", "--events", str(path)), "0 or 1", "2")

    def test_labels_csv_value_2(self, cli: CliRunner, history: Path, tmp_path: Path) -> None:
        labels = tmp_path / "labels.csv"
        labels.write_text("event_id,label\nx,2\n", encoding="utf-8")
        result = self.run(cli, tmp_path / "m", "--events", str(history), "--labels", str(labels))
        assert_error(result, "labels.csv:2", "not 0 or 1")

    def test_bad_time(self, cli: CliRunner, history: Path, tmp_path: Path) -> None:
        result = self.run(
            cli, tmp_path / "m", "--events", str(history), "--eval-from", "2026-03-05"
        )
        assert_error(result, "--eval-from", "time zone")

    def test_events_or_table(self, cli: CliRunner, tmp_path: Path) -> None:
        assert_error(self.run(cli, tmp_path / "m"), "either --events or --table")


# -- evaluate ----------------------------------------------------------------------------------


class TestEvaluate:
    def test_prints_one_json_object(
        self, cli: CliRunner, trained: tuple[Path, dict[str, Any]], history: Path
    ) -> None:
        out, card = trained
        result = invoke(
            cli,
            [
                "model",
                "evaluate",
                "--model",
                str(out),
                "--events",
                str(history),
                "--eval-from",
                card["data_range"]["eval_from"],
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1, result.stdout
        metrics = json.loads(lines[0])
        assert set(metrics) == METRIC_KEYS | {"in_sample"}
        assert set(metrics["recall_at_fpr"]) == {"0.001", "0.01"}
        # the same events and model as the card's validation part: held out, not in-sample
        assert metrics.pop("in_sample") is False
        assert metrics == card["metrics"]["validation"]
        assert "in-sample" not in result.stderr

    def test_whole_history(
        self,
        cli: CliRunner,
        trained: tuple[Path, dict[str, Any]],
        history: Path,
        events: list[dict[str, Any]],
    ) -> None:
        out, _ = trained
        result = invoke(
            cli, ["model", "evaluate", "--model", str(out), "--events", str(history), "--json"]
        )
        assert result.exit_code == 0, result.output
        metrics = json.loads(result.stdout)
        assert metrics["n"] == len(events)
        assert metrics["positives"] == sum(e["attributes"]["is_fraud"] for e in events)
        assert 0.5 < metrics["roc_auc"] <= 1.0

    def test_the_training_file_is_in_sample(
        self, cli: CliRunner, trained: tuple[Path, dict[str, Any]], history: Path
    ) -> None:
        """Figures on the rows the model was fitted on flatter it: the output says so, in the
        JSON and on stderr, and names the held-out part."""
        out, card = trained
        before = datetime.fromisoformat(card["data_range"]["eval_from"]).timestamp() - 86_400
        for extra in ([], ["--eval-from", iso(before)]):
            result = invoke(
                cli,
                ["model", "evaluate", "--model", str(out), "--events", str(history), *extra],
            )
            assert result.exit_code == 0, result.output
            metrics = json.loads(result.stdout)
            assert metrics["in_sample"] is True
            assert card["data_range"]["eval_from"] in metrics["in_sample_note"]
            assert "these figures are in-sample" in result.stderr

    def test_another_file_is_not_in_sample(
        self,
        cli: CliRunner,
        trained: tuple[Path, dict[str, Any]],
        history: Path,
        tmp_path: Path,
    ) -> None:
        out, _ = trained
        copy = tmp_path / "later.jsonl"
        copy.write_bytes(history.read_bytes() + b"\n")  # another file: another hash
        result = invoke(cli, ["model", "evaluate", "--model", str(out), "--events", str(copy)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["in_sample"] is False
        assert "in-sample" not in result.stderr

    def test_single_class_is_exit_2(
        self,
        cli: CliRunner,
        trained: tuple[Path, dict[str, Any]],
        history: Path,
        events: list[dict[str, Any]],
    ) -> None:
        out, _ = trained
        after_last = iso(fraud_times(events)[-1] + 1)
        result = invoke(
            cli,
            [
                "model",
                "evaluate",
                "--model",
                str(out),
                "--events",
                str(history),
                "--eval-from",
                after_last,
            ],
        )
        assert_error(result, "single class")

    def test_not_a_model_folder(self, cli: CliRunner, history: Path, tmp_path: Path) -> None:
        result = invoke(
            cli, ["model", "evaluate", "--model", str(tmp_path), "--events", str(history)]
        )
        assert_error(result, "not a model folder")


# -- register ----------------------------------------------------------------------------------


class TestRegister:
    def test_prints_the_new_version(
        self, cli: CliRunner, trained: tuple[Path, dict[str, Any]], sqlite_url: str
    ) -> None:
        out, _ = trained
        logging_config = structlog.get_config()
        first = invoke(cli, ["model", "register", str(out)])
        assert first.exit_code == 0, first.output
        body = json.loads(first.stdout)
        assert body["version"] == 1
        assert body["active"] is False
        assert body["kind"] == "events"
        second = invoke(cli, ["model", "register", str(out)])
        assert second.exit_code == 0, second.output
        assert json.loads(second.stdout)["version"] == 2

        # stored where LENDGUARD_DATABASE_URL points, inactive; the command pointed logging at
        # the runner's (now closed) stderr: undo that before using a service here
        structlog.configure(**logging_config)
        engine = make_engine(sqlite_url)
        service = DecisionService(engine, link_index=LinkIndex)
        try:
            service.start()
            assert service.model is None
            listing = service.models.list_versions()
            # registered by the operating-system user, so maker–checker can tell them apart
            assert [(m["version"], m["active"], m["created_by"]) for m in listing] == [
                (1, False, os_actor()),
                (2, False, os_actor()),
            ]
            service.models.activate(2, "test")
            assert service.model is not None
            assert service.model[0] == 2
        finally:
            service.close()
            engine.dispose()

    def test_not_a_model_folder(self, cli: CliRunner, tmp_path: Path) -> None:
        result = invoke(cli, ["model", "register", str(tmp_path)])
        assert_error(result, "not a model folder")

    def test_unknown_feature_in_the_card(
        self, cli: CliRunner, trained: tuple[Path, dict[str, Any]], tmp_path: Path
    ) -> None:
        out, card = trained
        copy = tmp_path / "model"
        copy.mkdir()
        for name in (MODEL_FILE, CALIBRATION_FILE):
            (copy / name).write_bytes((out / name).read_bytes())
        features = list(card["features"])
        features[0] = "shoe_size"
        (copy / CARD_FILE).write_text(json.dumps({**card, "features": features}), encoding="utf-8")
        result = invoke(cli, ["model", "register", str(copy)])
        assert_error(result, "shoe_size")


def test_evaluate_on_the_training_table_is_in_sample(cli: CliRunner, tmp_path: Path) -> None:
    """A table model scored on its own training file says so; on other rows it does not."""
    import numpy as np
    import polars as pl

    from lendguard.training.table import train_table

    rng = np.random.default_rng(5)
    x = rng.normal(size=1200)
    frame = pl.DataFrame({"x": x, "bad": (rng.random(1200) < 1 / (1 + np.exp(-2 * x))).astype(int)})
    training, other = tmp_path / "train.csv", tmp_path / "other.csv"
    frame.write_csv(training)
    frame.head(600).write_csv(other)
    train_table(training, "bad", tmp_path / "m", progress=False, n_estimators=20)
    for path, in_sample in ((training, True), (other, False)):
        args = ["model", "evaluate", "--model", str(tmp_path / "m"), "--table", str(path)]
        result = invoke(cli, [*args, "--label", "bad"])
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["in_sample"] is in_sample
        assert ("train.csv is the file the model was trained on" in result.stderr) is in_sample
