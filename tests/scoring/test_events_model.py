"""Training a fraud score on event history: ``train_events``, ``evaluate_events``, the model
folder (``ScoringModel``, ``Calibration``), ``score_metrics``, ``explain_contributions``, the
input readers and the ``amount_echo_*`` features.

Histories come from the project's simulator (victims and rings made common so that every time
slice holds frauds), written as JSONL in a temporary folder.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from fixtures import MISSING, T0, make_event
from lendguard.decisions.features.compute import FEATURES
from lendguard.decisions.scoring.events import MODEL_FEATURES, feature_row
from lendguard.decisions.scoring.explain import explain_contributions
from lendguard.decisions.scoring.metrics import MetricsError, score_metrics
from lendguard.decisions.scoring.model import (
    CALIBRATION_FILE,
    CARD_FILE,
    MODEL_FILE,
    Calibration,
    ModelError,
    ScoringModel,
)
from lendguard.decisions.scoring.reason_codes import LOCALES, load_catalogue
from lendguard.events.schemas import Event
from lendguard.simulate.generator import generate
from lendguard.training.events import (
    ReplayMatrix,
    evaluate_events,
    fit_calibrated,
    load_history,
    read_label_file,
    replay_matrix,
    train_events,
)

FAST: dict[str, Any] = {"progress": False, "n_estimators": 60}
CARD_KEYS = {
    "kind",
    "created_at",
    "source",
    "label_field",
    "reveal_delay_s",
    "data_range",
    "rows",
    "positives",
    "features",
    "feature_descriptions",
    "top_features",
    "params",
    "calibration",
    "metrics",
    "versions",
}
METRIC_KEYS = {"roc_auc", "auprc", "recall_at_fpr", "n", "positives"}


def simulated_events(customers: int = 150, days: int = 10, seed: int = 2) -> list[dict[str, Any]]:
    """A simulated history where frauds are common enough for every time slice to hold some."""
    population = generate(
        customers=customers, days=days, seed=seed, victim_rate=0.2, ring_members_rate=0.05
    )
    return population.events


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def event_time(raw: dict[str, Any]) -> float:
    return datetime.fromisoformat(raw["occurred_at"]).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def is_fraud(raw: dict[str, Any]) -> int:
    return int(raw.get("attributes", {}).get("is_fraud", 0))


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return simulated_events()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("history") / "events.jsonl", events)


@pytest.fixture(scope="module")
def matrix(history: Path) -> ReplayMatrix:
    return replay_matrix(load_history(history), "attributes.is_fraud", progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, history: Path) -> tuple[Path, dict[str, Any]]:
    """A model trained with the default split (train until the 80% quantile of time)."""
    out = tmp_path_factory.mktemp("model") / "m"
    card = train_events(history, out, **FAST)
    return out, card


def split_times(events: list[dict[str, Any]]) -> tuple[str, str]:
    """(train_until, eval_from) between frauds, with a gap, so every part holds both classes."""
    fraud_times = sorted(event_time(e) for e in events if is_fraud(e))
    until = fraud_times[int(len(fraud_times) * 0.6)]
    start = fraud_times[int(len(fraud_times) * 0.7)]
    assert until < start
    return iso(until), iso(start)


# -- training ----------------------------------------------------------------------------------


class TestTraining:
    def test_writes_the_three_files(self, trained: tuple[Path, dict[str, Any]]) -> None:
        out, card = trained
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [MODEL_FILE, CALIBRATION_FILE, CARD_FILE]
        )
        assert (out / MODEL_FILE).read_text(encoding="utf-8").startswith("tree")
        calibration = json.loads((out / CALIBRATION_FILE).read_text(encoding="utf-8"))
        assert calibration["kind"] == "platt"
        assert set(calibration) == {"kind", "a", "b"}
        # the card on disk is the card returned
        assert json.loads((out / CARD_FILE).read_text(encoding="utf-8")) == card

    def test_card_describes_data_features_metrics_and_versions(
        self, trained: tuple[Path, dict[str, Any]], history: Path, events: list[dict[str, Any]]
    ) -> None:
        _, card = trained
        assert CARD_KEYS <= set(card)
        assert card["kind"] == "events"
        assert card["label_field"] == "attributes.is_fraud"
        assert card["source"]["file"] == "events.jsonl"
        assert card["source"]["events"] == len(events)
        assert len(card["source"]["sha256"]) == 64

        times = [event_time(e) for e in events]
        data_range = card["data_range"]
        assert set(data_range) == {"first", "last", "train_until", "eval_from"}
        assert datetime.fromisoformat(data_range["first"]).timestamp() == min(times)
        assert datetime.fromisoformat(data_range["last"]).timestamp() == max(times)

        assert card["features"] == list(MODEL_FEATURES)
        assert set(card["feature_descriptions"]) == set(MODEL_FEATURES)
        assert all(card["feature_descriptions"].values())
        assert card["top_features"]
        assert set(card["top_features"]) <= set(MODEL_FEATURES)

        validation = card["metrics"]["validation"]
        assert set(validation) == METRIC_KEYS
        assert set(validation["recall_at_fpr"]) == {"0.001", "0.01"}
        for value in (
            validation["roc_auc"],
            validation["auprc"],
            *validation["recall_at_fpr"].values(),
        ):
            assert 0.0 <= value <= 1.0
        assert validation["n"] == card["rows"]["evaluation"]
        assert validation["positives"] == card["positives"]["evaluation"]
        # simulated scams are far from random
        assert validation["roc_auc"] > 0.8

        assert set(card["versions"]) == {"lightgbm", "scikit-learn", "numpy", "python"}
        assert all(isinstance(v, str) and v for v in card["versions"].values())

        assert set(card["rows"]) == set(card["positives"]) == {"fit", "calibration", "evaluation"}
        for part in ("fit", "calibration", "evaluation"):
            assert 0 < card["positives"][part] < card["rows"][part]
        # default split: the last fifth of time evaluates, with no overlap
        assert data_range["train_until"] == data_range["eval_from"]
        assert card["rows"]["fit"] + card["rows"]["calibration"] + card["rows"]["evaluation"] == (
            len(events)
        )
        total_positives = sum(is_fraud(e) for e in events)
        assert sum(card["positives"].values()) == total_positives

    def test_reloaded_model_predicts_as_in_memory(
        self, matrix: ReplayMatrix, tmp_path: Path
    ) -> None:
        data = matrix
        cut, end = int(len(data.labels) * 0.6), int(len(data.labels) * 0.8)
        booster, calibration, _ = fit_calibrated(
            data.rows[:cut],
            data.labels[:cut],
            data.rows[cut:end],
            data.labels[cut:end],
            list(MODEL_FEATURES),
            seed=0,
            n_estimators=60,
            progress=False,
        )
        model = ScoringModel(booster, calibration, {"features": list(MODEL_FEATURES)})
        model.save(tmp_path / "m")
        loaded = ScoringModel.load(tmp_path / "m")

        before = model.predict_proba(data.rows)
        after = loaded.predict_proba(data.rows)
        np.testing.assert_array_equal(before, after)
        assert np.all((after >= 0.0) & (after <= 1.0))
        assert np.unique(after).size > 10
        assert loaded.features == list(MODEL_FEATURES)
        assert loaded.calibration.kind == "platt"
        np.testing.assert_array_equal(
            model.contributions(data.rows[0]), loaded.contributions(data.rows[0])
        )

    def test_evaluate_reproduces_the_card_metrics(
        self, trained: tuple[Path, dict[str, Any]], history: Path
    ) -> None:
        """Same features, same model from disk: the metrics the card recorded come back."""
        out, card = trained
        again = evaluate_events(
            out, history, "attributes.is_fraud", card["data_range"]["eval_from"], progress=False
        )
        assert again == card["metrics"]["validation"]

    def test_probabilities_are_in_0_1(
        self, trained: tuple[Path, dict[str, Any]], matrix: ReplayMatrix
    ) -> None:
        out, _ = trained
        model = ScoringModel.load(out)
        data = matrix
        scores = model.predict_proba(data.rows)
        assert scores.shape == (len(data.labels),)
        assert np.all(np.isfinite(scores))
        assert np.all((scores >= 0.0) & (scores <= 1.0))
        # frauds score higher on average
        assert scores[data.labels == 1].mean() > scores[data.labels == 0].mean()
        # even extreme or missing inputs stay probabilities
        extreme = np.vstack(
            [
                np.full(len(MODEL_FEATURES), np.nan),
                np.full(len(MODEL_FEATURES), 1e12),
                np.full(len(MODEL_FEATURES), -1e12),
            ]
        )
        assert np.all((model.predict_proba(extreme) >= 0) & (model.predict_proba(extreme) <= 1))

    def test_train_until_and_eval_from_are_respected(
        self, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        until, start = split_times(events)
        card = train_events(history, tmp_path / "m", train_until=until, eval_from=start, **FAST)
        times = np.array([event_time(e) for e in events])
        until_ts = datetime.fromisoformat(until).timestamp()
        start_ts = datetime.fromisoformat(start).timestamp()
        in_eval = times >= start_ts
        in_train = times < until_ts
        assert card["rows"]["evaluation"] == int(in_eval.sum())
        assert card["rows"]["fit"] + card["rows"]["calibration"] == int(in_train.sum())
        labels = np.array([is_fraud(e) for e in events])
        assert card["positives"]["evaluation"] == int(labels[in_eval].sum())
        assert card["positives"]["fit"] + card["positives"]["calibration"] == int(
            labels[in_train].sum()
        )
        assert card["metrics"]["validation"]["n"] == int(in_eval.sum())
        assert datetime.fromisoformat(card["data_range"]["train_until"]).timestamp() == until_ts
        assert datetime.fromisoformat(card["data_range"]["eval_from"]).timestamp() == start_ts
        # the calibration part is the last fifth (by time) of the training events
        assert card["rows"]["calibration"] == int(in_train.sum()) - int(in_train.sum() * 0.8)

    def test_eval_from_alone_never_overlaps_training(
        self, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        """Only --eval-from given: training must stop there, or the validation metrics score
        events the model was fitted on (today train_until stays at the 80% quantile)."""
        times = np.array([event_time(e) for e in events])
        fraud_times = sorted(event_time(e) for e in events if is_fraud(e))
        start = iso(fraud_times[int(len(fraud_times) * 0.4)])
        assert datetime.fromisoformat(start).timestamp() < np.quantile(times, 0.8)
        card = train_events(history, tmp_path / "m", eval_from=start, **FAST)
        train_until = datetime.fromisoformat(card["data_range"]["train_until"])
        assert train_until <= datetime.fromisoformat(start), card["data_range"]
        assert card["rows"]["fit"] + card["rows"]["calibration"] + card["rows"]["evaluation"] == (
            len(times)
        )

    def test_eval_from_before_train_until_is_refused(
        self, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        until, start = split_times(events)
        with pytest.raises(ModelError, match="eval"):
            train_events(history, tmp_path / "m", train_until=start, eval_from=until, **FAST)

    def test_labels_csv_overrides_the_label_field(
        self, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        """With the label removed from every event, the CSV alone supplies the classes."""
        stripped = []
        for raw in events:
            copy = json.loads(json.dumps(raw))
            copy.get("attributes", {}).pop("is_fraud", None)
            stripped.append(copy)
        path = write_jsonl(tmp_path / "unlabelled.jsonl", stripped)
        labels_csv = tmp_path / "labels.csv"
        with labels_csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["event_id", "label"])
            for raw in events:
                writer.writerow([raw["event_id"], is_fraud(raw)])
        with pytest.raises(ModelError, match="single class"):
            train_events(path, tmp_path / "no-labels", **FAST)

        card = train_events(path, tmp_path / "m", labels_file=labels_csv, **FAST)
        assert sum(card["positives"].values()) == sum(is_fraud(e) for e in events)
        assert "labels file" in card["label_field"]
        assert str(labels_csv) in card["label_field"]

    def test_labels_csv_wins_over_the_event_labels(
        self, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        """Events missing from the CSV count as legitimate, whatever their own attribute says."""
        frauds = [e["event_id"] for e in events if is_fraud(e)]
        kept = set(frauds[::2])
        labels_csv = tmp_path / "labels.csv"
        labels_csv.write_text(
            "event_id,label\n" + "".join(f"{eid},1\n" for eid in sorted(kept)), encoding="utf-8"
        )
        card = train_events(history, tmp_path / "m", labels_file=labels_csv, **FAST)
        assert sum(card["positives"].values()) == len(kept) < len(frauds)

    def test_deterministic_for_a_seed(self, history: Path, tmp_path: Path) -> None:
        first = train_events(history, tmp_path / "a", seed=7, **FAST)
        second = train_events(history, tmp_path / "b", seed=7, **FAST)
        for name in (MODEL_FILE, CALIBRATION_FILE):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        first.pop("created_at")
        second.pop("created_at")
        assert first == second

    def test_reveal_delay_is_recorded_and_reused_by_evaluate(
        self, history: Path, tmp_path: Path
    ) -> None:
        card = train_events(history, tmp_path / "m", reveal_delay_s=7200.0, **FAST)
        assert card["reveal_delay_s"] == 7200.0
        again = evaluate_events(
            tmp_path / "m",
            history,
            "attributes.is_fraud",
            card["data_range"]["eval_from"],
            progress=False,
        )
        assert again == card["metrics"]["validation"]


# -- bad inputs --------------------------------------------------------------------------------


class TestBadInputs:
    def test_label_field_missing_everywhere(self, history: Path, tmp_path: Path) -> None:
        with pytest.raises(ModelError, match=r"single class \(0 positives"):
            train_events(history, tmp_path / "m", label_field="attributes.nope", **FAST)
        assert not (tmp_path / "m").exists()

    def test_single_class_in_the_training_part(
        self, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        first_fraud = min(event_time(e) for e in events if is_fraud(e))
        with pytest.raises(ModelError, match="training part holds a single class"):
            train_events(history, tmp_path / "m", train_until=iso(first_fraud), **FAST)

    def test_single_class_in_the_evaluation_part(
        self, history: Path, events: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        last_fraud = max(event_time(e) for e in events if is_fraud(e))
        with pytest.raises(ModelError, match="evaluation part.*single class"):
            train_events(history, tmp_path / "m", eval_from=iso(last_fraud + 1), **FAST)

    def test_split_leaving_nothing(self, history: Path, tmp_path: Path) -> None:
        with pytest.raises(ModelError, match="no training or no evaluation"):
            train_events(history, tmp_path / "m", train_until="2000-01-01T00:00:00+00:00", **FAST)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("yesterday", "not an ISO 8601 time"),
            ("2026-03-05T00:00:00", "needs a time zone"),
        ],
    )
    def test_bad_times(self, history: Path, tmp_path: Path, value: str, message: str) -> None:
        with pytest.raises(ModelError, match=message):
            train_events(history, tmp_path / "m", train_until=value, **FAST)

    def test_unknown_file_type(self, tmp_path: Path) -> None:
        path = tmp_path / "events.xml"
        path.write_text("<events/>", encoding="utf-8")
        with pytest.raises(ModelError, match=r"unknown event file type '\.xml'"):
            load_history(path)

    @pytest.mark.parametrize("name", ["events.jsonl", "events.csv"])
    def test_empty_file(self, tmp_path: Path, name: str) -> None:
        path = tmp_path / name
        path.write_bytes(b"")
        with pytest.raises(ModelError, match="holds no events"):
            load_history(path)

    def test_nonexistent_file(self, tmp_path: Path) -> None:
        with pytest.raises(ModelError, match="nope.jsonl: no such file"):
            load_history(tmp_path / "nope.jsonl")

    def test_bad_row_names_the_line(self, tmp_path: Path) -> None:
        path = tmp_path / "events.jsonl"
        path.write_text(orjson.dumps(make_event()).decode() + "\n{not json\n", encoding="utf-8")
        with pytest.raises(ModelError, match=r"events.jsonl:2"):
            load_history(path)

    def test_label_value_2(self, tmp_path: Path) -> None:
        raws = [make_event(attributes={"is_fraud": 2})]
        path = write_jsonl(tmp_path / "events.jsonl", raws)
        with pytest.raises(ModelError, match=r"must be 0 or 1, found 2"):
            train_events(path, tmp_path / "m", **FAST)

    def test_label_not_a_number(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "events.jsonl", [make_event(attributes={"is_fraud": "yes"})])
        with pytest.raises(ModelError, match="non-numeric value 'yes'"):
            train_events(path, tmp_path / "m", **FAST)

    def test_labels_csv_without_the_columns(self, tmp_path: Path) -> None:
        path = tmp_path / "labels.csv"
        path.write_text("id,fraud\nevt-1,1\n", encoding="utf-8")
        with pytest.raises(ModelError, match="needs the columns event_id and label"):
            read_label_file(path)
        empty = tmp_path / "empty.csv"
        empty.write_text("", encoding="utf-8")
        with pytest.raises(ModelError, match="needs the columns event_id and label"):
            read_label_file(empty)

    def test_labels_csv_missing(self, tmp_path: Path) -> None:
        with pytest.raises(ModelError, match="nope.csv"):
            read_label_file(tmp_path / "nope.csv")

    def test_labels_csv_value_2_names_the_line(self, tmp_path: Path) -> None:
        path = tmp_path / "labels.csv"
        path.write_text("event_id,label\nevt-1,1\nevt-2,2\n", encoding="utf-8")
        with pytest.raises(ModelError, match=r"labels.csv:3: label '2' is not 0 or 1"):
            read_label_file(path)

    @pytest.mark.parametrize("value", ["1.5", "0.5", "-0.2"])
    def test_labels_csv_fraction_is_refused(self, tmp_path: Path, value: str) -> None:
        """A fraction is not a class: today int(float(v)) silently turns 1.5 into 1, 0.5 into 0."""
        path = tmp_path / "labels.csv"
        path.write_text(f"event_id,label\nevt-1,{value}\n", encoding="utf-8")
        with pytest.raises(ModelError, match=r"labels.csv:2: label .* is not 0 or 1"):
            read_label_file(path)

    @pytest.mark.parametrize(
        ("row", "why"),
        [("evt-1", "short row: no label cell"), ("evt-1,inf", "infinity"), ("evt-1,", "empty")],
    )
    def test_labels_csv_odd_cells_are_clear_errors(
        self, tmp_path: Path, row: str, why: str
    ) -> None:
        """Today a short row raises TypeError and 'inf' OverflowError (a traceback)."""
        path = tmp_path / "labels.csv"
        path.write_text(f"event_id,label\n{row}\n", encoding="utf-8")
        with pytest.raises(ModelError, match=r"labels.csv:2"):
            read_label_file(path)

    def test_labels_csv_accepts_0_1_and_float_forms(self, tmp_path: Path) -> None:
        path = tmp_path / "labels.csv"
        path.write_text("event_id,label\na,1\nb,0\nc,1.0\nd,0.0\n", encoding="utf-8")
        assert read_label_file(path) == {"a": 1, "b": 0, "c": 1, "d": 0}


# -- models, calibration, metrics, explanations ------------------------------------------------


class TestModel:
    def test_platt_is_increasing_and_bounded(self) -> None:
        calibration = Calibration.platt(1.5, -2.0)
        raw = np.linspace(-50, 50, 101)
        probabilities = calibration.apply(raw)
        assert np.all(np.diff(probabilities) >= 0)
        assert np.all((probabilities >= 0) & (probabilities <= 1))
        assert calibration.apply(np.array([4 / 3]))[0] == pytest.approx(0.5)
        assert Calibration.from_json(calibration.to_json()).to_json() == calibration.to_json()

    def test_isotonic_round_trip(self) -> None:
        data = {"kind": "isotonic", "x": [-1.0, 0.0, 1.0], "y": [0.1, 0.2, 0.9]}
        calibration = Calibration.from_json(data)
        assert calibration.to_json() == data
        np.testing.assert_allclose(calibration.apply(np.array([-5.0, 0.5, 5.0])), [0.1, 0.55, 0.9])

    @pytest.mark.parametrize(
        "data",
        [
            {"kind": "isotonic", "x": [], "y": []},
            {"kind": "isotonic", "x": [0.0, 1.0], "y": [0.5]},
        ],
    )
    def test_bad_isotonic_calibration(self, data: dict[str, Any]) -> None:
        with pytest.raises(ModelError, match="equal, non-empty"):
            Calibration.from_json(data)

    def test_from_parts_refusals(self, trained: tuple[Path, dict[str, Any]]) -> None:
        out, card = trained
        booster, calibration, _ = ScoringModel.load(out).parts()
        with pytest.raises(ModelError, match="not a LightGBM model"):
            ScoringModel.from_parts("not a model", calibration, card)
        with pytest.raises(ModelError, match="lists no features"):
            ScoringModel.from_parts(booster, calibration, {"kind": "events"})
        with pytest.raises(ModelError, match=f"booster has {len(MODEL_FEATURES)} features"):
            ScoringModel.from_parts(booster, calibration, {"features": ["amount"]})

    def test_load_refuses_an_incomplete_folder(
        self, trained: tuple[Path, dict[str, Any]], tmp_path: Path
    ) -> None:
        out, _ = trained
        (tmp_path / MODEL_FILE).write_bytes((out / MODEL_FILE).read_bytes())
        with pytest.raises(ModelError, match="not a model folder"):
            ScoringModel.load(tmp_path)

    def test_explanations_name_raising_features(
        self, trained: tuple[Path, dict[str, Any]], matrix: ReplayMatrix
    ) -> None:
        out, _ = trained
        model = ScoringModel.load(out)
        data = matrix
        scores = model.predict_proba(data.rows)
        row = data.rows[int(np.argmax(scores))]
        reasons = explain_contributions(model, row)
        assert 1 <= len(reasons) <= 3
        contributions = [r["contribution"] for r in reasons]
        assert contributions == sorted(contributions, reverse=True)
        catalogue = load_catalogue()
        for reason in reasons:
            assert set(reason) == {"feature", "code", "text", "texts", "value", "contribution"}
            assert reason["feature"] in MODEL_FEATURES
            assert reason["contribution"] > 0
            coded = catalogue.for_feature(reason["feature"])
            assert reason["code"] == coded.code
            assert reason["texts"] == {loc: coded.text(reason["value"], loc) for loc in LOCALES}
            assert reason["text"] == reason["texts"]["en"]
            index = MODEL_FEATURES.index(reason["feature"])
            if np.isnan(row[index]):
                assert reason["value"] is None
            else:
                assert reason["value"] == round(float(row[index]), 4)
        # the contributions plus the bias add up to the raw score
        assert model.contributions(row).sum() == pytest.approx(model.raw(row.reshape(1, -1))[0])
        assert len(explain_contributions(model, row, k=1)) == 1


class TestMetrics:
    def test_keys_and_values(self) -> None:
        labels = [0, 0, 0, 0, 1, 1]
        scores = [0.1, 0.2, 0.3, 0.8, 0.7, 0.9]
        metrics = score_metrics(labels, scores)
        assert set(metrics) == METRIC_KEYS
        assert metrics["n"] == 6
        assert metrics["positives"] == 2
        assert metrics["roc_auc"] == pytest.approx(7 / 8)
        assert set(metrics["recall_at_fpr"]) == {"0.001", "0.01"}
        # at zero false positives only the 0.9 fraud is caught
        assert metrics["recall_at_fpr"] == {"0.001": 0.5, "0.01": 0.5}

    def test_perfect_ranking(self) -> None:
        metrics = score_metrics([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
        assert metrics["roc_auc"] == 1.0
        assert metrics["auprc"] == 1.0
        assert metrics["recall_at_fpr"] == {"0.001": 1.0, "0.01": 1.0}

    @pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
    def test_single_class_refused(self, labels: list[int]) -> None:
        with pytest.raises(MetricsError, match="single class"):
            score_metrics(labels, [0.1, 0.5, 0.9])

    def test_empty_refused(self) -> None:
        with pytest.raises(MetricsError, match="no rows"):
            score_metrics([], [])


# -- the feature row and the exact-amount echo -------------------------------------------------


def replay(raws: list[dict[str, Any]], names: list[str]) -> list[dict[str, float]]:
    rows = [(Event.model_validate(r), r) for r in raws]
    data = replay_matrix(rows, "attributes.is_fraud", features=names, progress=False)
    return [dict(zip(names, map(float, row), strict=True)) for row in data.rows]


class TestFeatureRow:
    def test_fast_row_equals_the_registry_feature_by_feature(self) -> None:
        """The row's shortcut to the window scans gives what each registry function gives,
        and leaves the values behind for the rules."""
        from lendguard.decisions.features.compute import LazyFeatures, apply_event, open_context
        from lendguard.decisions.state import MemoryStateStore
        from lendguard.events.schemas import Event
        from lendguard.simulate.benchmark import build_workload

        events = [Event.model_validate(d) for d in build_workload(600, seed=3).dicts]
        store = MemoryStateStore(engine=None)
        names = list(MODEL_FEATURES)
        for event in events:
            ctx = open_context(event, store.load)
            lazy = LazyFeatures(ctx, {})
            row = feature_row(lazy, names)
            fresh = open_context(event, store.load)
            expected = feature_row({n: FEATURES[n][0](fresh) for n in names}, names)
            np.testing.assert_array_equal(row, expected, err_msg=event.event_id)
            assert "customer_outflow_sum_30d" in lazy
            apply_event(event, ctx.states, ctx)

    def test_types_booleans_and_unknowns(self) -> None:
        raws = [
            make_event(type="login", amount=MISSING, currency=MISSING, payee_id=MISSING),
            make_event(type="transfer", amount="250.00", session={"call_active": True}),
        ]
        names = ["type", "amount", "is_outflow", "call_active", "customer_age", "has_payee"]
        login, transfer = replay(raws, names)
        assert login["type"] != transfer["type"]
        assert not np.isnan(login["type"])
        assert transfer["amount"] == 250.0
        assert transfer["is_outflow"] == 1.0
        assert login["is_outflow"] == 0.0
        assert transfer["call_active"] == 1.0
        assert np.isnan(transfer["customer_age"])  # no birth date known
        assert transfer["has_payee"] == 1.0

    def test_every_model_feature_is_registered(self) -> None:
        assert len(set(MODEL_FEATURES)) == len(MODEL_FEATURES)
        assert set(MODEL_FEATURES) <= set(FEATURES)
        assert "model_score" not in MODEL_FEATURES

    def test_feature_row_codes_strings_as_nan(self) -> None:
        values: Any = {"type": "transfer", "amount": 5, "flag": True, "name": "x", "none": None}
        row = feature_row(values, ["type", "amount", "flag", "name", "none"])
        assert row[1:3].tolist() == [5.0, 1.0]
        assert np.isnan(row[3])
        assert np.isnan(row[4])
        assert not np.isnan(row[0])


class TestAmountEcho:
    NAMES = ["amount_echo_count_1h", "amount_echo_count_24h", "amount_echo_customers_24h"]

    def test_same_large_amount_by_different_customers(self) -> None:
        raws = [
            make_event(customer_id="a", payee_id="x", amount="5000.00", occurred_at=T0),
            make_event(
                customer_id="b", payee_id="y", amount="5000", occurred_at=T0 + timedelta(minutes=5)
            ),
            make_event(
                customer_id="c",
                payee_id="z",
                amount="5000.00",
                occurred_at=T0 + timedelta(minutes=90),
            ),
            # another amount, and the same amount below the echo threshold elsewhere
            make_event(
                customer_id="d",
                payee_id="x",
                amount="5000.01",
                occurred_at=T0 + timedelta(minutes=91),
            ),
            make_event(
                customer_id="e",
                payee_id="x",
                amount="999.00",
                occurred_at=T0 + timedelta(minutes=92),
            ),
            make_event(
                customer_id="f",
                payee_id="x",
                amount="999.00",
                occurred_at=T0 + timedelta(minutes=93),
            ),
            # the same customer again: counted, but not as another customer
            make_event(
                customer_id="a",
                payee_id="w",
                amount="5000.00",
                occurred_at=T0 + timedelta(minutes=100),
            ),
        ]
        rows = replay(raws, self.NAMES)
        counts = [(r["amount_echo_count_1h"], r["amount_echo_count_24h"]) for r in rows]
        assert counts == [(0, 0), (1, 1), (0, 2), (0, 0), (0, 0), (0, 0), (1, 3)]
        customers = [r["amount_echo_customers_24h"] for r in rows]
        assert customers == [0, 1, 2, 0, 0, 0, 3]

    def test_deposits_do_not_echo(self) -> None:
        raws = [
            make_event(
                type="deposit",
                customer_id="a",
                payee_id=MISSING,
                payer_id="p",
                amount="5000.00",
                occurred_at=T0,
            ),
            make_event(customer_id="b", amount="5000.00", occurred_at=T0 + timedelta(minutes=1)),
        ]
        rows = replay(raws, self.NAMES)
        assert rows[1]["amount_echo_count_1h"] == 0
