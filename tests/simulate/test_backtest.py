"""Outcome metrics (``lendguard.simulate.metrics``) by the definitions of its docstring, and
backtests (``run_backtest`` and ``lendguard backtest``) of a candidate against a baseline."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from fixtures import T0, make_event
from lendguard.cli.main import app
from lendguard.decisions.segments import tenure_band
from lendguard.simulate.backtest import load_roles, run_backtest
from lendguard.simulate.metrics import Outcome
from lendguard.simulate.replay import ReplayError

# -- metrics on hand-built (event, decision) pairs ---------------------------------------------


def ev(
    customer: str = "c1",
    *,
    scenario: str = "none",
    is_fraud: int = 0,
    loss: float = 0.0,
    warmup: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {"scenario": scenario, "is_fraud": is_fraud, "victim_loss": loss}
    if warmup:
        attributes["warmup"] = True
    return {"event_id": "e", "customer_id": customer, "attributes": attributes, **extra}


def dec(
    action: str,
    *categories: str,
    segment: tuple[str, str] | None = None,
    latency_us: int | None = None,
) -> dict[str, Any]:
    decision: dict[str, Any] = {
        "action": action,
        "reasons": [{"code": f"R{i}", "category": c} for i, c in enumerate(categories)],
    }
    if segment is not None:
        decision["segment"] = {"age_band": segment[0], "tenure": segment[1]}
    if latency_us is not None:
        decision["latency_us"] = latency_us
    return decision


def outcome_of(pairs: list[tuple[dict[str, Any], dict[str, Any]]], **kwargs: Any) -> dict[str, Any]:
    outcome = Outcome(**kwargs)
    for event, decision in pairs:
        outcome.add(event, decision)
    return outcome.as_dict()


class TestRecall:
    def test_recall_by_count_is_share_of_fraud_events_dissuaded_or_more(self) -> None:
        data = outcome_of(
            [
                (ev(is_fraud=1, scenario="s"), dec("allow")),
                (ev(is_fraud=1, scenario="s"), dec("remind", "fraud")),
                (ev(is_fraud=1, scenario="s"), dec("dissuade", "fraud")),
                (ev(is_fraud=1, scenario="s"), dec("intercept", "fraud")),
                (ev(is_fraud=1, scenario="s"), dec("block", "fraud")),
                # honest events, even blocked ones, do not enter recall
                (ev("h"), dec("block", "fraud")),
                (ev("h"), dec("allow")),
            ]
        )
        assert data["fraud_events"] == 5
        assert data["recall_by_count"] == 0.6
        assert data["events"] == 7
        assert data["actions"] == {
            "allow": 2,
            "remind": 1,
            "dissuade": 1,
            "intercept": 1,
            "block": 2,
        }

    def test_recall_is_none_without_fraud_or_losses(self) -> None:
        data = outcome_of([(ev(), dec("allow"))])
        assert data["recall_by_count"] is None
        assert data["recall_by_money"] is None
        assert data["money_saved"] == 0

    def test_recall_by_money_weighs_by_victim_loss(self) -> None:
        data = outcome_of(
            [
                (ev(is_fraud=1, scenario="s", loss=100), dec("remind", "fraud")),
                (ev(is_fraud=1, scenario="s", loss=200), dec("dissuade", "fraud")),
                (ev(is_fraud=1, scenario="s", loss=300), dec("block", "fraud")),
                (ev(is_fraud=1, scenario="s", loss=400), dec("allow")),
            ]
        )
        assert data["victim_loss_total"] == 1000
        assert data["recall_by_money"] == 0.5
        assert data["recall_by_count"] == 0.5

    def test_by_typology(self) -> None:
        data = outcome_of(
            [
                (ev(is_fraud=1, scenario="rebate_task", loss=100), dec("allow")),
                (ev(is_fraud=1, scenario="rebate_task", loss=900), dec("dissuade", "fraud")),
                (ev(is_fraud=1, scenario="mule"), dec("intercept", "fraud")),
                (ev(scenario="rebate_task"), dec("allow")),  # not labelled fraud: not counted
            ]
        )
        assert data["by_typology"] == {
            "mule": {
                "events": 1,
                "recall_by_count": 1.0,
                "recall_by_money": None,
                "victim_loss": 0.0,
            },
            "rebate_task": {
                "events": 2,
                "recall_by_count": 0.5,
                "recall_by_money": 0.9,
                "victim_loss": 1000.0,
            },
        }


class TestMoneySaved:
    PAIRS = [
        (ev(is_fraud=1, scenario="s", loss=300), dec("intercept", "fraud")),
        (ev(is_fraud=1, scenario="s", loss=400), dec("block", "fraud")),
        (ev(is_fraud=1, scenario="s", loss=1000), dec("dissuade", "fraud")),
        (ev(is_fraud=1, scenario="s", loss=5000), dec("remind", "fraud")),
        (ev(is_fraud=1, scenario="s", loss=7000), dec("allow")),
    ]

    def test_intercepted_in_full_dissuaded_times_the_default_rate(self) -> None:
        data = outcome_of(self.PAIRS)
        assert data["dissuasion_success_rate"] == 0.6
        assert data["money_saved"] == 300 + 400 + 1000 * 0.6

    def test_dissuasion_success_rate_is_a_parameter(self) -> None:
        data = outcome_of(self.PAIRS, dissuasion_success_rate=0.25)
        assert data["dissuasion_success_rate"] == 0.25
        assert data["money_saved"] == 300 + 400 + 250
        assert outcome_of(self.PAIRS, dissuasion_success_rate=0.0)["money_saved"] == 700


class TestHonestRates:
    def pairs(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [
            (ev("A"), dec("remind", "fraud")),
            (ev("A"), dec("allow")),
            (ev("B"), dec("intercept", "fraud", "wellbeing")),
            (ev("C"), dec("intercept", "wellbeing", "fraud")),  # top reason wellbeing
            (ev("D"), dec("dissuade", "compliance")),
            (ev("E"), dec("allow", "fraud")),  # fraud signal but no friction
            (ev("F"), dec("block", "fraud")),
            # a victim: one scam event makes the customer not honest
            (ev("V"), dec("intercept", "fraud")),
            (ev("V", scenario="credit_repair", is_fraud=1, loss=10), dec("allow")),
        ]

    def test_only_top_reason_of_category_fraud_counts(self) -> None:
        data = outcome_of(self.pairs())
        # honest: A B C D E F (V has a scam event)
        assert data["honest_customers"] == 6
        assert data["honest_remind_or_more_rate"] == round(3 / 6, 5)  # A, B, F
        assert data["honest_intercept_or_more_rate"] == round(2 / 6, 5)  # B, F

    def test_wellbeing_counted_apart_over_all_customers_seen(self) -> None:
        data = outcome_of(self.pairs())
        assert data["protective_intervention_rate"] == round(1 / 7, 5)  # C of A..F, V

    def test_roles_from_accounts_exclude_mules_and_ring_members(self) -> None:
        roles = {"A": "honest", "B": "mule", "F": "fraudster", "Z": "victim"}
        data = outcome_of(self.pairs(), roles=roles)
        # B and F leave; customers missing from the accounts (C, D, E) count as honest
        assert data["honest_customers"] == 4
        assert data["honest_remind_or_more_rate"] == 0.25  # A
        assert data["honest_intercept_or_more_rate"] == 0.0

    def test_rates_are_zero_without_customers(self) -> None:
        data = outcome_of([])
        assert data["honest_customers"] == 0
        assert data["honest_remind_or_more_rate"] == 0
        assert data["events"] == 0


class TestWarmupAndLabels:
    def test_warmup_events_are_not_counted(self) -> None:
        data = outcome_of(
            [
                (ev("W", warmup=True, is_fraud=1, scenario="s", loss=999), dec("block", "fraud")),
                (ev("W", warmup=True), dec("remind", "fraud", segment=("60+", "<30d"))),
                (ev("X"), dec("allow")),
            ]
        )
        assert data["events"] == 1
        assert data["warmup_events"] == 2  # decided, shown apart
        assert data["actions"]["block"] == 0
        assert data["fraud_events"] == 0
        assert data["victim_loss_total"] == 0
        assert data["money_saved"] == 0
        assert data["honest_customers"] == 1  # W was only ever seen in its history
        assert data["honest_remind_or_more_rate"] == 0
        assert data["honest_by_age_band"] == {
            "unknown": {"customers": 1, "remind_or_more_rate": 0.0, "intercept_or_more_rate": 0.0}
        }

    def test_label_field_is_a_dotted_path(self) -> None:
        def labelled(value: Any) -> dict[str, Any]:
            event = ev("c", scenario="x", loss=10)
            event["attributes"]["paysim"] = {"isFraud": value}
            event["attributes"]["is_fraud"] = 0
            return event

        pairs = [
            (labelled(1), dec("intercept", "fraud")),
            (labelled("1"), dec("allow")),
            (labelled(1.0), dec("allow")),
            (labelled(True), dec("dissuade", "fraud")),
            (labelled("1.0"), dec("allow")),
            (labelled(0), dec("block", "fraud")),
            (labelled("no"), dec("block", "fraud")),
            (labelled(None), dec("block", "fraud")),
            (ev("c", scenario="x"), dec("block", "fraud")),  # path missing
        ]
        data = outcome_of(pairs, label_field="attributes.paysim.isFraud")
        assert data["fraud_events"] == 5
        assert data["recall_by_count"] == 0.4
        default = outcome_of(pairs)
        assert default["fraud_events"] == 0

    def test_top_level_label_field(self) -> None:
        pairs = [
            (ev(isFraud=1), dec("intercept", "fraud")),
            (ev(isFraud=0, is_fraud=1), dec("allow")),
        ]
        assert outcome_of(pairs, label_field="isFraud")["fraud_events"] == 1
        assert outcome_of(pairs)["fraud_events"] == 1  # attributes.is_fraud of the 2nd


class TestSegments:
    def test_honest_rates_by_age_band_and_tenure(self) -> None:
        data = outcome_of(
            [
                (ev("A"), dec("remind", "fraud", segment=("18-22", "<30d"))),
                (ev("B"), dec("allow", segment=("18-22", ">365d"))),
                (ev("C"), dec("intercept", "fraud", segment=("60+", "<30d"))),
                (ev("D"), dec("allow", segment=("60+", "30-365d"))),
                # the last segment seen for a customer wins
                (ev("D"), dec("allow", segment=("60+", ">365d"))),
                (ev("E"), dec("allow")),
                # a victim is left out of the honest groups
                (ev("V", scenario="s", is_fraud=1), dec("block", "fraud", segment=("60+", "<30d"))),
            ]
        )
        assert data["honest_by_age_band"] == {
            "18-22": {"customers": 2, "remind_or_more_rate": 0.5, "intercept_or_more_rate": 0.0},
            "60+": {"customers": 2, "remind_or_more_rate": 0.5, "intercept_or_more_rate": 0.5},
            "unknown": {"customers": 1, "remind_or_more_rate": 0.0, "intercept_or_more_rate": 0.0},
        }
        assert data["honest_by_tenure"] == {
            "<30d": {"customers": 2, "remind_or_more_rate": 1.0, "intercept_or_more_rate": 0.5},
            ">365d": {"customers": 2, "remind_or_more_rate": 0.0, "intercept_or_more_rate": 0.0},
            "unknown": {"customers": 1, "remind_or_more_rate": 0.0, "intercept_or_more_rate": 0.0},
        }

    @pytest.mark.parametrize(
        ("days", "band"),
        [
            (None, "unknown"),
            (0, "<30d"),
            (29.99, "<30d"),
            (30, "30-365d"),
            (365, "30-365d"),
            (365.01, ">365d"),
        ],
    )
    def test_tenure_bands(self, days: float | None, band: str) -> None:
        assert tenure_band(days) == band


class TestLatencyAndThroughput:
    def test_latency_percentiles_and_events_per_s(self) -> None:
        outcome = Outcome()
        for i in range(1, 101):
            outcome.add(ev(), dec("allow", latency_us=i))
        outcome.add(ev(), dec("allow"), latency_us=1000)
        outcome.elapsed_s = 2.0
        data = outcome.as_dict()
        assert data["latency_us"] == {"p50": 51, "p99": 100}
        assert data["events_per_s"] == 50.5

    def test_throughput_counts_every_decided_event_warmup_included(self) -> None:
        outcome = Outcome()
        outcome.add(ev(warmup=True), dec("allow"))
        outcome.add(ev(), dec("allow"))
        outcome.elapsed_s = 0.5
        data = outcome.as_dict()
        assert (data["events"], data["warmup_events"]) == (1, 1)
        assert data["events_per_s"] == 4.0

    def test_no_latencies(self) -> None:
        data = outcome_of([(ev(), dec("allow"))])
        assert data["latency_us"] == {"p50": None, "p99": None}
        assert data["events_per_s"] is None


# -- backtests ---------------------------------------------------------------------------------

BASELINE = """\
name: baseline
rules:
  - id: big-outflow
    category: fraud
    when: is_outflow and amount >= 1000
    action: dissuade
    reason: BIG_OUTFLOW
    weight: 30
    message: {zh-CN: "大额转出", en: "a large payment"}
