"""Policy: lists, suppressions, the ladder ("highest action wins") and the guardrails."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fixtures import (
    MISSING,
    T0,
    EngineRun,
    birth_date_for_age,
    make_event,
    r39_scam_events,
    reason_codes,
    ruleset_from_rules,
)
from lendguard.decisions.policy import ListsView, apply_guardrails, strongest
from lendguard.decisions.rules.loader import Action, Measure
from lendguard.events.schemas import Event

LADDER = """\
  - id: remind-rule
    category: fraud
    when: amount >= 100
    action: remind
    reason: R_REMIND
    weight: 5
    measures: [VERIFY]
    message: {zh-CN: "提醒", en: "reminder"}
  - id: intercept-rule
    category: fraud
    when: amount >= 1000
    action: intercept
    reason: R_INTERCEPT
    weight: 10
    measures: [DELAY]
    message: {zh-CN: "拦截", en: "held"}
  - id: dissuade-rule
    category: fraud
    when: amount >= 500
    action: dissuade
    reason: R_DISSUADE
    weight: 50
    measures: [REVERIFY_ID]
    message: {zh-CN: "劝阻", en: "stop"}
  - id: note-rule
    category: compliance
    when: amount >= 0
    action: allow
    reason: R_NOTE
    measures: [SUSPEND]
  - id: wellbeing-rule
    category: wellbeing
    when: amount >= 2000
    action: remind
    reason: R_WELLBEING
    message: {zh-CN: "量力而行", en: "borrow carefully"}
"""

SCREEN = """\
  - id: screen
    category: fraud
    when: screen_share_active
    action: dissuade
    reason: SCREEN
    measures: [DELAY]
    message: {zh-CN: "共享屏幕", en: "screen shared"}
"""

SCORED = """\
  - id: a
    category: fraud
    when: amount > 0
    action: remind
    reason: A
    weight: 40
    message: {zh-CN: "a", en: "a"}
  - id: b
    category: fraud
    when: amount > 100
    action: remind
    reason: B
    weight: 30
    message: {zh-CN: "b", en: "b"}
  - id: escalate
    category: fraud
    when: score >= 70
    action: intercept
    reason: ESCALATED
    message: {zh-CN: "e", en: "e"}
"""

REPAY_BLOCK = """\
  - id: block-repayments
    category: fraud
    when: type == 'repayment'
    action: block
    reason: ODD_REPAYMENT
    weight: 100
    measures: [VERIFY, DELAY, RESTRICT, SUSPEND]
    message: {zh-CN: "停止", en: "stop"}
