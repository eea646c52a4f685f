"""Imports into the event contract: PaySim (``lendguard import paysim``) and any CSV through a
YAML mapping (``lendguard import csv``). Every row is validated before anything is written."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.events.imports import ImportError_, import_mapped_csv, import_paysim
from lendguard.events.readers import read_events
from lendguard.events.schemas import Event
from lendguard.simulate.backtest import run_backtest

REPO = Path(__file__).resolve().parents[2]
REAL_PAYSIM = REPO.parent / "shared/data/paysim/paysim_steps1-119_51k.csv"

HEADER = (
    "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,"
    "newbalanceDest,isFraud,isFlaggedFraud"
)
# file line numbers in the comments (the header is line 1)
ROWS = [
    "2,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0",  # 2
    "1,TRANSFER,181.0,C1305486145,181.0,0.0,C553264065,0.0,0.0,1,0",  # 3
    "1,CASH_OUT,181.0,C840083671,181.0,0.0,C38997010,21182.0,0.0,1,0",  # 4
    "2,DEBIT,5337.77,C712410124,41720.0,36382.23,C195600860,41898.0,40348.79,0,0",  # 5
    "1,CASH_IN,11668.14,C2048537720,41554.0,53222.14,M1230701703,0.0,0.0,0,0",  # 6
    "3.0,PAYMENT,7817.71,C90045638,53860.0,46042.29,M573487274,0.0,0.0,0.0,0.0",  # 7
    "1,PAYMENT,100.0,C1,0,0,M1,0,0,0,0",  # 8
]
START = datetime.fromisoformat("2024-01-01T00:00:00+08:00")
# file lines in output (time) order, with their time after START
EXPECTED_ORDER = [
    (3, timedelta(minutes=0)),
    (4, timedelta(minutes=15)),
    (6, timedelta(minutes=30)),
    (8, timedelta(minutes=45)),
    (2, timedelta(hours=1)),
    (5, timedelta(hours=1, minutes=30)),
    (7, timedelta(hours=2)),
]


def paysim_file(path: Path, rows: list[str] | None = None) -> Path:
    path.write_text("\n".join([HEADER, *(ROWS if rows is None else rows)]) + "\n", "utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def run_cli(args: list[str]) -> Any:
    return CliRunner().invoke(app, args, catch_exceptions=False)


def by_line(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(e["event_id"].removeprefix("paysim-")): e for e in events}


class TestPaysimMapping:
    @pytest.fixture
    def imported(self, tmp_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        out = tmp_path / "out" / "events.jsonl"
        result = run_cli(
            ["import", "paysim", str(paysim_file(tmp_path / "p.csv")), "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        return read_jsonl(out), json.loads(result.stdout)

    def test_report(self, imported: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
        _, report = imported
        assert report == {"rows": 7, "written": 7, "fraud_rows": 2, "skipped": []}

    def test_steps_become_hours_and_rows_spread_over_the_hour_in_file_order(
        self, imported: tuple[list[dict[str, Any]], dict[str, Any]]
    ) -> None:
        events, _ = imported
        assert [e["event_id"] for e in events] == [f"paysim-{n}" for n, _ in EXPECTED_ORDER]
        for event, (_, offset) in zip(events, EXPECTED_ORDER, strict=True):
            assert datetime.fromisoformat(event["occurred_at"]) == START + offset
        assert events[0]["occurred_at"] == "2024-01-01T00:00:00.000+08:00"

    def test_types(self, imported: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
        events = by_line(imported[0])
        kinds = {n: (e["type"], e["attributes"]["paysim_type"]) for n, e in events.items()}
        assert kinds == {
            2: ("payment", "PAYMENT"),
            3: ("transfer", "TRANSFER"),
            4: ("withdrawal", "CASH_OUT"),
            5: ("withdrawal", "DEBIT"),
            6: ("deposit", "CASH_IN"),
            7: ("payment", "PAYMENT"),
            8: ("payment", "PAYMENT"),
        }

    def test_fields_balances_and_truth(
        self, imported: tuple[list[dict[str, Any]], dict[str, Any]]
    ) -> None:
        events = by_line(imported[0])
        assert events[3] == {
            "event_id": "paysim-3",
            "type": "transfer",
            "occurred_at": "2024-01-01T00:00:00.000+08:00",
            "customer_id": "C1305486145",
            "amount": "181.0",
            "currency": "CNY",
            "payee_id": "C553264065",
            "balance_before": "181.0",
            "attributes": {
                "paysim_type": "TRANSFER",
                "is_fraud": 1,
                "scenario": "paysim_fraud",
                "victim_loss": 181.0,
                "newbalance_orig": 0.0,
                "oldbalance_dest": 0.0,
                "newbalance_dest": 0.0,
            },
        }
        legit = events[5]
        assert legit["customer_id"] == "C712410124"
        assert legit["payee_id"] == "C195600860"
        assert legit["balance_before"] == "41720.0"
        assert legit["attributes"] == {
            "paysim_type": "DEBIT",
            "is_fraud": 0,
            "scenario": "none",
            "victim_loss": 0.0,
            "newbalance_orig": 36382.23,
            "oldbalance_dest": 41898.0,
            "newbalance_dest": 40348.79,
        }
        # labels written as floats (as in the real file) are integers in the event
        assert events[7]["attributes"]["is_fraud"] == 0
        assert events[4]["attributes"]["victim_loss"] == 181.0
        for event in events.values():
            Event.model_validate(event)
            assert isinstance(event["attributes"]["is_fraud"], int)

    def test_drop_balances(self, tmp_path: Path) -> None:
        out = tmp_path / "events.jsonl"
        result = run_cli(
            [
                "import",
                "paysim",
                str(paysim_file(tmp_path / "p.csv")),
                "--out",
                str(out),
                "--drop-balances",
            ]
        )
        assert result.exit_code == 0, result.output
        for event in read_jsonl(out):
            assert "balance_before" not in event
            assert set(event["attributes"]) == {
                "paysim_type",
                "is_fraud",
                "scenario",
                "victim_loss",
            }

    def test_start_option(self, tmp_path: Path) -> None:
        out = tmp_path / "events.jsonl"
        result = run_cli(
            [
                "import",
                "paysim",
                str(paysim_file(tmp_path / "p.csv")),
                "--out",
                str(out),
                "--start",
                "2025-06-01T12:00:00+00:00",
            ]
        )
        assert result.exit_code == 0, result.output
        events = read_jsonl(out)
        origin = datetime.fromisoformat("2025-06-01T12:00:00+00:00")
        for event, (_, offset) in zip(events, EXPECTED_ORDER, strict=True):
            assert datetime.fromisoformat(event["occurred_at"]) == origin + offset
        assert events[-1]["occurred_at"] == "2025-06-01T14:00:00.000+00:00"

    @pytest.mark.parametrize(
        ("start", "message"),
        [
            ("2025-06-01T12:00:00", "needs a time zone offset"),
            ("yesterday", "is not an ISO 8601 timestamp"),
        ],
    )
    def test_bad_start_refused(self, tmp_path: Path, start: str, message: str) -> None:
        out = tmp_path / "events.jsonl"
        with pytest.raises(ImportError_, match=message):
            import_paysim(paysim_file(tmp_path / "p.csv"), out, start=start)
        assert not out.exists()

    def test_currency(self, tmp_path: Path) -> None:
        out = tmp_path / "events.jsonl"
        import_paysim(paysim_file(tmp_path / "p.csv"), out, currency="USD")
        assert {e["currency"] for e in read_jsonl(out)} == {"USD"}

    def test_output_replays_and_backtests(self, tmp_path: Path) -> None:
        out = tmp_path / "events.jsonl"
        import_paysim(paysim_file(tmp_path / "p.csv"), out)
        rows, bad = read_events(out)
        assert (len(rows), bad) == (7, [])
        report = run_backtest(out, progress=False)
        assert report["events"] == 7
        assert report["fraud_events"] == 2
        assert report["victim_loss_total"] == 362.0
        assert set(report["by_typology"]) == {"paysim_fraud"}

    def test_not_a_paysim_file(self, tmp_path: Path) -> None:
        path = tmp_path / "other.csv"
        path.write_text("a,b\n1,2\n", encoding="utf-8")
        out = tmp_path / "events.jsonl"
        result = run_cli(["import", "paysim", str(path), "--out", str(out)])
        assert result.exit_code == 1
        assert "not a PaySim file, missing columns" in result.stderr
        assert not out.exists()

    def test_missing_file(self, tmp_path: Path) -> None:
        result = run_cli(
            ["import", "paysim", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.jsonl")]
        )
        assert result.exit_code == 1
        assert "nope.csv" in result.stderr


BAD_PAYSIM = {
    "unknown_type": ("1,WIRE,10.0,C9,0,0,C8,0,0,0,0", "type: unknown PaySim type 'WIRE'"),
    "step_not_a_number": ("x,PAYMENT,10.0,C9,0,0,M8,0,0,0,0", "step: 'x' is not a positive"),
    "step_zero": ("0,PAYMENT,10.0,C9,0,0,M8,0,0,0,0", "step: '0' is not a positive"),
    "amount_not_a_number": ("1,PAYMENT,abc,C9,0,0,M8,0,0,0,0", "amount"),
    "negative_amount": ("1,PAYMENT,-5,C9,0,0,M8,0,0,0,0", "amount"),
    "is_fraud_2": ("1,PAYMENT,10.0,C9,0,0,M8,0,0,2,0", "isFraud: '2' is not 0 or 1"),
    "is_fraud_text": ("1,PAYMENT,10.0,C9,0,0,M8,0,0,yes,0", "isFraud: 'yes' is not 0 or 1"),
    "no_customer": ("1,PAYMENT,10.0,,0,0,M8,0,0,0,0", "customer_id"),
}


class TestPaysimMalformedRows:
    def _file(self, tmp_path: Path, bad: str) -> Path:
        """The bad row sits on line 5 of the file."""
        return paysim_file(tmp_path / "p.csv", [*ROWS[:3], bad, *ROWS[3:]])

    @pytest.mark.parametrize("case", sorted(BAD_PAYSIM))
    def test_stops_naming_the_line_and_writes_nothing(self, tmp_path: Path, case: str) -> None:
        bad, message = BAD_PAYSIM[case]
        path = self._file(tmp_path, bad)
        out = tmp_path / "out" / "events.jsonl"
        result = run_cli(["import", "paysim", str(path), "--out", str(out)])
        assert result.exit_code == 1
        assert f"{path}:5: " in result.stderr
        assert message in result.stderr
        assert not out.exists()
        assert not list(tmp_path.rglob("*.partial"))

    @pytest.mark.parametrize("case", sorted(BAD_PAYSIM))
    def test_skip_bad_skips_and_reports(self, tmp_path: Path, case: str) -> None:
        bad, message = BAD_PAYSIM[case]
        out = tmp_path / "events.jsonl"
        result = run_cli(
            ["import", "paysim", str(self._file(tmp_path, bad)), "--out", str(out), "--skip-bad"]
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["rows"] == 8
        assert report["written"] == 7
        assert report["fraud_rows"] == 2
        assert len(report["skipped"]) == 1
        assert report["skipped"][0]["line"] == 5
        assert message in report["skipped"][0]["message"]
        events = read_jsonl(out)
        assert len(events) == 7
        assert "paysim-5" not in {e["event_id"] for e in events}
        # the other rows keep their lines as ids and stay in time order
        moments = [datetime.fromisoformat(e["occurred_at"]) for e in events]
        assert moments == sorted(moments)

    def test_an_existing_output_is_left_untouched_on_error(self, tmp_path: Path) -> None:
        out = tmp_path / "events.jsonl"
        out.write_text("previous\n", encoding="utf-8")
        with pytest.raises(ImportError_, match=r"p\.csv:5: "):
            import_paysim(self._file(tmp_path, BAD_PAYSIM["is_fraud_2"][0]), out)
        assert out.read_text(encoding="utf-8") == "previous\n"


class TestRealPaysimFile:
    def test_row_and_fraud_counts(self, tmp_path: Path) -> None:
        if not REAL_PAYSIM.exists():
            pytest.skip(f"{REAL_PAYSIM} is absent (the shared data folder is not checked out)")
        out = tmp_path / "paysim.jsonl"
        report = import_paysim(REAL_PAYSIM, out, drop_balances=True)
        assert report.rows == 51_392
        assert report.written == 51_392
        assert report.fraud_rows == 1_392
        assert report.skipped == []
        lines = out.read_bytes().splitlines()
        assert len(lines) == 51_392
        first, last = orjson.loads(lines[0]), orjson.loads(lines[-1])
        assert datetime.fromisoformat(first["occurred_at"]) == START
        assert START + timedelta(hours=118) <= datetime.fromisoformat(last["occurred_at"])
        assert datetime.fromisoformat(last["occurred_at"]) < START + timedelta(hours=119)
        frauds = sum(b'"is_fraud":1' in line for line in lines)
        assert frauds == 1_392
        stamps = [orjson.loads(line)["occurred_at"] for line in lines[::997]]
        assert [datetime.fromisoformat(s) for s in stamps] == sorted(
            datetime.fromisoformat(s) for s in stamps
        )


# -- generic CSV through a mapping --------------------------------------------------------------

MAPPING = """\
fields:
  event_id: txn_id
  type: {column: kind, map: {P2P: transfer, TOPUP: deposit}}
  occurred_at: created
  customer_id: user
  amount: amt
  currency: {value: CNY}
  payee_id: to
