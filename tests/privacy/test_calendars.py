"""Working-day clocks on the holiday calendars kept as policy data (lendguard.kit.calendars).

Dates are hand-computed from the State Council notices for 2025 and 2026 (make-up Saturdays and
Sundays included). 2027 has no notice yet: the clock falls back to counting every day, which is
never later than any official calendar could give, warns once, and says so on ``/readyz`` and in
the console. No test reads the wall clock: dates are fixed, and the pages run at the pinned
instant (2026-03-02, so "this year and next" are 2026 and 2027).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from fixtures import Api, sign_in
from lendguard.kit import calendars
from lendguard.kit.calendars import (
    CalendarError,
    calendar_status,
    load_calendar,
    parse_calendar,
    working_days_after,
)
from lendguard.support.complaints import clock, clock_rules

LONDON = ZoneInfo("Europe/London")

# A calendar 2027 could have (NOT the official one, which is not published): New Year's Day
# with the weekend, a Spring Festival block with a make-up Sunday before and a make-up Saturday
# after it, Labour Day, National Day with make-up Saturdays. Used only to check the fallback
# against a calendar with make-up weekend days.
POSSIBLE_2027 = """
  2027:
    source: GOV-2026
    holidays:
      - {name: New Year's Day, from: 2027-01-01, to: 2027-01-03}
      - {name: Spring Festival, from: 2027-02-05, to: 2027-02-13}
      - {name: Labour Day, from: 2027-05-01, to: 2027-05-05}
      - {name: National Day, from: 2027-10-01, to: 2027-10-07}
    workdays:
      - {date: 2027-01-31, for: Spring Festival}
      - {date: 2027-02-20, for: Spring Festival}
      - {date: 2027-05-08, for: Labour Day}
      - {date: 2027-09-25, for: National Day}
      - {date: 2027-10-09, for: National Day}
"""


@pytest.fixture(autouse=True)
def _fresh_calendars() -> Iterator[None]:
    """Each test starts with no year reported yet (the warning is once per process)."""
    calendars.clear_cache()
    yield
    calendars.clear_cache()


@pytest.fixture
def with_possible_2027(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    shipped = Path(calendars.__file__).with_name("cn.yaml").read_text(encoding="utf-8")
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "cn.yaml").write_text(shipped.rstrip("\n") + "\n" + POSSIBLE_2027, "utf-8")
    monkeypatch.setenv("LENDGUARD_POLICY_DIR", str(tmp_path))
    calendars.clear_cache()
    yield
    monkeypatch.delenv("LENDGUARD_POLICY_DIR", raising=False)
    calendars.clear_cache()


# -- the official calendars ----------------------------------------------------------------------


class TestChina:
    def test_spring_festival_2025_with_its_make_up_sunday_and_saturday(self) -> None:
        received = date(2025, 1, 24)  # Friday; Sun 26 Jan and Sat 8 Feb are working days
        assert working_days_after(received, 1, "CN") == date(2025, 1, 26)
        assert working_days_after(received, 2, "CN") == date(2025, 1, 27)
        assert working_days_after(received, 3, "CN") == date(2025, 2, 5)  # after 28 Jan - 4 Feb
        assert working_days_after(received, 6, "CN") == date(2025, 2, 8)  # the make-up Saturday
        assert working_days_after(received, 15, "CN") == date(2025, 2, 20)

    def test_national_day_2026_with_its_make_up_sunday_and_saturday(self) -> None:
        received = date(2026, 9, 18)  # Friday; Sun 20 Sep and Sat 10 Oct are working days
        assert working_days_after(received, 1, "CN") == date(2026, 9, 20)
        assert working_days_after(received, 6, "CN") == date(2026, 9, 28)  # after Mid-Autumn
        assert working_days_after(received, 9, "CN") == date(2026, 10, 8)  # after 1-7 Oct
        assert working_days_after(received, 11, "CN") == date(2026, 10, 10)  # make-up Saturday
        assert working_days_after(received, 15, "CN") == date(2026, 10, 15)

    def test_spring_festival_2026_a_request_on_the_eve_of_nine_days_off(self) -> None:
        received = date(2026, 2, 13)  # Friday; Sat 14 Feb works, 15-23 Feb off
        assert working_days_after(received, 1, "CN") == date(2026, 2, 14)
        assert working_days_after(received, 2, "CN") == date(2026, 2, 24)

    def test_every_shipped_year_matches_its_notice_in_day_counts(self) -> None:
        cn = load_calendar("CN")
        assert cn is not None
        # days off / make-up days per notice: 2024 28/8, 2025 28/5, 2026 33/6
        counts = {y: (len(c.days_off), len(c.weekend_workdays)) for y, c in cn.years.items()}
        assert counts == {2024: (28, 8), 2025: (28, 5), 2026: (33, 6)}


class TestBankAndFederalHolidays:
    def test_uk_easter_2026_is_skipped(self) -> None:
        received = date(2026, 4, 2)  # Thursday; Good Friday 3 Apr, Easter Monday 6 Apr
        assert working_days_after(received, 1, "UK") == date(2026, 4, 7)
        assert working_days_after(received, 3, "UK") == date(2026, 4, 9)

    def test_us_thanksgiving_2026_is_skipped(self) -> None:
        received = date(2026, 11, 25)  # Wednesday; Thanksgiving Thursday 26 Nov
        assert working_days_after(received, 1, "US") == date(2026, 11, 27)

    def test_the_uk_summary_resolution_counts_bank_holidays_out(self) -> None:
        received = datetime(2026, 4, 2, 9, tzinfo=LONDON)  # the Thursday before Easter
        rules = clock_rules("UK", received)
        on_day_3 = datetime(2026, 4, 9, 17, tzinfo=LONDON)  # 3rd business day: Thu 9 Apr
        on_day_4 = datetime(2026, 4, 10, 9, tzinfo=LONDON)
        assert clock(rules, received, on_day_3, 0, on_day_4)["summary_resolution_eligible"]
        assert not clock(rules, received, on_day_4, 0, on_day_4)["summary_resolution_eligible"]


# -- a missing year --------------------------------------------------------------------------------


class TestMissingYear:
    def test_2027_is_not_in_the_shipped_calendar(self) -> None:
        cn = load_calendar("CN")
        assert cn is not None
        assert not cn.covers(2027)

    def test_a_2027_deadline_counts_every_day_and_is_never_later_than_a_real_calendar(
        self,
    ) -> None:
        received = date(2026, 12, 31)  # Thursday; 15 working days run into 2027
        fallback = working_days_after(received, 15, "CN")
        assert fallback == date(2027, 1, 15)  # every day counts: 15 days later
        # Hand-computed on the possible 2027 calendar (1-3 Jan off): Jan 4-8, 11-15, 18-22.
        assert fallback <= date(2027, 1, 22)

    def test_the_fallback_is_never_later_than_a_calendar_with_make_up_days(
        self, with_possible_2027: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        official = load_calendar("CN")
        assert official is not None
        assert official.covers(2027)
        monkeypatch.delenv("LENDGUARD_POLICY_DIR")  # back to the shipped file, without 2027
        calendars.clear_cache()
        shipped = load_calendar("CN")
        assert shipped is not None
        assert not shipped.covers(2027)
        # Received the Friday before the possible make-up Saturday 20 Feb: the official first
        # working day would be that Saturday. Weekdays-only would say Monday 22 Feb: later.
        assert working_days_after(date(2027, 2, 19), 1, "CN") == date(2027, 2, 20)
        for start in (date(2026, 12, 1) + timedelta(days=i) for i in range(400)):
            for n in (1, 2, 3, 5, 10, 15, 30):
                fallback = working_days_after(start, n, "CN")
                found, day = 0, start
                while found < n:
                    day += timedelta(days=1)
                    if official.is_working_day(day):
                        found += 1
                assert fallback <= day, (start, n)

    def test_uk_without_2027_counts_weekdays(self) -> None:
        # Fri 24 Dec 2027 + 2: Mon 27, Tue 28 (the bank holidays are not known yet).
        assert working_days_after(date(2027, 12, 24), 2, "UK") == date(2027, 12, 28)

    def test_a_missing_year_warns_once_without_personal_information(self) -> None:
        with capture_logs() as logs:
            working_days_after(date(2026, 12, 20), 15, "CN")
            working_days_after(date(2027, 3, 1), 15, "CN")
            working_days_after(date(2027, 6, 1), 5, "UK")
        warnings = [e for e in logs if e["event"] == "working_day_calendar_year_missing"]
        assert [(e["jurisdiction"], e["year"]) for e in warnings] == [("CN", 2027), ("UK", 2027)]
        assert all(e["log_level"] == "warning" for e in warnings)
        assert set(warnings[0]) == {"event", "log_level", "jurisdiction", "year", "fallback"}

    def test_the_status_lists_this_year_next_year_and_every_year_fallen_back_on(self) -> None:
        status = calendar_status(date(2026, 3, 2))
        assert status["cn"]["missing_years"] == [2027]
        assert status["cn"]["covered_years"] == [2024, 2025, 2026]
        assert status["us"]["missing_years"] == []
        working_days_after(date(2023, 12, 29), 1, "CN")  # an old request, before the data
        assert calendar_status(date(2026, 3, 2))["cn"]["missing_years"] == [2023, 2027]


class TestCalendarFiles:
    def test_a_make_up_day_on_a_weekday_is_refused_at_load(self) -> None:
        text = """
jurisdiction: CN
weekend_workdays: true
sources: {S: a notice}
years:
  2026:
    source: S
    workdays: [{date: 2026-03-02}]
"""
        with pytest.raises(CalendarError, match="not a Saturday or Sunday"):
            parse_calendar(text)

    def test_a_day_outside_its_year_is_refused(self) -> None:
        text = """
jurisdiction: UK
weekend_workdays: false
sources: {S: a list}
years:
  2026:
    source: S
    holidays: [{name: x, from: 2027-01-01}]
"""
        with pytest.raises(CalendarError, match="not in 2026"):
            parse_calendar(text)


# -- where an operator sees it ------------------------------------------------------------------


@pytest.mark.usefixtures("pinned_clock")
class TestShown:
    def test_readyz_lists_the_missing_year_and_stays_ready(self, app_client: Api) -> None:
        response = app_client.client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ready"
        assert body["calendars"]["cn"]["missing_years"] == [2027]
        assert body["calendars"]["uk"]["missing_years"] == [2027]
        assert body["calendars"]["us"]["missing_years"] == []

    def test_the_console_shows_a_banner_in_english_and_chinese(self, case_app: Api) -> None:
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        page = analyst.get("/console?lang=en")
        assert page.status_code == 200
        assert 'id="calendar-banner"' in page.text
        assert "Mainland China 2027" in page.text
        assert "has not been entered" in page.text
        chinese = analyst.get("/console?lang=zh-CN").text
        assert "中国内地 2027" in chinese
        assert "尚未录入" in chinese
        assert "has not been entered" not in chinese

    def test_no_banner_when_every_year_is_there(
        self, case_app: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        folder = tmp_path / "calendars"
        folder.mkdir()
        for name in ("cn", "uk"):
            shipped = Path(calendars.__file__).with_name(f"{name}.yaml").read_text("utf-8")
            extra = POSSIBLE_2027 if name == "cn" else POSSIBLE_2027.replace("GOV-2026", "GOV-UK")
            if name == "uk":
                extra = extra.split("    workdays:")[0]
            (folder / f"{name}.yaml").write_text(shipped.rstrip("\n") + "\n" + extra, "utf-8")
        monkeypatch.setenv("LENDGUARD_POLICY_DIR", str(tmp_path))
        calendars.clear_cache()
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        assert 'id="calendar-banner"' not in analyst.get("/console").text

    def test_nobody_signed_out_sees_it(self, case_app: Api) -> None:
        page = case_app.client.get("/console/login")
        assert page.status_code == 200
        assert 'id="calendar-banner"' not in page.text
