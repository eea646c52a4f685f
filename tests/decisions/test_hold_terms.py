"""Hold terms: the deadline is the end of the N-th business day after the decision's local day,
on the jurisdiction's calendar (weekends, public holidays and China's make-up working days), in
UTC; a year without a calendar is counted with the stricter fallback (never later); the policy
file is validated at load."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from lendguard.decisions.holds import (
    HoldPolicyError,
    UnknownJurisdiction,
    clear_cache,
    hold_terms,
    load_hold_policy,
    parse_hold_policy,
    release_instructions,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class TestChina:
    def test_four_working_days_from_a_monday(self) -> None:
        # Monday 2 March 2026, 10:30 in Shanghai: Tue, Wed, Thu, Fri; the end of Friday.
        terms = hold_terms(utc(2026, 3, 2, 2, 30), "CN")
        assert terms.business_days == 4
        assert terms.last_day == date(2026, 3, 6)
        assert terms.deadline == utc(2026, 3, 6, 16, 0)  # midnight in Shanghai
        assert terms.jurisdiction == "CN"
        assert terms.time_zone == "Asia/Shanghai"

    def test_a_weekend_is_not_counted(self) -> None:
        # Thursday 5 March 2026: Fri (1), [Sat, Sun], Mon (2), Tue (3), Wed (4).
        terms = hold_terms(utc(2026, 3, 5, 3, 0), "CN")
        assert terms.last_day == date(2026, 3, 11)

    def test_a_decision_on_a_saturday_counts_from_the_next_working_day(self) -> None:
        terms = hold_terms(utc(2026, 3, 7, 3, 0), "CN")
        assert terms.last_day == date(2026, 3, 12)  # Mon 9, Tue 10, Wed 11, Thu 12

    def test_the_local_day_decides_not_the_utc_day(self) -> None:
        # 17:00 UTC on Thursday 5 March is 01:00 on Friday 6 March in Shanghai.
        assert hold_terms(utc(2026, 3, 5, 17, 0), "CN").last_day == date(2026, 3, 12)
        assert hold_terms(utc(2026, 3, 5, 15, 59), "CN").last_day == date(2026, 3, 11)

    def test_national_day_week_and_its_make_up_saturday(self) -> None:
        # Monday 29 Sept 2025: Tue 30 (1), 1-8 Oct off, Thu 9 (2), Fri 10 (3), and Saturday
        # 11 Oct, a make-up working day (4).
        terms = hold_terms(utc(2025, 9, 29, 2, 0), "CN")
        assert terms.last_day == date(2025, 10, 11)
        assert terms.deadline == utc(2025, 10, 11, 16, 0)

    def test_the_year_edge_with_new_year_and_a_make_up_sunday(self) -> None:
        # Tuesday 30 Dec 2025: Wed 31 (1), 1-3 Jan 2026 off, Sunday 4 Jan worked (2),
        # Mon 5 (3), Tue 6 (4).
        terms = hold_terms(utc(2025, 12, 30, 2, 0), "CN")
        assert terms.last_day == date(2026, 1, 6)

    def test_a_year_without_a_calendar_is_never_later(self) -> None:
        # 2027 is not entered: China's fallback counts every day, so the deadline is exactly
        # four days after, no later than any official calendar could give.
        terms = hold_terms(utc(2026, 12, 30, 2, 0), "CN")
        assert terms.last_day == date(2027, 1, 3)


class TestOtherJurisdictions:
    def test_uk_easter_and_the_clocks_going_forward(self) -> None:
        # Friday 27 March 2026 in London (GMT); clocks go forward on the 29th; Good Friday
        # is 3 April: Mon 30 (1), Tue 31 (2), Wed 1 (3), Thu 2 (4), ending at BST midnight.
        terms = hold_terms(utc(2026, 3, 27, 12, 0), "uk")
        assert terms.last_day == date(2026, 4, 2)
        assert terms.deadline == utc(2026, 4, 2, 23, 0)

    def test_uk_a_year_without_a_calendar_counts_weekdays(self) -> None:
        # Thursday 30 Dec 2027 (not entered): Fri 31, Mon 3, Tue 4, Wed 5.
        terms = hold_terms(utc(2027, 12, 30, 12, 0), "UK")
        assert terms.last_day == date(2028, 1, 5)

    def test_us_a_federal_holiday_is_skipped(self) -> None:
        # Monday 23 Nov 2026 in New York, Thanksgiving week: Tue 24 (1), Wed 25 (2),
        # [Thu 26 off], Fri 27 (3), Mon 30 (4).
        terms = hold_terms(utc(2026, 11, 23, 15, 0), "US")
        assert terms.last_day == date(2026, 11, 30)
        assert terms.deadline == utc(2026, 12, 1, 5, 0)  # midnight EST

    def test_the_default_jurisdiction_is_the_policy_s(self) -> None:
        assert hold_terms(utc(2026, 3, 2, 2, 30), None).jurisdiction == "CN"

    def test_an_unknown_jurisdiction_is_refused(self) -> None:
        with pytest.raises(UnknownJurisdiction):
            hold_terms(utc(2026, 3, 2, 2, 30), "FR")

    def test_a_naive_time_is_read_as_utc(self) -> None:
        assert hold_terms(datetime(2026, 3, 2, 2, 30), "CN").deadline == utc(2026, 3, 6, 16, 0)


class TestInstructions:
    def test_both_languages_name_the_last_day(self) -> None:
        terms = hold_terms(utc(2026, 3, 2, 2, 30), "CN")
        assert set(terms.instructions) == {"zh-CN", "en"}
        assert "2026年3月6日（星期五）" in terms.instructions["zh-CN"]
        assert "Friday 6 March 2026" in terms.instructions["en"]
        # What to do, in plain words, and no placeholder or internal name left.
        for text in terms.instructions.values():
            assert "{" not in text
            assert "_" not in text
        assert "App" in terms.instructions["zh-CN"]
        assert "official" in terms.instructions["en"]

    def test_a_stored_deadline_gives_the_same_instructions(self) -> None:
        terms = hold_terms(utc(2026, 3, 2, 2, 30), "UK")
        assert release_instructions(terms.deadline, "UK") == terms.instructions


POLICY = """
version: "t1"
default_jurisdiction: CN
actions: [intercept]
sources: {S: "a source"}
jurisdictions:
  CN:
    time_zone: Asia/Shanghai
    deadline_business_days: 4
    source: S
    instructions: {zh-CN: "到 {date}", en: "until {date}"}
    products:
      withdrawal: {deadline_business_days: 1}
