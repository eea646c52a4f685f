"""``lendguard policies status``: the LPR table and every value tagged to verify, stalest first,
with the days since its last update counted from a pinned day (``--on``, or the pinned clock).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from typer.testing import CliRunner

from lendguard import policies as policy_module
from lendguard.cli.main import app
from lendguard.kit import calendars
from lendguard.lending.lending_policy import lpr_series

SHIPPED = Path(policy_module.__file__).resolve().parent  # the lendguard package
LPR_UPDATED = date(2026, 11, 25)  # the ``# updated:`` line of lending/policies/lpr_cn.csv


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    policy_module.clear_cache()
    calendars.clear_cache()
    yield
    policy_module.clear_cache()
    calendars.clear_cache()


def status(*args: str) -> Any:
    result = CliRunner().invoke(app, ["policies", "status", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def status_json(*args: str) -> dict[str, Any]:
    return json.loads(status("--json", *args).stdout)


class TestLpr:
    def test_every_fixing_is_a_row_with_its_dates_and_days_since_the_update(self) -> None:
        body = status_json("--on", "2027-01-04")
        assert body["on"] == "2027-01-04"
        lpr = [r for r in body["rows"] if r["name"] == "lpr_1y_percent"]
        dates, rates = lpr_series()
        assert len(lpr) == len(dates)
        by_start = {r["effective_from"]: r for r in lpr}
        first = by_start["2019-08-20"]
        assert (first["value"], first["effective_to"]) == (4.25, "2019-09-20")
        last = by_start[dates[-1].isoformat()]
        assert (last["value"], last["effective_to"]) == (rates[-1], None)
        for row in lpr:
            assert row["confidence"] == "M"
            assert row["source"] == "lpr_cn.csv"
            assert "verify" in row["source_text"]
            assert row["updated"] == LPR_UPDATED.isoformat()
            assert row["days_since_update"] == (date(2027, 1, 4) - LPR_UPDATED).days == 40

    def test_the_days_count_to_the_pinned_clock_without_on(self) -> None:
        with time_machine.travel(datetime(2027, 2, 1, 2, 30, tzinfo=UTC), tick=False):
            body = status_json()
        assert body["on"] == "2027-02-01"
        lpr = [r for r in body["rows"] if r["name"] == "lpr_1y_percent"]
        assert {r["days_since_update"] for r in lpr} == {68}

    def test_a_day_before_the_update_counts_as_just_updated(self) -> None:
        body = status_json("--on", (LPR_UPDATED - timedelta(days=30)).isoformat())
        lpr = [r for r in body["rows"] if r["name"] == "lpr_1y_percent"]
        assert {r["days_since_update"] for r in lpr} == {0}


class TestTaggedValues:
    def test_uncertain_values_are_listed_and_confirmed_ones_are_not(self) -> None:
        rows = status_json("--on", "2027-01-04")["rows"]
        names = {(r["kind"], r["jurisdiction"], r["name"]) for r in rows}
        # [M] and [X] values of several files
        assert ("lending", "CN", "all_in_ceiling_percent") in names  # M
        assert ("lending", "CN", "cost_statement_min_view_seconds") in names  # X
        assert ("support", "UK", "response_days") in names  # M
        # [C], [S] and design values are not
        assert ("lending", "CN", "judicial_cap_multiplier") not in names  # C
        assert ("privacy", "CN", "dsr_working_days") not in names  # S
        assert all(r["confidence"] in {"M", "X"} for r in rows)

    def test_consecutive_versions_with_the_same_value_are_one_row(self) -> None:
        rows = status_json("--on", "2027-01-04")["rows"]
        ceiling = [r for r in rows if r["name"] == "all_in_ceiling_percent"]
        assert len(ceiling) == 1
        assert (ceiling[0]["effective_from"], ceiling[0]["effective_to"]) == ("2015-09-01", None)
        assert ceiling[0]["versions"] == ["2015.09", "2020.08", "2021.03", "2025.10", "2026.08"]
        students = [r for r in rows if r["name"] == "student_lending_microcredit"]
        assert [(r["value"], r["effective_to"]) for r in students] == [
            (False, "2020-08-20"),
            (True, None),
        ]

    def test_a_verify_tag_and_an_older_update_come_first(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        text = (SHIPPED / "privacy/policies/cn.yaml").read_text(encoding="utf-8")
        tagged = text.replace(
            "        source: PIPL-50\n        confidence: C\n",
            "        source: PIPL-50\n        confidence: C\n"
            "        verify: Check Art. 50 against the final text\n"
            "        updated: 2025-07-01\n",
        )
        assert tagged != text
        folder = tmp_path / "privacy"
        folder.mkdir()
        (folder / "cn.yaml").write_text(tagged, encoding="utf-8")
        monkeypatch.setenv("LENDGUARD_POLICY_DIR", str(tmp_path))
        rows = status_json("--on", "2027-01-04")["rows"]
        first = rows[0]
        assert (first["kind"], first["name"]) == ("privacy", "dsr_refusal_reason_required")
        assert first["why"] == "Check Art. 50 against the final text"
        assert first["updated"] == "2025-07-01"
        assert first["days_since_update"] == (date(2027, 1, 4) - date(2025, 7, 1)).days
        days = [r["days_since_update"] for r in rows]
        assert days == sorted(days, reverse=True)


class TestOutput:
    def test_the_missing_calendar_years_are_listed_too(self) -> None:
        body = status_json("--on", "2027-01-04")
        assert body["calendars"]["cn"]["missing_years"] == [2027, 2028]

    def test_the_table_reads_in_english_and_chinese(self) -> None:
        english = status("--on", "2027-01-04").stdout
        assert "Policy values to verify (stalest first), as of 2027-01-04" in english
        assert "one-year LPR (%)" in english
        assert "all in ceiling percent" in english
        assert "Mainland China 2027, 2028" in english
        chinese = status("--on", "2027-01-04", "--lang", "zh-CN").stdout
        assert "待核实的政策取值" in chinese
        assert "一年期 LPR（%）" in chinese
        assert "仅凭背景知识" in chinese

    @pytest.mark.parametrize("day", ["0001-01-01", "0026-03-01", "9999-12-31", "1969-12-31"])
    def test_a_day_outside_the_plausible_range_is_refused(self, day: str) -> None:
        """A mistyped year ("0026-03-01") printed every row as just updated and listed holiday
        years 26 and 27 (10000 for 9999-12-31) as not entered."""
        result = CliRunner().invoke(app, ["policies", "status", "--on", day])
        assert result.exit_code == 2
        assert "--on" in result.stderr
        assert "1970-01-01" in result.stderr

    def test_an_unknown_language_is_refused(self) -> None:
        result = CliRunner().invoke(app, ["policies", "status", "--lang", "fr"])
        assert result.exit_code == 2
        assert "--lang" in result.output
