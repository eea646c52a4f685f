"""``lendguard replay`` and ``replay_file``: JSONL, CSV (dotted columns) and Parquet give the
same decisions; a malformed row stops the run with its line number before anything is written,
or is skipped and reported with ``--skip-bad``."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from fixtures import MISSING, T0, EngineRun, default_ruleset, make_event, r39_scam_events
from lendguard.cli.main import app
from lendguard.events.schemas import Event
from lendguard.simulate.generator import generate
from lendguard.simulate.replay import Replayer, ReplayError, replay_file

STRICT = """\
name: strict
rules:
  - id: every-outflow
    category: fraud
    when: is_outflow
    action: block
    reason: EVERY_OUTFLOW
    weight: 90
    message: {zh-CN: "已阻止", en: "blocked"}
"""


def flatten(event: dict[str, Any]) -> dict[str, Any]:
    """An event as one flat row: nested sections become dotted columns."""
    flat: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, dict):
            for inner, item in value.items():
                flat[f"{key}.{inner}"] = item
        else:
            flat[key] = value
    return flat


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(path: Path, events: list[dict[str, Any]]) -> Path:
    rows = [flatten(e) for e in events]
    names = columns_of(rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow([csv_cell(row.get(n)) for n in names])
    return path


def write_parquet(path: Path, events: list[dict[str, Any]]) -> Path:
    rows = [flatten(e) for e in events]
    names = columns_of(rows)
    frame = pl.DataFrame([{n: row.get(n) for n in names} for row in rows], infer_schema_length=None)
    frame.write_parquet(path)
    return path


def read_decisions(path: Path) -> list[dict[str, Any]]:
    decisions = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    for decision in decisions:
        decision.pop("latency_us")
    return decisions


def run_cli(args: list[str]) -> Any:
    return CliRunner().invoke(app, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def simulated() -> list[dict[str, Any]]:
    """A small simulated history with scams, look-alikes and warm-up history (~1,400 events),
    plus the R39 student scam so that decisions are not all 'allow'."""
    events = generate(120, days=4, seed=7).events
    return [*events, *r39_scam_events("student-r39")]


class TestFormatsGiveTheSameDecisions:
    def test_jsonl_csv_parquet(self, simulated: list[dict[str, Any]], tmp_path: Path) -> None:
        inputs = {
            "jsonl": write_jsonl(tmp_path / "events.jsonl", simulated),
            "csv": write_csv(tmp_path / "events.csv", simulated),
            "parquet": write_parquet(tmp_path / "events.parquet", simulated),
        }
        header = inputs["csv"].read_text(encoding="utf-8").splitlines()[0].split(",")
        assert {"session.call_active", "attributes.scenario", "customer.birth_date"} <= set(header)
        decisions: dict[str, list[dict[str, Any]]] = {}
        summaries: dict[str, dict[str, Any]] = {}
        for kind, path in inputs.items():
            out = tmp_path / f"decisions-{kind}.jsonl"
            result = run_cli(["replay", str(path), "--out", str(out), "--json"])
            assert result.exit_code == 0, result.output
            decisions[kind] = read_decisions(out)
            summary = json.loads(result.stdout)
            for volatile in ("events_per_s", "latency_us"):
                summary.pop(volatile)
            summaries[kind] = summary
        assert len(decisions["jsonl"]) == len(simulated)
        assert decisions["csv"] == decisions["jsonl"]
        assert decisions["parquet"] == decisions["jsonl"]
        assert summaries["csv"] == summaries["jsonl"]
        assert summaries["parquet"] == summaries["jsonl"]
        actions = {d["action"] for d in decisions["jsonl"]}
        assert actions - {"allow"}, "the history should produce some friction"
        r39 = [d for d in decisions["jsonl"] if d["customer_id"] == "student-r39"]
        assert [d["action"] for d in r39] == ["allow", "intercept"]
        # warm-up history is decided (written out) but not counted in the summary
        warm = sum(1 for e in simulated if e.get("attributes", {}).get("warmup"))
        assert warm > 0
        assert summaries["jsonl"]["events"] == len(simulated) - warm

    def test_replayer_matches_the_engine(self, simulated: list[dict[str, Any]]) -> None:
        """The replayer decides as the pure engine does (same rules, same state)."""
        ordered = sorted(simulated, key=lambda e: Event.model_validate(e).occurred_at)
        engine = EngineRun(default_ruleset())
        replayer = Replayer(default_ruleset())
        for raw in ordered[:600]:
            expected = engine.decide(raw)
            got = replayer.decide(Event.model_validate(raw))
            assert got["action"] == expected.action.value, raw["event_id"]
            assert got["score"] == expected.score
            assert [r["code"] for r in got["reasons"]] == [r.code for r in expected.reasons]

    def test_csv_cells_typed_like_json(self, tmp_path: Path) -> None:
        """Dotted CSV cells: booleans and numbers become typed values; empty cells are absent."""
        path = tmp_path / "typed.csv"
        t1 = T0 + timedelta(minutes=1)
        path.write_text(
            "event_id,type,occurred_at,customer_id,amount,currency,payee_id,"
            "session.call_active,session.screen_share_active,attributes.scenario,"
            "attributes.is_fraud,attributes.victim_loss,attributes.note\n"
            f"a1,transfer,{T0.isoformat()},c1,19000,CNY,safe-1,true,1,credit_repair,1,19000.5,\n"
            f"a2,transfer,{t1.isoformat()},c1,10,CNY,p,0,false,none,0,0,x\n",
            encoding="utf-8",
        )
        out = tmp_path / "d.jsonl"
        summary = replay_file(path, out=out, progress=False).as_dict()
        assert summary["events"] == 2
        assert summary["fraud_events"] == 1
        assert summary["victim_loss_total"] == 19000.5
        assert summary["by_typology"]["credit_repair"]["events"] == 1
        first, second = read_decisions(out)
        assert first["action"] != "allow"  # screen shared during an outflow
        assert "SCREEN_SHARING" in {r["code"] for r in first["reasons"]}
        assert "SCREEN_SHARING" not in {r["code"] for r in second["reasons"]}

    def test_rules_option(self, tmp_path: Path) -> None:
        rules = tmp_path / "strict.yaml"
        rules.write_text(STRICT, encoding="utf-8")
        events = write_jsonl(
            tmp_path / "e.jsonl",
            [
                make_event(),
                make_event(type="login", amount=MISSING, currency=MISSING, payee_id=MISSING),
            ],
        )
        out = tmp_path / "d.jsonl"
        result = run_cli(["replay", str(events), "--rules", str(rules), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert [d["action"] for d in read_decisions(out)] == ["block", "allow"]
        assert "replay summary" in result.stdout  # the rich table without --json

    def test_out_of_order_file_is_replayed_in_time_order(self, tmp_path: Path) -> None:
        events = r39_scam_events("student-x")
        out = tmp_path / "d.jsonl"
        replay_file(write_jsonl(tmp_path / "e.jsonl", events[::-1]), out=out, progress=False)
        decided = read_decisions(out)
        assert [d["event_id"] for d in decided] == [e["event_id"] for e in events]
        assert decided[1]["action"] == "intercept"


def _good(n: int) -> list[dict[str, Any]]:
    return [
        make_event(customer_id=f"c{i}", occurred_at=T0 + timedelta(minutes=i)) for i in range(n)
    ]


BAD_ROWS = {
    "bad_json": (b'{"event_id": "broken", \n', "malformed JSON"),
    "missing_customer_id": (
        orjson.dumps(make_event(customer_id=MISSING)) + b"\n",
        "customer_id",
    ),
    "negative_amount": (orjson.dumps(make_event(amount="-5")) + b"\n", "amount"),
    "not_an_object": (b"[1, 2, 3]\n", "a row must be a JSON object"),
}


def _file_with_bad_row(tmp_path: Path, bad: bytes) -> Path:
    """Five rows; the bad one is on line 4, after a blank line 3 (which is not counted)."""
    good = [orjson.dumps(e) + b"\n" for e in _good(4)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(good[0] + good[1] + b"\n" + bad + good[2] + good[3])
    return path


class TestMalformedRows:
    @pytest.mark.parametrize("case", sorted(BAD_ROWS))
    def test_stops_with_the_line_and_writes_nothing(self, tmp_path: Path, case: str) -> None:
        bad, message = BAD_ROWS[case]
        path = _file_with_bad_row(tmp_path, bad)
        out = tmp_path / "decisions.jsonl"
        result = run_cli(["replay", str(path), "--out", str(out)])
        assert result.exit_code == 1
        assert "events.jsonl:4: " in result.stderr
        assert message in result.stderr
        assert "nothing was written" in result.stderr
        assert not out.exists()

    @pytest.mark.parametrize("case", sorted(BAD_ROWS))
    def test_skip_bad_skips_and_reports(self, tmp_path: Path, case: str) -> None:
        bad, message = BAD_ROWS[case]
        path = _file_with_bad_row(tmp_path, bad)
        out = tmp_path / "decisions.jsonl"
        result = run_cli(["replay", str(path), "--out", str(out), "--skip-bad", "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["events"] == 4
        assert len(summary["skipped_rows"]) == 1
        assert summary["skipped_rows"][0].startswith("line 4: ")
        assert message in summary["skipped_rows"][0]
        assert len(read_decisions(out)) == 4

    def test_csv_line_numbers_count_the_header(self, tmp_path: Path) -> None:
        events = _good(3)
        events[1]["amount"] = "-1"
        path = write_csv(tmp_path / "events.csv", events)
        out = tmp_path / "d.jsonl"
        with pytest.raises(ReplayError, match=r"events\.csv:3: amount"):
            replay_file(path, out=out, progress=False)
        assert not out.exists()
        outcome = replay_file(path, out=out, skip_bad=True, progress=False)
        assert outcome.events == 2
        assert [s.split(":")[0] for s in outcome.skipped] == ["line 3"]

    def test_parquet_bad_row_named_by_row_number(self, tmp_path: Path) -> None:
        events = _good(3)
        events[2]["customer_id"] = ""
        path = write_parquet(tmp_path / "events.parquet", events)
        with pytest.raises(ReplayError, match=r"events\.parquet:3: customer_id"):
            replay_file(path, progress=False)

    def test_unknown_file_type(self, tmp_path: Path) -> None:
        path = tmp_path / "events.txt"
        path.write_text("{}", encoding="utf-8")
        result = run_cli(["replay", str(path)])
        assert result.exit_code == 1
        assert "unknown event file type" in result.stderr

    def test_missing_file(self, tmp_path: Path) -> None:
        result = run_cli(["replay", str(tmp_path / "nope.jsonl")])
        assert result.exit_code == 1
        assert "nope.jsonl" in result.stderr

    def test_missing_rules_file_is_a_clean_error(self, tmp_path: Path) -> None:
        """As ``backtest --rules`` does: exit 1 naming the file, no traceback.

        Fails today: replay_file (src/lendguard/simulate/replay.py) catches only RuleSetError
        around ``load_ruleset_file``, so the FileNotFoundError escapes the command.
        """
        path = write_jsonl(tmp_path / "e.jsonl", _good(1))
        result = CliRunner().invoke(
            app, ["replay", str(path), "--rules", str(tmp_path / "no.yaml")]
        )
        assert not isinstance(result.exception, OSError), repr(result.exception)
        assert result.exit_code == 1
        assert "no.yaml" in result.stderr

    def test_bad_rules_file(self, tmp_path: Path) -> None:
        rules = tmp_path / "bad.yaml"
        rules.write_text(STRICT.replace("action: block", "action: nuke"), encoding="utf-8")
        path = write_jsonl(tmp_path / "e.jsonl", _good(1))
        result = run_cli(["replay", str(path), "--rules", str(rules)])
        assert result.exit_code == 1
        assert "bad.yaml:" in result.stderr
        assert "action must be one of" in result.stderr