"""


class TestPolicyFile:
    def test_a_product_overrides_its_jurisdiction(self) -> None:
        policy = parse_hold_policy(POLICY)
        monday = utc(2026, 3, 2, 2, 30)
        assert hold_terms(monday, None, "withdrawal", policy).last_day == date(2026, 3, 3)
        assert hold_terms(monday, None, "transfer", policy).last_day == date(2026, 3, 6)
        assert hold_terms(monday, None, "withdrawal", policy).instructions["en"] == (
            "until Tuesday 3 March 2026"
        )

    @pytest.mark.parametrize(
        ("old", "new", "names"),
        [
            ("deadline_business_days: 4", "deadline_business_days: 0", "deadline_business_days"),
            ("deadline_business_days: 4", "deadline_business_days: true", "deadline_business_days"),
            ("Asia/Shanghai", "Mars/Olympus", "time_zone"),
            ("source: S", "source: T", "source"),
            ('en: "until {date}"', 'en: "until {day}"', "instructions.en"),
            ('en: "until {date}"', 'en: ""', "instructions.en"),
            ("default_jurisdiction: CN", "default_jurisdiction: UK", "default_jurisdiction"),
            ("actions: [intercept]", "actions: [remind]", "actions"),
            ("    source: S\n", "    source: S\n    colour: red\n", "unknown keys"),
        ],
    )
    def test_a_malformed_policy_fails_at_load_naming_the_place(
        self, old: str, new: str, names: str
    ) -> None:
        assert old in POLICY
        with pytest.raises(HoldPolicyError, match=names):
            parse_hold_policy(POLICY.replace(old, new, 1))

    def test_a_deployment_copy_replaces_the_shipped_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "decisions").mkdir()
        (tmp_path / "decisions" / "holds.yaml").write_text(
            POLICY.replace("deadline_business_days: 4", "deadline_business_days: 2"),
            encoding="utf-8",
        )
        monkeypatch.setenv("LENDGUARD_POLICY_DIR", str(tmp_path))
        try:
            assert load_hold_policy().version == "t1"
            assert hold_terms(utc(2026, 3, 2, 2, 30)).last_day == date(2026, 3, 4)
        finally:
            monkeypatch.delenv("LENDGUARD_POLICY_DIR")
            clear_cache()

    def test_the_shipped_policy_holds_four_business_days_everywhere(self) -> None:
        policy = load_hold_policy()
        assert {j: r.deadline_business_days for j, r in policy.rules.items()} == {
            "CN": 4,
            "UK": 4,
            "US": 4,
        }
        assert policy.actions == {"intercept", "block"}
