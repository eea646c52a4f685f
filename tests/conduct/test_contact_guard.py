"""The contact guard as a service, on SQLite and PostgreSQL: every code with its boundary
(R13, R16-R19, R23-R24, R33), the consent and rescue interfaces, and what is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from lendguard.conduct.contacts import ContactGuard, ContactLog, ContactRefused, ContactRequest
from lendguard.conduct.contacts import InconvenientWindow as Window
from lendguard.db import make_engine
from lendguard.errors import Conflict, ValidationFailed
from lendguard.models import ContactAttempt, ThirdPartyOptOut

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
# Monday 2 March 2026: the CBA 2026 guideline is in force in China, Regulation F in the US.
DAY = (2026, 3, 2)
NUMBER = "+86 138 0013 8000"


def cn(hour: int, minute: int = 0, day: int = 0, second: int = 0) -> datetime:
    return datetime(*DAY, hour, minute, second, tzinfo=SHANGHAI) + timedelta(days=day)


def us(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return datetime(*DAY, hour, minute, tzinfo=NEW_YORK) + timedelta(days=day)


def collection(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "collection",
        "channel": "call",
        "debtor_id": "debtor-1",
        "contact": NUMBER,
        "debt": {"id": "loan-1", "amount": "3200", "overdue_days": 12},
        "timezone": "Asia/Shanghai",
        "at": cn(10),
    }
    body.update(overrides)
    return body


def us_collection(**overrides: Any) -> dict[str, Any]:
    us_defaults = {
        "jurisdiction": "US",
        "timezone": "America/New_York",
        "contact": "+1 212 555 0100",
        "at": us(10),
    }
    return collection(**{**us_defaults, **overrides})


def marketing(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "marketing",
        "channel": "push",
        "debtor_id": "debtor-1",
        "contact": "device-token-1",
        "template_text": "新品贷款，年化利率 7.2% 起",
        "at": cn(10),
    }
    body.update(overrides)
    return body


def third_party(relation: str = "unrelated", **overrides: Any) -> dict[str, Any]:
    defaults = {
        "target": "third_party",
        "third_party": {"id": "contact-9", "relation": relation},
        "contact": "+86 139 0000 0009",
    }
    return collection(**{**defaults, **overrides})


@pytest.fixture(autouse=True)
def _the_evening_before(pinned_clock: Any) -> None:
    """The checks here are planned on DAY and the clock reads the evening before: a choice or
    a flag recorded for an instant of DAY applies from that instant (a check reads the
    customer's choices at ``max(at, now)``; the privacy tests show a withdrawal applying to a
    check planned before it)."""
    pinned_clock.move_to(datetime(*DAY, tzinfo=SHANGHAI) - timedelta(hours=4))


@pytest.fixture
def guard(database_url: str) -> Iterator[ContactGuard]:
    engine = make_engine(database_url)
    yield ContactGuard(engine, pii_key="test-pii-key")
    engine.dispose()


def check(guard: ContactGuard, body: dict[str, Any]) -> dict[str, Any]:
    return guard.check(ContactRequest.model_validate(body)).as_dict()


def codes(guard: ContactGuard, body: dict[str, Any]) -> list[str]:
    return [c["code"] for c in check(guard, body)["codes"]]


def log(guard: ContactGuard, body: dict[str, Any], result: str, **extra: Any) -> dict[str, Any]:
    return guard.log(ContactLog.model_validate({**body, "result": result, **extra}), "tester")


def refused(guard: ContactGuard, body: dict[str, Any], result: str) -> list[str]:
    with pytest.raises(ContactRefused) as caught:
        log(guard, body, result)
    return [f.code for f in caught.value.result.findings]


# -- R16 quiet hours (China) ---------------------------------------------------------------------


class TestQuietHoursCN:
    @pytest.mark.parametrize(
        ("hour", "minute", "second", "allowed"),
        [
            (22, 30, 0, False),
            (7, 59, 0, False),
            (7, 59, 59, False),
            (8, 0, 0, True),
            (21, 59, 59, True),
            (22, 0, 0, False),
            (0, 0, 0, False),
            (12, 0, 0, True),
        ],
    )
    def test_22_to_08_debtor_local(
        self, guard: ContactGuard, hour: int, minute: int, second: int, allowed: bool
    ) -> None:
        answer = check(guard, collection(at=cn(hour, minute, second=second)))
        assert answer["allowed"] is allowed
        if not allowed:
            (code,) = answer["codes"]
            assert code["code"] == "QUIET_HOURS"
            assert code["requirement"] == "R16"
            assert code["policy"] == {
                "jurisdiction": "CN",
                "version": "2026.1",
                "value": "quiet_hours",
                "source": "CBA-2026",
                "citation": code["policy"]["citation"],
                "confidence": "S",
            }
            assert "金融机构个人消费类贷款催收工作指引" in code["policy"]["citation"]

    def test_every_channel_of_collection(self, guard: ContactGuard) -> None:
        for channel in ("sms", "visit", "push", "email"):
            body = collection(at=cn(23), channel=channel, template_text="请尽快还款")
            assert codes(guard, body) == ["QUIET_HOURS"], channel

    def test_the_debtors_consent_window_allows_it(self, guard: ContactGuard) -> None:
        consent = {"window_start": cn(22), "window_end": cn(23)}
        assert check(guard, collection(at=cn(22, 30), debtor_consent=consent))["allowed"]
        # Outside the window the quiet hours hold.
        assert codes(guard, collection(at=cn(23, 30), debtor_consent=consent)) == ["QUIET_HOURS"]

    def test_the_local_time_is_the_debtors(self, guard: ContactGuard) -> None:
        instant = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
        answer = check(guard, collection(at=instant))
        assert answer["local_time"] == "2026-03-02T22:30:00+08:00"
        assert [c["code"] for c in answer["codes"]] == ["QUIET_HOURS"]
        # The same instant is 20:30 for a debtor in Urumqi (UTC+6).
        assert check(guard, collection(at=instant, timezone="Asia/Urumqi"))["allowed"]
        # Without a zone, China's policy default applies.
        assert codes(guard, {**collection(at=instant), "timezone": None}) == ["QUIET_HOURS"]

    def test_before_the_2026_guideline_the_stricter_21_00(self, guard: ContactGuard) -> None:
        before = datetime(2025, 12, 1, 21, 30, tzinfo=SHANGHAI)
        answer = check(guard, collection(at=before))
        assert [c["code"] for c in answer["codes"]] == ["QUIET_HOURS"]
        assert answer["codes"][0]["policy"]["version"] == "pre-2026"
        assert answer["codes"][0]["policy"]["confidence"] == "X"
        assert check(guard, collection(at=cn(21, 30)))["allowed"]
        assert check(guard, collection(at=cn(21, 30)))["policy"]["version"] == "2026.1"

    def test_marketing_is_not_under_the_collection_quiet_hours(self, guard: ContactGuard) -> None:
        assert check(guard, marketing(at=cn(23)))["allowed"]


# -- R17 unanswered-call cap ---------------------------------------------------------------------


class TestDailyCap:
    def test_the_7th_unanswered_dial_the_same_local_day_is_refused(
        self, guard: ContactGuard
    ) -> None:
        for minute in range(6):
            assert check(guard, collection(at=cn(9, minute)))["allowed"]
            log(guard, collection(at=cn(9, minute)), "unanswered")
        answer = check(guard, collection(at=cn(15)))
        assert [c["code"] for c in answer["codes"]] == ["FREQ_CAP_DAILY"]
        assert answer["codes"][0]["requirement"] == "R17"
        assert refused(guard, collection(at=cn(15)), "unanswered") == ["FREQ_CAP_DAILY"]
        # Another number of the same debtor has its own counter.
        assert check(guard, collection(at=cn(15), contact="+86 139 1111 2222"))["allowed"]
        # The next local day starts again (07:59 is quiet; 08:00 is the first slot).
        assert check(guard, collection(at=cn(8, day=1)))["allowed"]

    def test_the_counter_is_per_local_date(self, guard: ContactGuard) -> None:
        # 21:00-21:05 local on day 0 are 13:00-13:05 UTC; the day boundary is local midnight.
        for minute in range(6):
            log(guard, collection(at=cn(21, minute)), "unanswered")
        assert codes(guard, collection(at=cn(21, 30))) == ["FREQ_CAP_DAILY"]
        assert check(guard, collection(at=cn(8, 0, day=1)))["allowed"]

    def test_one_number_in_any_format_is_one_counter(self, guard: ContactGuard) -> None:
        formats = ["13800138000", "+86 138-0013-8000", "008613800138000"]
        for minute in range(6):
            log(guard, collection(at=cn(9, minute), contact=formats[minute % 3]), "unanswered")
        assert codes(guard, collection(at=cn(15), contact="138 0013 8000")) == ["FREQ_CAP_DAILY"]

    def test_answered_calls_do_not_count_failed_ones_do(self, guard: ContactGuard) -> None:
        for minute in range(5):
            log(guard, collection(at=cn(9, minute)), "unanswered")
        log(guard, collection(at=cn(10)), "answered")
        log(guard, collection(at=cn(10, 30)), "conversation")
        assert check(guard, collection(at=cn(11)))["allowed"]
        log(guard, collection(at=cn(11)), "failed")
        assert codes(guard, collection(at=cn(12))) == ["FREQ_CAP_DAILY"]

    def test_sms_is_not_capped_by_the_call_counter(self, guard: ContactGuard) -> None:
        for minute in range(6):
            log(guard, collection(at=cn(9, minute)), "unanswered")
        sms = collection(at=cn(15), channel="sms", template_text="请回电 95555")
        assert check(guard, sms)["allowed"]

    def test_the_contact_is_stored_only_as_a_pseudonym(
        self, guard: ContactGuard, database_url: str
    ) -> None:
        logged = log(guard, collection(), "unanswered", attempt_id="dialler-1")
        assert logged["contact_hash"].startswith("h1:")
        assert "13800138000" not in str(logged)
        with guard.db.connect() as conn:
            rows = conn.execute(text("SELECT * FROM contact_attempts")).all()
        assert len(rows) == 1
        assert "13800138000" not in str(rows[0])
        assert "138 0013" not in str(rows[0])
        # A replay of the same attempt_id answers with the first record, and adds nothing.
        again = log(guard, collection(), "unanswered", attempt_id="dialler-1")
        assert again["replayed"]
        assert again["id"] == logged["id"]
        with guard.db.connect() as conn:
            assert len(conn.execute(select(ContactAttempt.id)).all()) == 1


# -- R18 third parties ---------------------------------------------------------------------------


class TestThirdParties:
    def test_an_emergency_contact_while_the_debtor_is_reachable(self, guard: ContactGuard) -> None:
        answer = check(guard, third_party())
        assert [c["code"] for c in answer["codes"]] == ["THIRD_PARTY_NOT_ALLOWED"]
        assert answer["codes"][0]["requirement"] == "R18"
        assert check(guard, third_party(debtor_reachable=False))["allowed"]
        # A debt-related third party (a spouse) may be contacted.
        assert check(guard, third_party("debt_related"))["allowed"]

    def test_unreachable_is_not_believed_after_a_recent_answer(self, guard: ContactGuard) -> None:
        log(guard, collection(at=cn(10, day=-6)), "answered")
        answer = check(guard, third_party(debtor_reachable=False))
        assert [c["code"] for c in answer["codes"]] == ["THIRD_PARTY_NOT_ALLOWED"]
        assert "answered on 2026-02-24" in answer["codes"][0]["message"]
        assert answer["codes"][0]["policy"]["confidence"] == "design"
        # Seven local days later the answer is too old to prove the debtor reachable.
        assert check(guard, third_party(debtor_reachable=False, at=cn(10, day=1)))["allowed"]

    @pytest.mark.parametrize(
        "template",
        [
            "您好，张三的借款已逾期，请转告",
            "请转告张三，欠款 ¥3,200 未还",
            "请转告张三于3月5日前处理",
            "Please tell Zhang San his payment is overdue",
            "Please ask Zhang San about the 3200 he has",
            "请转告张三 2026-03-05 前处理",
            "请转告张三 3200元",
        ],
    )
    def test_a_third_party_message_must_not_disclose_the_debt(
        self, guard: ContactGuard, template: str
    ) -> None:
        body = third_party("debt_related", channel="sms", template_text=template)
        answer = check(guard, body)
        assert [c["code"] for c in answer["codes"]] == ["THIRD_PARTY_DISCLOSURE"], template

    def test_a_neutral_message_passes(self, guard: ContactGuard) -> None:
        body = third_party(
            "debt_related", channel="sms", template_text="您好，请转告张三尽快回电 95555，谢谢"
        )
        assert check(guard, body)["allowed"]
        # A debtor-directed template may name the debt.
        assert check(guard, collection(channel="sms", template_text="您的借款已逾期"))["allowed"]

    def test_no_contact_after_a_third_party_opts_out(self, guard: ContactGuard) -> None:
        body = third_party(debtor_reachable=False)
        logged = log(guard, body, "refused_by_third_party")
        assert logged["recorded"] == ["third_party_opt_out"]
        answer = check(guard, third_party(debtor_reachable=False, at=cn(11)))
        assert [c["code"] for c in answer["codes"]] == ["THIRD_PARTY_OPTED_OUT"]
        assert refused(guard, third_party(debtor_reachable=False, at=cn(11)), "unanswered") == [
            "THIRD_PARTY_OPTED_OUT"
        ]
        # The same person by number, under another id and about another debtor: still out.
        other = third_party(
            "debt_related",
            debtor_id="debtor-2",
            third_party={"id": "spouse-2", "relation": "debt_related"},
            contact="13900000009",
            at=cn(12),
        )
        assert codes(guard, other) == ["THIRD_PARTY_OPTED_OUT"]
        with guard.db.connect() as conn:
            assert len(conn.execute(select(ThirdPartyOptOut.id)).all()) == 1

    def test_an_opt_out_recorded_by_id(self, guard: ContactGuard) -> None:
        guard.preferences.add_third_party_opt_out(
            "debtor-1", "contact-9", None, "complaint", "tester", cn(9)
        )
        body = third_party(debtor_reachable=False, contact="+86 137 0000 0000")
        assert codes(guard, body) == ["THIRD_PARTY_OPTED_OUT"]


# -- R19 prohibited content ----------------------------------------------------------------------


class TestImpersonation:
    @pytest.mark.parametrize(
        "template",
        [
            "您已被法院起诉，请立即还款",
            "公安机关将上门",
            "传票已寄出",
            "检察院通知",
            "法 院 已 立 案",
            "The court has issued a warrant",
            "POLICE will visit you",
        ],
    )
    def test_naming_a_court_or_police_goes_to_manual_review(
        self, guard: ContactGuard, template: str
    ) -> None:
        answer = check(guard, collection(channel="sms", template_text=template))
        assert answer["allowed"] is False
        assert answer["review"] is True
        assert [c["code"] for c in answer["codes"]] == ["IMPERSONATION_RISK"]
        assert answer["codes"][0]["requirement"] == "R19"

    def test_words_that_only_contain_a_keyword_pass(self, guard: ContactGuard) -> None:
        body = collection(channel="email", template_text="Thank you for your courtesy")
        assert check(guard, body)["allowed"]

    def test_marketing_templates_are_checked_too_and_logging_refuses(
        self, guard: ContactGuard
    ) -> None:
        assert codes(guard, marketing(template_text="法院认证的低息贷款")) == ["IMPERSONATION_RISK"]
        body = collection(channel="sms", template_text="警察会来找你")
        assert refused(guard, body, "delivered") == ["IMPERSONATION_RISK"]


# -- R23 inconvenient times (US) -----------------------------------------------------------------


class TestInconvenientTimesUS:
    @pytest.mark.parametrize(
        ("hour", "minute", "allowed"),
        [(21, 5, False), (21, 1, False), (21, 0, True), (7, 59, False), (8, 0, True)],
    )
    def test_before_08_or_after_21_consumer_local(
        self, guard: ContactGuard, hour: int, minute: int, allowed: bool
    ) -> None:
        answer = check(guard, us_collection(at=us(hour, minute)))
        assert answer["allowed"] is allowed
        if not allowed:
            assert [c["code"] for c in answer["codes"]] == ["QUIET_HOURS_US"]
            assert answer["codes"][0]["requirement"] == "R23"
            assert answer["codes"][0]["policy"]["confidence"] == "C"

    def test_every_plausible_zone_must_be_convenient(self, guard: ContactGuard) -> None:
        body = us_collection(at=us(20, 30), alternate_timezones=["America/Chicago"])
        assert check(guard, body)["allowed"]
        body = us_collection(at=us(8, 30), alternate_timezones=["America/Los_Angeles"])
        answer = check(guard, body)
        assert [c["code"] for c in answer["codes"]] == ["QUIET_HOURS_US"]
        assert "America/Los_Angeles" in answer["codes"][0]["message"]

    def test_the_consumers_zone_is_required(self, guard: ContactGuard) -> None:
        with pytest.raises(ValidationFailed) as caught:
            guard.check(ContactRequest.model_validate({**us_collection(), "timezone": None}))
        assert [e.field for e in caught.value.errors] == ["timezone"]

    def test_a_consumer_designated_window(self, guard: ContactGuard) -> None:
        work = Window.model_validate(
            {"start": "09:00", "end": "17:00", "weekdays": [1, 2, 3, 4, 5], "note": "at work"}
        )
        guard.set_inconvenient_times("debtor-1", [work])
        answer = check(guard, us_collection(at=us(10)))  # Monday
        assert [c["code"] for c in answer["codes"]] == ["CONSUMER_DESIGNATED_INCONVENIENT"]
        assert "at work" in answer["codes"][0]["message"]
        assert check(guard, us_collection(at=us(17)))["allowed"]
        assert check(guard, us_collection(at=us(8, 59)))["allowed"]
        assert check(guard, us_collection(at=us(10, day=5)))["allowed"]  # Saturday
        consent = {"window_start": us(9, 30), "window_end": us(10, 30)}
        assert check(guard, us_collection(at=us(10), debtor_consent=consent))["allowed"]
        # The same stored window holds under China's policy too (a design choice there).
        assert codes(guard, collection(at=cn(10))) == ["CONSUMER_DESIGNATED_INCONVENIENT"]
        guard.set_inconvenient_times("debtor-1", [])
        assert check(guard, us_collection(at=us(10)))["allowed"]

    def test_a_window_past_midnight_belongs_to_its_first_day(self, guard: ContactGuard) -> None:
        night = Window.model_validate({"start": "20:00", "end": "08:30", "weekdays": [5]})
        guard.set_inconvenient_times("debtor-1", [night])
        assert codes(guard, us_collection(at=us(20, 30, day=4))) == [
            "CONSUMER_DESIGNATED_INCONVENIENT"
        ]
        assert codes(guard, us_collection(at=us(8, 15, day=5))) == [
            "CONSUMER_DESIGNATED_INCONVENIENT"
        ]
        assert check(guard, us_collection(at=us(8, 15, day=4)))["allowed"]  # Friday morning


# -- R24 call frequency (US) ---------------------------------------------------------------------


class TestCallFrequencyUS:
    def test_the_8th_call_in_a_rolling_7_days_is_refused(self, guard: ContactGuard) -> None:
        # One unanswered call a day on days 0-6, to different numbers: 7 in 7 days.
        for day in range(7):
            body = us_collection(at=us(10, day=day), contact=f"+1 212 555 01{day:02d}")
            log(guard, body, "unanswered")
        answer = check(guard, us_collection(at=us(15, day=6), contact="+1 646 555 0199"))
        assert [c["code"] for c in answer["codes"]] == ["FREQ_CAP_7IN7"]
        assert answer["codes"][0]["requirement"] == "R24"
        assert refused(guard, us_collection(at=us(15, day=6)), "unanswered") == ["FREQ_CAP_7IN7"]
        # Day 7: the call of day 0 has left the window.
        assert check(guard, us_collection(at=us(10, day=7)))["allowed"]

    def test_the_count_is_per_debt_and_excludes_calls_that_did_not_connect(
        self, guard: ContactGuard
    ) -> None:
        for hour in range(9, 16):
            log(guard, us_collection(at=us(hour)), "unanswered")
        log(guard, us_collection(at=us(16)), "failed", direction="outbound")
        log(guard, us_collection(at=us(16, 30)), "answered", direction="inbound")
        assert codes(guard, us_collection(at=us(17))) == ["FREQ_CAP_7IN7"]
        other_debt = us_collection(at=us(17), debt={"id": "card-2"})
        assert check(guard, other_debt)["allowed"]
        # SMS are not calls.
        sms = us_collection(at=us(17), channel="sms", template_text="Please call us back")
        assert check(guard, sms)["allowed"]

    def test_a_failed_call_counts_where_the_policy_says_so(self, guard: ContactGuard) -> None:
        for hour in range(9, 16):
            log(guard, us_collection(at=us(hour)), "failed")
        assert check(guard, us_collection(at=us(17)))["allowed"]

    @pytest.mark.parametrize(("day", "allowed"), [(0, False), (2, False), (6, False), (7, True)])
    def test_no_call_within_7_days_after_a_conversation(
        self, guard: ContactGuard, day: int, allowed: bool
    ) -> None:
        log(guard, us_collection(at=us(10)), "conversation")  # day 1 of the period
        answer = check(guard, us_collection(at=us(15, day=day)))
        assert answer["allowed"] is allowed
        if not allowed:
            assert [c["code"] for c in answer["codes"]] == ["POST_CONVERSATION_WAIT"]
            assert "until 2026-03-09" in answer["codes"][0]["message"]

    def test_the_wait_is_per_debt_and_for_calls_only(self, guard: ContactGuard) -> None:
        log(guard, us_collection(at=us(10), direction="inbound"), "conversation")
        assert codes(guard, us_collection(at=us(10, day=2))) == ["POST_CONVERSATION_WAIT"]
        assert check(guard, us_collection(at=us(10, day=2), debt={"id": "card-2"}))["allowed"]
        email = us_collection(at=us(10, day=2), channel="email", template_text="Your statement")
        assert check(guard, email)["allowed"]

    def test_calls_within_7_days_of_direct_consent_are_excluded(self, guard: ContactGuard) -> None:
        for hour in range(9, 16):
            log(guard, us_collection(at=us(hour)), "unanswered")
        consent = {"window_start": us(16), "window_end": us(18), "given_at": us(8, day=-2)}
        body = us_collection(at=us(17), debtor_consent=consent)
        assert check(guard, body)["allowed"]
        logged = log(guard, body, "unanswered")
        assert logged["consented"] is True
        # Consent given 8 days before does not exclude the call.
        stale = {**consent, "given_at": us(8, day=-8)}
        assert codes(guard, us_collection(at=us(17), debtor_consent=stale)) == ["FREQ_CAP_7IN7"]

    def test_the_china_policy_has_no_7_in_7(self, guard: ContactGuard) -> None:
        for day in range(8):
            log(guard, collection(at=cn(10, day=day)), "unanswered")
        log(guard, collection(at=cn(11, day=7)), "conversation")
        assert check(guard, collection(at=cn(12, day=7)))["allowed"]


# -- R13 marketing consent and R33 rescue measures -----------------------------------------------


class TestMarketing:
    def test_a_customer_who_opted_out(self, guard: ContactGuard) -> None:
        assert check(guard, marketing())["allowed"]
        guard.preferences.set_marketing("debtor-1", "*", True, "app", "tester", cn(9))
        answer = check(guard, marketing())
        assert [c["code"] for c in answer["codes"]] == ["MARKETING_OPTED_OUT"]
        assert answer["codes"][0]["requirement"] == "R13"
        assert check(guard, marketing(at=cn(8)))["allowed"]  # before the opt-out
        # Opting back in to SMS only: SMS allowed, push still refused.
        guard.preferences.set_marketing("debtor-1", "sms", False, "app", "tester", cn(9, 30))
        assert check(guard, marketing(channel="sms"))["allowed"]
        assert codes(guard, marketing(channel="push")) == ["MARKETING_OPTED_OUT"]

    def test_the_store_wins_over_the_caller(self, guard: ContactGuard) -> None:
        assert codes(guard, marketing(marketing_opted_out=True)) == ["MARKETING_OPTED_OUT"]
        guard.preferences.set_marketing("debtor-1", "*", False, "app", "tester", cn(9))
        assert check(guard, marketing(marketing_opted_out=True))["allowed"]
        guard.preferences.set_marketing("debtor-1", "push", True, "app", "tester", cn(9, 30))
        answer = check(guard, marketing(marketing_opted_out=False))
        assert [c["code"] for c in answer["codes"]] == ["MARKETING_OPTED_OUT"]
        assert "consent store" in answer["codes"][0]["message"]

    def test_an_opt_out_on_a_marketing_contact_is_recorded(self, guard: ContactGuard) -> None:
        logged = log(guard, marketing(channel="call", contact=NUMBER), "opted_out")
        assert logged["recorded"] == ["marketing_opt_out"]
        assert codes(guard, marketing(at=cn(11))) == ["MARKETING_OPTED_OUT"]

    def test_marketing_to_a_customer_flagged_over_indebted(self, guard: ContactGuard) -> None:
        guard.flags.set_flag(
            "debtor-1", "marketing_suppressed", "OVER_INDEBTED (R30)", "lending", since=cn(9)
        )
        answer = check(guard, marketing())  # a loan offer push
        assert [c["code"] for c in answer["codes"]] == ["MARKETING_TO_DISTRESSED"]
        assert answer["codes"][0]["requirement"] == "R33"
        # Collection is not marketing: the flag does not stop it.
        assert check(guard, collection())["allowed"]
        assert guard.flags.clear_flag("debtor-1", "marketing_suppressed", at=cn(11)) == 1
        assert check(guard, marketing(at=cn(12)))["allowed"]
        assert codes(guard, marketing(at=cn(10))) == ["MARKETING_TO_DISTRESSED"]  # history

    def test_collection_pauses_while_a_hardship_plan_is_agreed(self, guard: ContactGuard) -> None:
        guard.flags.set_flag(
            "debtor-1",
            "collection_paused",
            "hardship plan in negotiation",
            "lending",
            since=cn(9),
            until=cn(9, day=3),
        )
        assert codes(guard, collection()) == ["COLLECTION_PAUSED"]
        assert refused(guard, third_party(debtor_reachable=False), "unanswered") == [
            "COLLECTION_PAUSED"
        ]
        assert check(guard, marketing())["allowed"]
        assert check(guard, collection(at=cn(10, day=3)))["allowed"]

    def test_the_interfaces_can_be_swapped(self, guard: ContactGuard) -> None:
        class Ledger:
            def marketing_allowed(self, customer_id: str, channel: str, at: datetime) -> bool:
                return channel != "sms"

        class Rescue:
            def marketing_suppressed(self, customer_id: str, at: datetime) -> bool:
                return customer_id == "distressed"

            def collection_paused(self, customer_id: str, at: datetime) -> bool:
                return customer_id == "paused"

        swapped = ContactGuard(guard.db, pii_key="k", consent=Ledger(), rescue=Rescue())
        assert swapped.check(ContactRequest.model_validate(marketing())).allowed
        sms = ContactRequest.model_validate(marketing(channel="sms"))
        assert [f.code for f in swapped.check(sms).findings] == ["MARKETING_OPTED_OUT"]
        distressed = ContactRequest.model_validate(marketing(debtor_id="distressed"))
        assert [f.code for f in swapped.check(distressed).findings] == ["MARKETING_TO_DISTRESSED"]
        paused = ContactRequest.model_validate(collection(debtor_id="paused"))
        assert [f.code for f in swapped.check(paused).findings] == ["COLLECTION_PAUSED"]


# -- several codes at once, and cross-field validation -------------------------------------------


def test_every_finding_is_reported(guard: ContactGuard) -> None:
    guard.flags.set_flag("debtor-1", "collection_paused", "plan", "lending", since=cn(0))
    body = third_party(at=cn(23), channel="sms", template_text="法院通知：张三欠款逾期")
    answer = check(guard, body)
    assert [c["code"] for c in answer["codes"]] == [
        "COLLECTION_PAUSED",
        "QUIET_HOURS",
        "THIRD_PARTY_NOT_ALLOWED",
        "THIRD_PARTY_DISCLOSURE",
        "IMPERSONATION_RISK",
    ]
    assert answer["review"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (collection(target="third_party"), "third_party"),
        (collection(third_party={"id": "x", "relation": "unrelated"}), "third_party"),
        (marketing(target="third_party", third_party={"id": "x", "relation": "unrelated"}),
         "target"),
        ({**collection(), "debt": None}, "debt"),
        (collection(channel="sms"), "template_text"),
        (collection(debtor_consent={"window_start": cn(23), "window_end": cn(22)}),
         "debtor_consent.window_end"),
        (collection(jurisdiction="FR"), "jurisdiction"),
        (us_collection(at=datetime(2020, 1, 6, 10, tzinfo=NEW_YORK)), "at"),
    ],
)  # fmt: skip
def test_invalid_requests_name_the_field(
    guard: ContactGuard, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        guard.check(ContactRequest.model_validate(body))
    assert field in [e.field for e in caught.value.errors]


# -- logging details -----------------------------------------------------------------------------


def test_inbound_contacts_are_recorded_never_checked(guard: ContactGuard) -> None:
    # The debtor calls back at 23:00: not an attempt, so not refused, and not counted.
    logged = log(guard, collection(at=cn(23)), "conversation", direction="inbound")
    assert logged["direction"] == "inbound"
    for minute in range(6):
        log(guard, collection(at=cn(9, minute, day=1)), "unanswered")
    assert codes(guard, collection(at=cn(10, day=1))) == ["FREQ_CAP_DAILY"]


def test_an_attempt_id_belongs_to_one_debtor(guard: ContactGuard) -> None:
    log(guard, collection(), "unanswered", attempt_id="same")
    with pytest.raises(Conflict):
        log(guard, collection(debtor_id="debtor-2"), "unanswered", attempt_id="same")


def test_a_refused_log_writes_nothing(guard: ContactGuard) -> None:
    refused(guard, collection(at=cn(23)), "unanswered")
    with guard.db.connect() as conn:
        assert conn.execute(select(ContactAttempt.id)).all() == []
        # The lock row's bump was rolled back with it.
        assert conn.execute(text("SELECT count(*) FROM contact_debtors")).scalar() == 0


def test_refused_by_third_party_needs_a_third_party(guard: ContactGuard) -> None:
    with pytest.raises(ValidationFailed) as caught:
        log(guard, collection(), "refused_by_third_party")
    assert [e.field for e in caught.value.errors] == ["result"]
