"""The policy files: every shipped value has a source and a confidence tag, versions are
chosen by date, malformed files fail at load, and contacts normalise to one pseudonym."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lendguard.conduct.contacts import normalise_contact
from lendguard.policies import (
    CONFIDENCE_TAGS,
    NoPolicyInForce,
    PolicyError,
    available_jurisdictions,
    load_policy,
    load_policy_file,
    parse_policy_file,
)

EVERY_CODE = {
    "QUIET_HOURS",
    "QUIET_HOURS_US",
    "CONSUMER_DESIGNATED_INCONVENIENT",
    "FREQ_CAP_DAILY",
    "FREQ_CAP_7IN7",
    "POST_CONVERSATION_WAIT",
    "THIRD_PARTY_NOT_ALLOWED",
    "THIRD_PARTY_DISCLOSURE",
    "THIRD_PARTY_OPTED_OUT",
    "IMPERSONATION_RISK",
    "MARKETING_OPTED_OUT",
    "MARKETING_TO_DISTRESSED",
    "COLLECTION_PAUSED",
}


def test_shipped_jurisdictions() -> None:
    assert available_jurisdictions("conduct") == ["CN", "UK", "US"]


@pytest.mark.parametrize("jurisdiction", ["CN", "US", "UK"])
def test_every_value_has_a_source_and_a_confidence_tag(jurisdiction: str) -> None:
    book = load_policy_file("conduct", jurisdiction)
    for policy in book.versions:
        assert policy.values, policy.version
        for value in policy.values.values():
            assert value.source in book.sources
            assert value.source_text == book.sources[value.source]
            assert value.confidence in CONFIDENCE_TAGS
            if value.confidence in ("M", "X"):
                assert value.configurable, f"{policy.version} {value.name}"
            if value.code is not None:
                assert value.code in EVERY_CODE
                assert value.requirement
                assert value.requirement.startswith("R")


def test_every_code_is_backed_by_some_policy() -> None:
    codes = {
        v.code
        for j in ("CN", "US")
        for p in load_policy_file("conduct", j).versions
        for v in p.values.values()
    }
    assert codes >= EVERY_CODE


def test_cn_quiet_hours_by_date_22_since_the_2026_guideline_21_before() -> None:
    current = load_policy("conduct", "CN", date(2026, 3, 2))
    assert current.version == "2026.1"
    assert current["quiet_hours"].value["start"] == "22:00"
    assert current["quiet_hours"].confidence == "S"
    assert "21:00" in (current["quiet_hours"].note or "")  # the [X] alternative is noted
    assert current["unanswered_daily_cap"].value["max_attempts"] == 6
    earlier = load_policy("conduct", "CN", date(2026, 1, 29))
    assert earlier.version == "pre-2026"
    assert earlier["quiet_hours"].value["start"] == "21:00"
    assert earlier["quiet_hours"].confidence == "X"
    assert earlier.effective_to == date(2026, 1, 30)
    assert load_policy("conduct", "CN", date(2026, 1, 30)).version == "2026.1"


def test_us_policy_starts_with_regulation_f() -> None:
    policy = load_policy("conduct", "US", date(2026, 3, 2))
    assert policy["calls_in_7_days"].value["max_calls"] == 7
    assert policy["calls_excluded_results"].confidence == "M"
    assert policy["calls_excluded_results"].configurable
    assert policy.get("default_timezone") is None  # the US needs the consumer's zone
    with pytest.raises(NoPolicyInForce):
        load_policy("conduct", "US", date(2021, 11, 29))


def test_unknown_jurisdiction_and_kind() -> None:
    with pytest.raises(PolicyError):
        load_policy("conduct", "FR", date(2026, 3, 2))
    with pytest.raises(PolicyError):
        load_policy("no_such_area", "CN", date(2026, 3, 2))


VERSIONED = """
kind: conduct
jurisdiction: ZZ
sources:
  A: first source
  B: second source
versions:
  - version: v1
    effective_from: 2024-01-01
    values:
      cap: {value: 3, source: A, confidence: X, configurable: true}
  - version: v2
    effective_from: 2025-01-01
    effective_to: 2026-01-01
    values:
      cap: {value: 5, source: B, confidence: S}
"""


def test_a_date_before_a_version_starts_uses_the_earlier_one(tmp_path: Path) -> None:
    (tmp_path / "conduct").mkdir()
    (tmp_path / "conduct" / "zz.yaml").write_text(VERSIONED, encoding="utf-8")
    assert load_policy("conduct", "ZZ", date(2024, 12, 31), tmp_path)["cap"].value == 3
    second = load_policy("conduct", "ZZ", date(2025, 1, 1), tmp_path)
    assert (second.version, second["cap"].value, second["cap"].source) == ("v2", 5, "B")
    assert load_policy("conduct", "ZZ", date(2025, 12, 31), tmp_path).version == "v2"
    with pytest.raises(NoPolicyInForce):
        load_policy("conduct", "ZZ", date(2023, 12, 31), tmp_path)
    with pytest.raises(NoPolicyInForce):
        load_policy("conduct", "ZZ", date(2026, 1, 1), tmp_path)


def test_the_override_directory_wins_over_the_shipped_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conduct").mkdir()
    text = VERSIONED.replace("jurisdiction: ZZ", "jurisdiction: CN")
    (tmp_path / "conduct" / "cn.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("LENDGUARD_POLICY_DIR", str(tmp_path))
    assert load_policy("conduct", "CN", date(2024, 6, 1)).version == "v1"
    # Jurisdictions the override directory lacks still come from the package.
    assert load_policy("conduct", "US", date(2026, 3, 2)).version == "2021.1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("source: A,", "source: Q,"), "source must be one of"),
        (("confidence: X, configurable: true", "confidence: X"), "configurable"),
        (("confidence: S}", "confidence: maybe}"), "confidence must be one of"),
        (("effective_from: 2025-01-01", "effective_from: 2023-01-01"), "effective_from order"),
        (("effective_from: 2024-01-01", "effective_from: 01/01/2024"), "YYYY-MM-DD"),
        (("version: v2", "version: v1"), "unique"),
    ],
)
def test_malformed_policies_fail_at_load(change: tuple[str, str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy_file(VERSIONED.replace(*change))


@pytest.mark.parametrize(
    "written",
    ["13800138000", "+86 138-0013-8000", "008613800138000", "(138) 0013 8000", "8613800138000"],
)
def test_one_chinese_mobile_number_in_any_format_normalises_alike(written: str) -> None:
    assert normalise_contact("call", written, "86") == "+8613800138000"


def test_other_contacts_normalise() -> None:
    assert normalise_contact("call", "(212) 555-0100", "1") == "+12125550100"
    assert normalise_contact("sms", "1 212 555 0100", "1") == "+12125550100"
    assert normalise_contact("call", "020 7946 0000", "44") == "+442079460000"
    assert normalise_contact("email", " Zhang.San@Example.COM ", "86") == "zhang.san@example.com"
    assert normalise_contact("visit", "北京市  朝阳区 1号", "86") == "北京市 朝阳区 1号"
