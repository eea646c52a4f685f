"""The alliance's signal on an event (issue #20): ``session.alliance_hit``, the identifier kinds
another lender of the anti-fraud alliance has listed, and the default rule that holds an
application, drawdown or sign-up carrying a hit for manual review.

The field is validated at the edge (known kinds only, at most four, a kind named twice counts
once); the customer reads why in zh-CN and en, never a rule id; an event without the field is
decided exactly as before the rule existed.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml

from fixtures import MISSING, Api, EngineRun, make_event, reason_codes
from lendguard.decisions.engine import EngineResult
from lendguard.decisions.rules.lint import lint_ruleset, text_problems
from lendguard.decisions.rules.loader import Action, Measure, parse_ruleset
from lendguard.decisions.service import default_ruleset_text
from lendguard.errors import ValidationFailed
from lendguard.events.parse import parse_event
from lendguard.simulate.generator import generate

RULE_ID = "alliance-blacklist-hit"
REASON = "ALLIANCE_LISTED"
# What the customer is told, in both languages (the rule's message).
TOLD = {
    "zh-CN": "反欺诈联盟中的其他机构",
    "en": "listed by another lender in the anti-fraud alliance",
}


def credit_event(kind: str = "application", **session: Any) -> dict[str, Any]:
    """An application, a drawdown (disbursement) or a sign-up (registration) with ``session``."""
    if kind == "registration":
        return make_event(
            type=kind, amount=MISSING, currency=MISSING, payee_id=MISSING, session=session
        )
    return make_event(type=kind, amount="3000.00", payee_id=MISSING, session=session)


def decide(raw: dict[str, Any]) -> EngineResult:
    return EngineRun().decide(raw)


def messages(result: EngineResult | dict[str, Any]) -> dict[str, str]:
    found = result["messages"] if isinstance(result, dict) else result.messages
    return {m["locale"]: m["text"] for m in found}


# -- the edge ------------------------------------------------------------------------------------


class TestField:
    @pytest.mark.parametrize(
        ("sent", "kept"),
        [
            (["resident_id"], ["resident_id"]),
            (
                ["mobile", "card", "device_id", "resident_id"],
                ["mobile", "card", "device_id", "resident_id"],
            ),
            (["mobile", "mobile", "card"], ["mobile", "card"]),
            ([], []),
        ],
    )
    def test_known_kinds_are_kept_once_in_order(self, sent: list[str], kept: list[str]) -> None:
        assert parse_event(credit_event(alliance_hit=sent)).session.alliance_hit == kept

    def test_absent_is_none_not_empty(self) -> None:
        assert parse_event(credit_event()).session.alliance_hit is None

    @pytest.mark.parametrize(
        "bad",
        [
            ["passport"],
            ["Mobile"],
            ["mobile "],
            [""],
            [1],
            [True],
            [None],
            "mobile",
            {"mobile": True},
            True,
            ["mobile", "card", "device_id", "resident_id", "mobile"],
            [["mobile"]],
        ],
    )
    def test_a_bad_value_is_refused_naming_the_field(self, bad: Any) -> None:
        with pytest.raises(ValidationFailed) as refused:
            parse_event(credit_event(alliance_hit=bad))
        fields = {e.field for e in refused.value.errors}
        assert fields
        assert all(f.startswith("session.alliance_hit") for f in fields), fields

    def test_over_http_a_bad_value_is_a_422_naming_the_field_and_nothing_is_kept(
        self, app_client: Api
    ) -> None:
        before = app_client.written()
        response = app_client.post_event(credit_event(alliance_hit=["passport"]))
        assert response.status_code == 422, response.text
        assert "session.alliance_hit" in response.text
        assert app_client.written() == before


# -- the rule ------------------------------------------------------------------------------------


class TestRule:
    @pytest.mark.parametrize("kind", ["application", "disbursement", "registration"])
    @pytest.mark.parametrize("hit", [["resident_id"], ["mobile", "card"], ["device_id"]])
    def test_a_hit_on_credit_or_sign_up_intercepts_for_review(
        self, kind: str, hit: list[str]
    ) -> None:
        result = decide(credit_event(kind, alliance_hit=hit))
        assert REASON in reason_codes(result)
        assert result.action in (Action.intercept, Action.block)
        assert Measure.DELAY in result.measures
        told = messages(result)
        assert set(told) == {"zh-CN", "en"}
        assert TOLD["zh-CN"] in told["zh-CN"]
        assert TOLD["en"] in told["en"]
        for locale, text in told.items():
            assert RULE_ID not in text
            assert REASON not in text
            assert not text_problems(text, locale), (locale, text)

    @pytest.mark.parametrize("session", [{}, {"alliance_hit": []}, {"call_active": False}])
    def test_not_without_a_hit(self, session: dict[str, Any]) -> None:
        for kind in ("application", "disbursement", "registration"):
            assert REASON not in reason_codes(decide(credit_event(kind, **session)))

    @pytest.mark.parametrize("kind", ["transfer", "login", "repayment"])
    def test_not_on_other_events(self, kind: str) -> None:
        raw = make_event(type=kind, session={"alliance_hit": ["mobile"]})
        if kind == "login":
            raw = make_event(
                type=kind,
                amount=MISSING,
                currency=MISSING,
                payee_id=MISSING,
                session={"alliance_hit": ["mobile"]},
            )
        assert REASON not in reason_codes(decide(raw))

    def test_the_feature_counts_kinds_and_is_none_when_not_asked(self) -> None:
        run = EngineRun()
        name = ["alliance_hit_kinds"]
        assert run.features(credit_event(), name) == {"alliance_hit_kinds": None}
        assert run.features(credit_event(alliance_hit=[]), name) == {"alliance_hit_kinds": 0}
        both = credit_event(alliance_hit=["card", "card", "mobile"])
        assert run.features(both, name) == {"alliance_hit_kinds": 2}

    def test_over_http_the_customer_reads_why_in_both_languages(self, app_client: Api) -> None:
        decision = app_client.decide(credit_event(alliance_hit=["resident_id"]))
        assert REASON in reason_codes(decision)
        assert decision["action"] in ("intercept", "block")
        told = messages(decision)
        assert TOLD["zh-CN"] in told["zh-CN"]
        assert TOLD["en"] in told["en"]
        for locale in ("zh-CN", "en"):
            response = app_client.client.get(
                f"/v1/decisions/{decision['decision_id']}/explanation",
                params={"locale": locale},
                headers=app_client.admin,
            )
            assert response.status_code == 200, response.text
            text = response.json()["text"]
            assert TOLD[locale] in text
            assert RULE_ID not in text
            assert REASON not in text
            assert "alliance_hit" not in text

    def test_the_shipped_rule_set_lints_clean(self) -> None:
        assert lint_ruleset(parse_ruleset(default_ruleset_text(), file="default.yaml")) == []


class TestDecisionsWithoutTheFieldAreUnchanged:
    def test_a_generated_population_is_decided_as_without_the_rule(self) -> None:
        """The default rule set with and without the alliance rule decides a simulated month's
        events (none carries ``alliance_hit``) identically: action, score, reasons, measures,
        messages."""
        loaded = yaml.safe_load(default_ruleset_text())
        before = [r for r in loaded["rules"] if r["id"] != RULE_ID]
        assert len(before) == len(loaded["rules"]) - 1
        text = io.StringIO()
        yaml.safe_dump({**loaded, "rules": before}, text, allow_unicode=True, sort_keys=False)
        old, new = EngineRun(parse_ruleset(text.getvalue(), file="before.yaml")), EngineRun()
        population = generate(300, days=10, seed=5)
        assert len(population.events) > 1_000
        acted = credit = 0
        for raw in population.events:
            a, b = old.decide(raw), new.decide(raw)
            assert (a.action, a.score, a.measures, a.messages) == (
                b.action,
                b.score,
                b.measures,
                b.messages,
            )
            assert [(r.code, r.values) for r in a.reasons] == [
                (r.code, r.values) for r in b.reasons
            ]
            acted += a.action is not Action.allow
            credit += raw["type"] in ("application", "disbursement", "registration")
        assert acted > 0
        assert credit > 0