"""

CANDIDATE = """\
name: candidate
rules:
  - id: big-outflow
    category: fraud
    when: is_outflow and amount >= 1000
    action: intercept
    reason: BIG_OUTFLOW_HELD
    weight: 50
    measures: [DELAY]
    message: {zh-CN: "大额转出已暂缓", en: "a large payment is on hold"}
  - id: mid-outflow
    category: fraud
    when: is_outflow and amount >= 100
    action: remind
    reason: MID_OUTFLOW
    weight: 10
    message: {zh-CN: "请确认收款方", en: "check the payee"}
"""

TOP_LEVEL_KEYS = {
    "events",
    "events_per_s",
    "actions",
    "recall_by_count",
    "recall_by_money",
    "money_saved",
    "honest_remind_or_more_rate",
    "honest_intercept_or_more_rate",
    "by_typology",
}


def _attrs(scenario: str = "none", is_fraud: int = 0, loss: float = 0.0) -> dict[str, Any]:
    return {"scenario": scenario, "is_fraud": is_fraud, "victim_loss": loss}


def history() -> list[dict[str, Any]]:
    """Eight events; baseline/candidate actions in the comments."""
    rows = [
        ("e1", "h1", "transfer", "50", _attrs()),  # allow / allow
        ("e2", "h1", "transfer", "500", _attrs()),  # allow / remind
        ("e3", "h2", "transfer", "2000", _attrs()),  # dissuade / intercept
        ("e4", "v1", "transfer", "5000", _attrs("credit_repair", 1, 5000)),  # dissuade / intercept
        ("e5", "v1", "transfer", "300", _attrs("credit_repair", 1, 300)),  # allow / remind
        ("e6", "h3", "deposit", "10000", _attrs()),  # allow / allow
        ("e7", "h3", "login", None, _attrs()),  # allow / allow
        ("e8", "m1", "withdrawal", "3000", _attrs()),  # dissuade / intercept
    ]
    out = []
    for i, (event_id, customer, kind, amount, attributes) in enumerate(rows):
        event = make_event(
            event_id=event_id,
            customer_id=customer,
            type=kind,
            occurred_at=T0 + timedelta(minutes=i),
            attributes=attributes,
        )
        if amount is None:
            for key in ("amount", "currency", "payee_id"):
                event.pop(key)
        else:
            event["amount"] = amount
        out.append(event)
    # the file is not in time order: the backtest sorts it
    return list(reversed(out))


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def write_accounts(path: Path, roles: dict[str, str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "role", "scenario", "ring_id"])
        for customer, role in roles.items():
            writer.writerow([customer, role, "none", ""])
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "base.yaml").write_text(BASELINE, encoding="utf-8")
    (tmp_path / "cand.yaml").write_text(CANDIDATE, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    return {
        "events": write_jsonl(data / "events.jsonl", history()),
        "base": tmp_path / "base.yaml",
        "cand": tmp_path / "cand.yaml",
        "dir": data,
    }


ROLES = {"h1": "honest", "h2": "honest", "h3": "honest", "v1": "victim", "m1": "mule"}


class TestRunBacktest:
    def test_candidate_against_baseline_counts_exactly(self, files: dict[str, Path]) -> None:
        write_accounts(files["dir"] / "accounts.csv", ROLES)
        report = run_backtest(
            files["events"], rules=files["cand"], baseline_rules=files["base"], progress=False
        )
        assert set(report) >= TOP_LEVEL_KEYS | {"baseline", "changed", "ruleset", "label_field"}
        assert report["events"] == 8
        assert report["actions"] == {
            "allow": 3,
            "remind": 2,
            "dissuade": 0,
            "intercept": 3,
            "block": 0,
        }
        assert report["baseline"]["actions"] == {
            "allow": 5,
            "remind": 0,
            "dissuade": 3,
            "intercept": 0,
            "block": 0,
        }
        changed = report["changed"]
        assert changed["events"] == 5
        assert changed["by_transition"] == {"dissuade->intercept": 3, "allow->remind": 2}
        assert list(changed["by_transition"]) == ["dissuade->intercept", "allow->remind"]
        examples = {e["event_id"]: e for e in changed["examples"]}
        assert set(examples) == {"e2", "e3", "e4", "e5", "e8"}
        assert examples["e3"] == {
            "event_id": "e3",
            "customer_id": "h2",
            "baseline": "dissuade",
            "candidate": "intercept",
            "reasons": ["BIG_OUTFLOW_HELD", "MID_OUTFLOW"],
        }
        assert examples["e2"]["reasons"] == ["MID_OUTFLOW"]
        # recall and money, candidate then baseline
        assert report["fraud_events"] == 2
        assert report["recall_by_count"] == 0.5
        assert report["recall_by_money"] == round(5000 / 5300, 5)
        assert report["money_saved"] == 5000.0
        assert report["baseline"]["recall_by_count"] == 0.5
        assert report["baseline"]["money_saved"] == 3000.0
        assert report["by_typology"] == {
            "credit_repair": {
                "events": 2,
                "recall_by_count": 0.5,
                "recall_by_money": round(5000 / 5300, 5),
                "victim_loss": 5300.0,
            }
        }
        # accounts.csv beside the events was read: the mule is not an honest customer
        assert report["honest_customers"] == 3
        assert report["honest_remind_or_more_rate"] == round(2 / 3, 5)  # h1, h2
        assert report["honest_intercept_or_more_rate"] == round(1 / 3, 5)  # h2
        assert report["baseline"]["honest_remind_or_more_rate"] == round(1 / 3, 5)  # h2
        assert report["ruleset"] == {"name": "candidate", "rules": 2, "file": str(files["cand"])}
        assert report["baseline"]["ruleset"]["name"] == "baseline"
        assert report["events_per_s"] > 0

    def test_without_accounts_the_mule_counts_as_honest(self, files: dict[str, Path]) -> None:
        report = run_backtest(files["events"], rules=files["cand"], progress=False)
        assert report["honest_customers"] == 4
        assert report["honest_remind_or_more_rate"] == 0.75  # h1, h2, m1
        assert report["honest_intercept_or_more_rate"] == 0.5  # h2, m1
        assert "baseline" not in report
        assert "changed" not in report

    def test_explicit_accounts_file(self, files: dict[str, Path], tmp_path: Path) -> None:
        accounts = write_accounts(tmp_path / "roles.csv", {**ROLES, "h2": "fraudster"})
        report = run_backtest(
            files["events"], rules=files["cand"], accounts=accounts, progress=False
        )
        assert report["honest_customers"] == 2  # h1, h3

    def test_accounts_without_role_column_refused(self, tmp_path: Path) -> None:
        bad = tmp_path / "accounts.csv"
        bad.write_text("customer_id,kind\nc1,honest\n", encoding="utf-8")
        with pytest.raises(ReplayError, match="customer_id and role"):
            load_roles(bad)

    def test_same_rules_as_baseline_change_nothing(self, files: dict[str, Path]) -> None:
        report = run_backtest(
            files["events"], rules=files["cand"], baseline_rules=files["cand"], progress=False
        )
        assert report["changed"] == {"events": 0, "by_transition": {}, "examples": []}
        assert report["baseline"]["actions"] == report["actions"]

    def test_default_ruleset_when_no_rules_given(self, files: dict[str, Path]) -> None:
        report = run_backtest(files["events"], progress=False)
        assert report["ruleset"]["file"] == "default"
        assert report["ruleset"]["name"] == "default"
        assert report["events"] == 8

    def test_warmup_events_do_not_count_as_changed(self, files: dict[str, Path]) -> None:
        """Warm-up history is decided but is no outcome (metrics docstring); the baseline and
        candidate action tables leave it out, so ``changed`` must too, or it reports changes
        that appear in neither table (and can exceed ``events``).

        Fails today: ``run_backtest`` counts a transition for every row, warm-up included
        (src/lendguard/simulate/backtest.py, the ``if before["action"] != ...`` block).
        """
        warm = make_event(
            event_id="w1",
            customer_id="h1",
            occurred_at=T0 - timedelta(days=30),
            amount="9000",
            attributes={**_attrs(), "warmup": True},
        )
        write_jsonl(files["events"], [warm, *history()])
        report = run_backtest(
            files["events"], rules=files["cand"], baseline_rules=files["base"], progress=False
        )
        assert report["events"] == 8
        assert sum(report["actions"].values()) == 8
        assert report["changed"]["events"] == 5
        assert report["changed"]["by_transition"] == {"dissuade->intercept": 3, "allow->remind": 2}
        assert "w1" not in {e["event_id"] for e in report["changed"]["examples"]}

    def test_max_examples(self, files: dict[str, Path]) -> None:
        report = run_backtest(
            files["events"],
            rules=files["cand"],
            baseline_rules=files["base"],
            progress=False,
            max_examples=2,
        )
        assert report["changed"]["events"] == 5
        assert len(report["changed"]["examples"]) == 2

    def test_bad_rules_file_names_the_position(self, files: dict[str, Path]) -> None:
        broken = files["dir"].parent / "broken.yaml"
        broken.write_text(BASELINE.replace("action: dissuade", "action: explode"), "utf-8")
        with pytest.raises(ReplayError, match=r"broken\.yaml:\d+:\d+: action must be one of"):
            run_backtest(files["events"], rules=broken, progress=False)
        with pytest.raises(ReplayError, match="missing.yaml"):
            run_backtest(files["events"], baseline_rules=files["dir"] / "missing.yaml")

    def test_bad_row_stops_with_its_line_unless_skipped(self, files: dict[str, Path]) -> None:
        lines = files["events"].read_bytes().splitlines(keepends=True)
        lines.insert(2, b'{"event_id": "x", "type": "transfer"}\n')
        files["events"].write_bytes(b"".join(lines))
        with pytest.raises(ReplayError, match=r"events\.jsonl:3: .*customer_id"):
            run_backtest(files["events"], rules=files["cand"], progress=False)
        report = run_backtest(files["events"], rules=files["cand"], skip_bad=True, progress=False)
        assert report["events"] == 8
        assert len(report["skipped_rows"]) == 1
        assert report["skipped_rows"][0].startswith("line 3: ")


def run_cli(args: list[str]) -> Any:
    return CliRunner().invoke(app, args, catch_exceptions=False)


class TestBacktestCommand:
    def test_json_report_with_baseline(self, files: dict[str, Path]) -> None:
        write_accounts(files["dir"] / "accounts.csv", ROLES)
        result = run_cli(
            [
                "backtest",
                "--events",
                str(files["events"]),
                "--rules",
                str(files["cand"]),
                "--baseline-rules",
                str(files["base"]),
                "--json",
            ]
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert set(report) >= TOP_LEVEL_KEYS | {"baseline", "changed"}
        assert report["events"] == 8
        assert report["changed"]["events"] == 5
        assert report["changed"]["by_transition"] == {"dissuade->intercept": 3, "allow->remind": 2}
        assert report["honest_customers"] == 3
        assert report["money_saved"] == 5000.0
        assert report["baseline"]["money_saved"] == 3000.0

    def test_options_dissuasion_rate_accounts_and_label_field(
        self, files: dict[str, Path], tmp_path: Path
    ) -> None:
        events = [
            {**e, "attributes": {**e["attributes"], "label": e["attributes"]["is_fraud"]}}
            for e in history()
        ]
        for e in events:
            e["attributes"]["is_fraud"] = 0
        write_jsonl(files["events"], events)
        accounts = write_accounts(tmp_path / "roles.csv", ROLES)
        result = run_cli(
            [
                "backtest",
                "--events",
                str(files["events"]),
                "--rules",
                str(files["base"]),
                "--accounts",
                str(accounts),
                "--dissuasion-success-rate",
                "0.25",
                "--label-field",
                "attributes.label",
                "--json",
            ]
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["label_field"] == "attributes.label"
        assert report["fraud_events"] == 2
        assert report["money_saved"] == 1250.0
        assert report["honest_customers"] == 3
        assert set(report) >= TOP_LEVEL_KEYS

    def test_bad_row_exit_1_names_the_line(self, files: dict[str, Path]) -> None:
        with files["events"].open("ab") as handle:
            handle.write(b"{not json\n")
        result = run_cli(["backtest", "--events", str(files["events"]), "--json"])
        assert result.exit_code == 1
        assert "events.jsonl:9: malformed JSON" in result.stderr
        assert "--skip-bad" in result.stderr
        skipped = run_cli(["backtest", "--events", str(files["events"]), "--skip-bad", "--json"])
        assert skipped.exit_code == 0, skipped.output
        assert json.loads(skipped.stdout)["skipped_rows"][0].startswith("line 9: malformed JSON")

    def test_missing_accounts_file_is_a_clean_error(self, files: dict[str, Path]) -> None:
        """Exit 1 naming the file, as for a missing events or rules file; no traceback.

        Fails today: run_backtest (src/lendguard/simulate/backtest.py) calls ``load_roles``
        outside any handler, so the FileNotFoundError escapes the command.
        """
        missing = files["dir"] / "roles.csv"
        result = CliRunner().invoke(
            app, ["backtest", "--events", str(files["events"]), "--accounts", str(missing)]
        )
        assert not isinstance(result.exception, OSError), repr(result.exception)
        assert result.exit_code == 1
        assert "roles.csv" in result.stderr

    def test_missing_events_file(self, files: dict[str, Path]) -> None:
        result = run_cli(["backtest", "--events", str(files["dir"] / "nope.jsonl"), "--json"])
        assert result.exit_code == 1
        assert "nope.jsonl" in result.stderr

    def test_rate_out_of_range_refused(self, files: dict[str, Path]) -> None:
        result = CliRunner().invoke(
            app,
            ["backtest", "--events", str(files["events"]), "--dissuasion-success-rate", "1.5"],
        )
        assert result.exit_code == 2