attributes: [channel_code, branch]
label: {column: fraud}
"""

GENERIC = """\
txn_id,kind,created,user,amt,to,channel_code,branch,fraud
t1,P2P,2025-03-03T10:05:00+08:00,u1,100.5,p1,APP,001,0
t2,TOPUP,2025-03-03T10:00:00+08:00,u1,500,,WEB,002,1
t3,payment,2025-03-03T10:10:00+08:00,u2,20,m1,APP,003,yes
t4,P2P,2025-03-03T02:07:00+00:00,u3,7,p9,APP,004,TRUE
"""


@pytest.fixture
def generic(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "map.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "txns.csv").write_text(GENERIC, encoding="utf-8")
    return {"mapping": tmp_path / "map.yaml", "csv": tmp_path / "txns.csv", "dir": tmp_path}


class TestMappedCsv:
    def test_column_map_constant_attributes_and_label(self, generic: dict[str, Path]) -> None:
        out = generic["dir"] / "events.jsonl"
        result = run_cli(
            [
                "import",
                "csv",
                str(generic["csv"]),
                "--mapping",
                str(generic["mapping"]),
                "--out",
                str(out),
            ]
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert (report["rows"], report["written"], report["skipped"]) == (4, 4, [])
        events = read_jsonl(out)
        # time order across offsets: t4 is 02:07 UTC, i.e. 10:07 at +08:00
        assert [e["event_id"] for e in events] == ["t2", "t1", "t4", "t3"]
        t1, t2, t3 = (next(e for e in events if e["event_id"] == i) for i in ("t1", "t2", "t3"))
        assert t1 == {
            "event_id": "t1",
            "type": "transfer",  # mapped
            "occurred_at": "2025-03-03T10:05:00+08:00",
            "customer_id": "u1",
            "amount": "100.5",
            "currency": "CNY",  # constant
            "payee_id": "p1",
            "attributes": {"channel_code": "APP", "branch": "001", "is_fraud": 0},
        }
        assert t2["type"] == "deposit"
        assert "payee_id" not in t2  # empty cell: absent
        assert t2["attributes"] == {"channel_code": "WEB", "branch": "002", "is_fraud": 1}
        assert t3["type"] == "payment"  # a value outside the map passes through
        assert t3["attributes"]["is_fraud"] == 1  # "yes"
        assert next(e for e in events if e["event_id"] == "t4")["attributes"]["is_fraud"] == 1
        for event in events:
            Event.model_validate(event)

    def test_float_labels_count_as_fraud(self, generic: dict[str, Path]) -> None:
        """Labels written as floats ("1.0"/"0.0", as the PaySim export writes them) must map to
        1/0, as the PaySim import does.

        Fails today: import_mapped_csv (src/lendguard/events/imports.py, the ``label`` block)
        accepts only "1", "true" and "yes" as fraud, so every "1.0" label silently becomes 0.
        """
        generic["csv"].write_text(
            GENERIC.replace(",0\n", ",0.0\n").replace(",1\n", ",1.0\n"), encoding="utf-8"
        )
        out = generic["dir"] / "events.jsonl"
        import_mapped_csv(generic["csv"], generic["mapping"], out)
        labels = {e["event_id"]: e["attributes"]["is_fraud"] for e in read_jsonl(out)}
        assert labels == {"t1": 0, "t2": 1, "t3": 1, "t4": 1}

    def test_report_counts_fraud_rows(self, generic: dict[str, Path]) -> None:
        """The report's ``fraud_rows`` counts labelled rows, as it does for PaySim.

        Fails today: import_mapped_csv never increments ``report.fraud_rows``, so the report
        says 0 however many rows the label marks as fraud.
        """
        report = import_mapped_csv(generic["csv"], generic["mapping"], generic["dir"] / "o.jsonl")
        assert report.fraud_rows == 3

    def test_without_label_no_is_fraud(self, generic: dict[str, Path]) -> None:
        generic["mapping"].write_text(MAPPING.replace("label: {column: fraud}\n", ""), "utf-8")
        out = generic["dir"] / "events.jsonl"
        import_mapped_csv(generic["csv"], generic["mapping"], out)
        assert all("is_fraud" not in e["attributes"] for e in read_jsonl(out))

    def test_missing_mapped_column(self, generic: dict[str, Path]) -> None:
        generic["csv"].write_text(GENERIC.replace("amt", "amount"), encoding="utf-8")
        out = generic["dir"] / "events.jsonl"
        missing = r"columns named in the mapping are missing: \['amt'\]"
        with pytest.raises(ImportError_, match=missing):
            import_mapped_csv(generic["csv"], generic["mapping"], out)
        assert not out.exists()

    @pytest.mark.parametrize("text", ["just text", "fields: [a, b]\n", "a: [unclosed\n"])
    def test_bad_mapping_file(self, generic: dict[str, Path], text: str) -> None:
        generic["mapping"].write_text(text, encoding="utf-8")
        result = run_cli(
            [
                "import",
                "csv",
                str(generic["csv"]),
                "--mapping",
                str(generic["mapping"]),
                "--out",
                str(generic["dir"] / "o.jsonl"),
            ]
        )
        assert result.exit_code == 1
        assert "map.yaml" in result.stderr
        assert not (generic["dir"] / "o.jsonl").exists()

    def test_bad_row_stops_naming_the_line_or_is_skipped(self, generic: dict[str, Path]) -> None:
        generic["csv"].write_text(GENERIC.replace(",u2,20,", ",u2,lots,"), encoding="utf-8")
        out = generic["dir"] / "events.jsonl"
        result = run_cli(
            [
                "import",
                "csv",
                str(generic["csv"]),
                "--mapping",
                str(generic["mapping"]),
                "--out",
                str(out),
            ]
        )
        assert result.exit_code == 1
        assert f"{generic['csv']}:4: amount" in result.stderr
        assert "nothing was written" in result.stderr
        assert not out.exists()
        skipped = run_cli(
            [
                "import",
                "csv",
                str(generic["csv"]),
                "--mapping",
                str(generic["mapping"]),
                "--out",
                str(out),
                "--skip-bad",
            ]
        )
        assert skipped.exit_code == 0, skipped.output
        report = json.loads(skipped.stdout)
        assert report["written"] == 3
        assert [s["line"] for s in report["skipped"]] == [4]
        assert report["skipped"][0]["message"].startswith("amount")
        assert [e["event_id"] for e in read_jsonl(out)] == ["t2", "t1", "t4"]

    def test_unknown_type_after_mapping_is_refused(self, generic: dict[str, Path]) -> None:
        wire = GENERIC.replace(",P2P,2025-03-03T10:05", ",WIRE,2025-03-03T10:05")
        generic["csv"].write_text(wire, encoding="utf-8")
        with pytest.raises(ImportError_, match=r"txns\.csv:2: type"):
            import_mapped_csv(generic["csv"], generic["mapping"], generic["dir"] / "o.jsonl")