"""


def _event(**overrides: Any) -> Event:
    return Event.model_validate(make_event(**overrides))


class TestLadder:
    @pytest.mark.parametrize(
        ("actions", "expected"),
        [
            ([], Action.allow),
            ([Action.allow], Action.allow),
            ([Action.remind, Action.allow], Action.remind),
            ([Action.remind, Action.intercept, Action.dissuade], Action.intercept),
            ([Action.block, Action.remind], Action.block),
        ],
    )
    def test_strongest(self, actions: list[Action], expected: Action) -> None:
        assert strongest(actions) is expected

    def test_ranks_follow_the_ladder(self) -> None:
        ranks = [
            a.rank
            for a in (Action.allow, Action.remind, Action.dissuade, Action.intercept, Action.block)
        ]
        assert ranks == sorted(ranks)
        assert len(set(ranks)) == 5

    @pytest.mark.parametrize(
        ("amount", "action", "codes"),
        [
            ("50", Action.allow, {"R_NOTE"}),
            ("100", Action.remind, {"R_REMIND", "R_NOTE"}),
            ("600", Action.dissuade, {"R_REMIND", "R_DISSUADE", "R_NOTE"}),
            ("1500", Action.intercept, {"R_REMIND", "R_DISSUADE", "R_INTERCEPT", "R_NOTE"}),
        ],
    )
    def test_highest_action_wins(self, amount: str, action: Action, codes: set[str]) -> None:
        result = EngineRun(ruleset_from_rules(LADDER)).decide(make_event(amount=amount))
        assert result.action is action
        assert reason_codes(result) == codes

    def test_measures_of_acting_rules_only_and_message_of_the_strongest(self) -> None:
        result = EngineRun(ruleset_from_rules(LADDER)).decide(make_event(amount="1500"))
        # the allow-rule's SUSPEND is not applied; the others are merged in ladder order
        assert result.measures == [Measure.VERIFY, Measure.REVERIFY_ID, Measure.DELAY]
        assert [r.code for r in result.reasons][:3] == ["R_INTERCEPT", "R_DISSUADE", "R_REMIND"]
        assert result.messages == [
            {"locale": "zh-CN", "text": "拦截"},
            {"locale": "en", "text": "held"},
        ]


class TestDenyList:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("customer", "cust-1"),
            ("device", "dev-1"),
            ("payee", "payee-1"),
            ("ip", "10.0.0.1"),
            ("card", "card-7"),
        ],
    )
    def test_deny_listed_value_is_blocked(self, field: str, value: str) -> None:
        lists = ListsView(deny={field: {value: None}})
        result = EngineRun(lists=lists).decide(make_event(card_id="card-7", amount="10"))
        assert result.action is Action.block
        assert result.measures == [Measure.SUSPEND]
        assert reason_codes(result) == {"DENY_LISTED"}
        assert result.reasons[0].values == {"list": field}
        assert {m["locale"] for m in result.messages} == {"zh-CN", "en"}

    @pytest.mark.parametrize(
        ("expires_in", "blocked"),
        [
            (None, True),
            (timedelta(seconds=1), True),
            (timedelta(0), False),
            (-timedelta(days=1), False),
        ],
    )
    def test_expiry(self, expires_in: timedelta | None, blocked: bool) -> None:
        expires = None if expires_in is None else (T0 + expires_in).timestamp()
        lists = ListsView(deny={"payee": {"payee-1": expires}})
        result = EngineRun(lists=lists).decide(make_event(amount="10"))
        assert (result.action is Action.block) is blocked

    def test_other_values_are_not_affected(self) -> None:
        lists = ListsView(deny={"payee": {"mule-9": None}})
        result = EngineRun(lists=lists).decide(make_event(amount="10"))
        assert result.action is Action.allow

    def test_deny_wins_over_allow(self) -> None:
        lists = ListsView(allow={"customer": {"cust-1": None}}, deny={"device": {"dev-1": None}})
        assert EngineRun(lists=lists).decide(make_event()).action is Action.block

    def test_a_repayment_by_a_deny_listed_customer_is_not_blocked(self) -> None:
        """The guardrail says a repayment is never held: that must hold for lists too."""
        lists = ListsView(deny={"customer": {"cust-1": None}})
        result = EngineRun(lists=lists).decide(
            make_event(type="repayment", amount="500", payee_id=MISSING)
        )
        assert result.action.rank <= Action.remind.rank
        assert not set(result.measures) & {Measure.DELAY, Measure.RESTRICT, Measure.SUSPEND}


class TestAllowList:
    def test_allow_listed_customer_skips_fraud_rules(self) -> None:
        lists = ListsView(allow={"customer": {"student-21": None}})
        result = EngineRun(lists=lists).decide_all(r39_scam_events())[-1]
        assert "ALLOW_LISTED" in reason_codes(result)
        assert [r.code for r in result.reasons if r.category == "fraud"] == ["ALLOW_LISTED"]
        assert Measure.DELAY not in result.measures
        assert result.action.rank <= Action.remind.rank

    def test_allow_listed_payee_skips_fraud_but_not_wellbeing_rules(self) -> None:
        lists = ListsView(allow={"payee": {"payee-1": None}})
        result = EngineRun(ruleset_from_rules(LADDER), lists).decide(make_event(amount="2500"))
        assert result.action is Action.remind
        assert reason_codes(result) == {"R_WELLBEING", "R_NOTE", "ALLOW_LISTED"}

    def test_expired_allow_entry_no_longer_skips(self) -> None:
        lists = ListsView(allow={"customer": {"student-21": (T0 - timedelta(hours=1)).timestamp()}})
        result = EngineRun(lists=lists).decide_all(r39_scam_events())[-1]
        assert result.action is Action.intercept


class TestSuppressions:
    @pytest.mark.parametrize(
        ("at", "customer", "suppressed"),
        [
            (T0 - timedelta(hours=1), "cust-1", True),
            (T0 - timedelta(seconds=1), "cust-1", True),
            (T0, "cust-1", False),
            (T0 + timedelta(days=1), "cust-1", False),
            (T0 - timedelta(hours=1), "cust-2", False),
        ],
    )
    def test_rule_suppressed_until_expiry_for_that_customer(
        self, at: Any, customer: str, suppressed: bool
    ) -> None:
        lists = ListsView(suppressions={("cust-1", "screen"): T0.timestamp()})
        result = EngineRun(ruleset_from_rules(SCREEN), lists).decide(
            make_event(occurred_at=at, customer_id=customer, session={"screen_share_active": True})
        )
        assert (result.action is Action.allow) is suppressed
        assert ("SCREEN" in reason_codes(result)) is not suppressed

    def test_suppression_names_one_rule_only(self) -> None:
        lists = ListsView(
            suppressions={("cust-1", "remind-rule"): (T0 + timedelta(days=1)).timestamp()}
        )
        result = EngineRun(ruleset_from_rules(LADDER), lists).decide(make_event(amount="600"))
        assert reason_codes(result) == {"R_DISSUADE", "R_NOTE"}
        assert result.action is Action.dissuade

    @pytest.mark.parametrize(
        ("suppressed_rule", "action", "codes"),
        [
            ("escalate", Action.remind, {"A", "B"}),
            ("b", Action.remind, {"A"}),
            ("other", Action.intercept, {"A", "B", "ESCALATED"}),
        ],
    )
    def test_suppression_and_the_score(
        self, suppressed_rule: str, action: Action, codes: set[str]
    ) -> None:
        """A suppressed rule neither acts nor adds its weight to the score."""
        until = (T0 + timedelta(days=1)).timestamp()
        lists = ListsView(suppressions={("cust-1", suppressed_rule): until})
        result = EngineRun(ruleset_from_rules(SCORED), lists).decide(make_event(amount="500"))
        assert (result.action, reason_codes(result)) == (action, codes)


class TestRepaymentGuardrail:
    def test_rule_says_block_but_a_repayment_is_only_reminded(self) -> None:
        result = EngineRun(ruleset_from_rules(REPAY_BLOCK)).decide(
            make_event(type="repayment", amount="800", payee_id=MISSING)
        )
        assert result.action is Action.remind
        assert result.measures == [Measure.VERIFY]
        assert [g["code"] for g in result.guardrails] == ["REPAYMENT_NEVER_BLOCKED"]
        assert reason_codes(result) == {"ODD_REPAYMENT"}

    @pytest.mark.parametrize(
        ("action", "expected"),
        [
            (Action.allow, Action.allow),
            (Action.remind, Action.remind),
            (Action.dissuade, Action.remind),
            (Action.intercept, Action.remind),
            (Action.block, Action.remind),
        ],
    )
    def test_repayment_is_capped_at_remind(self, action: Action, expected: Action) -> None:
        got, measures, notes = apply_guardrails(
            _event(type="repayment", payee_id=MISSING),
            action,
            [Measure.VERIFY, Measure.DELAY, Measure.SUSPEND],
            vulnerable=False,
        )
        assert got is expected
        if action.rank > Action.remind.rank:
            assert measures == [Measure.VERIFY]
            assert [n.code for n in notes] == ["REPAYMENT_NEVER_BLOCKED"]
        else:
            assert notes == []

    @pytest.mark.parametrize("kind", ["transfer", "withdrawal", "disbursement", "application"])
    def test_other_types_are_not_capped(self, kind: str) -> None:
        got, measures, notes = apply_guardrails(
            _event(type=kind), Action.block, [Measure.SUSPEND], vulnerable=False
        )
        assert (got, measures, notes) == (Action.block, [Measure.SUSPEND], [])


class TestVulnerableCallback:
    @pytest.mark.parametrize(
        ("action", "vulnerable", "callback"),
        [
            (Action.dissuade, True, True),
            (Action.dissuade, False, False),
            (Action.remind, True, False),
            (Action.allow, True, False),
        ],
    )
    def test_callback_added_to_dissuasion_of_vulnerable(
        self, action: Action, vulnerable: bool, callback: bool
    ) -> None:
        _, measures, notes = apply_guardrails(_event(), action, [Measure.DELAY], vulnerable)
        assert (Measure.CALLBACK in measures) is callback
        assert ([n.code for n in notes] == ["VULNERABLE_HUMAN_CALLBACK"]) is callback

    def test_callback_not_added_twice(self) -> None:
        _, measures, notes = apply_guardrails(
            _event(), Action.dissuade, [Measure.CALLBACK], vulnerable=True
        )
        assert measures == [Measure.CALLBACK]
        assert notes == []

    @pytest.mark.parametrize(
        ("profile", "callback"),
        [
            ({"vulnerable": True, "birth_date": birth_date_for_age(30)}, True),
            ({"birth_date": birth_date_for_age(60)}, True),
            ({"birth_date": birth_date_for_age(59)}, False),
            ({}, False),
        ],
    )
    def test_through_the_engine(self, profile: dict[str, Any], callback: bool) -> None:
        run = EngineRun(ruleset_from_rules(SCREEN))
        result = run.decide(make_event(customer=profile, session={"screen_share_active": True}))
        assert result.action is Action.dissuade
        assert (Measure.CALLBACK in result.measures) is callback
