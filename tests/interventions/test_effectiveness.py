"""Interventions' effectiveness: the pure summary over rows built here, and the report over HTTP
on rows written straight into the tables (decisions, cases and holds, challenges, labels)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from fixtures import Api
from lendguard.interventions.effectiveness import InterventionRow, summarise, typology
from lendguard.models import Case, CaseDecision, LabelRecord
from lendguard.models.decision import DecisionRecord
from lendguard.models.interventions import ChallengeResponse

AT = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
CALL = {"code": "CALL", "action": "dissuade", "weight": 40, "category": "fraud"}
NEW_PAYEE = {"code": "NEW_PAYEE", "action": "remind", "weight": 60, "category": "fraud"}
SUMMARY = {"code": "HIGH_COMBINED_RISK", "action": "intercept", "weight": 90}


def row(decision_id: str, action: str, **kwargs: Any) -> InterventionRow:
    return InterventionRow(decision_id=decision_id, action=action, decided_at=AT, **kwargs)


def ended(minutes: int) -> datetime:
    return AT + timedelta(minutes=minutes)


ROWS = [
    # a scam stopped: the hold cancelled, the case resolved as a scam victim
    row(
        "d1",
        "intercept",
        scam_type="safe_account",
        case_state="resolved_scam_victim",
        hold_status="cancelled",
        hold_ended_at=ended(200),
    ),
    # two honest customers held 30 and 90 minutes
    row(
        "d2",
        "intercept",
        scam_type="safe_account",
        case_state="resolved_legit",
        hold_status="released",
        hold_ended_at=ended(90),
    ),
    row(
        "d3",
        "intercept",
        scam_type="safe_account",
        case_state="resolved_legit",
        hold_status="released",
        hold_ended_at=ended(30),
    ),
    # questions failed: the follow-up blocked the payment
    row(
        "d4",
        "dissuade",
        reasons=(SUMMARY, CALL, NEW_PAYEE),
        challenge_outcome="failed",
        follow_up_action="block",
    ),
    # questions passed: the customer went on
    row("d5", "dissuade", reasons=(CALL,), challenge_outcome="passed", follow_up_action="allow"),
    # no questions, a fraud label later
    row("d6", "dissuade", reasons=(CALL,), label=1),
    # a reminder with nothing known
    row("d7", "remind"),
]


class TestSummary:
    def test_typology_is_the_case_scam_type_else_the_strongest_reason(self) -> None:
        assert typology(ROWS[0]) == "safe_account"
        # the summary of the combined score is no typology; the reason that asked for the
        # decision's action wins over a heavier one that asked for less
        assert typology(ROWS[3]) == "CALL"
        assert typology(ROWS[6]) == "unknown"

    def test_figures_per_group_per_intervention_and_in_total(self) -> None:
        report = summarise(ROWS)
        groups = {
            (g["intervention"], g["with_questions"], g["typology"]): g for g in report["groups"]
        }
        assert list(groups) == [
            ("remind", False, "unknown"),
            ("dissuade", False, "CALL"),
            ("dissuade", True, "CALL"),
            ("intercept", False, "safe_account"),
        ]
        held = groups[("intercept", False, "safe_account")]
        assert held == {
            "intervention": "intercept",
            "with_questions": False,
            "typology": "safe_account",
            "shown": 3,
            "abandoned": 1,
            "confirmed_scam": 1,
            "honest_delayed": 2,
            "abandoned_rate": 0.3333,
            "confirmed_scam_rate": 0.3333,
            "median_honest_delay_minutes": 60.0,
        }
        questioned = groups[("dissuade", True, "CALL")]
        assert (questioned["shown"], questioned["abandoned"], questioned["confirmed_scam"]) == (
            2,
            1,
            0,
        )
        plain = groups[("dissuade", False, "CALL")]
        assert (plain["confirmed_scam"], plain["honest_delayed"]) == (1, 0)
        assert plain["median_honest_delay_minutes"] is None
        assert [(k["intervention"], k["with_questions"]) for k in report["by_intervention"]] == [
            ("remind", False),
            ("dissuade", False),
            ("dissuade", True),
            ("intercept", False),
        ]
        total = report["total"]
        assert (total["shown"], total["abandoned"], total["confirmed_scam"]) == (7, 2, 2)
        assert total["honest_delayed"] == 2

    def test_a_stop_by_the_answers_released_afterwards_is_not_abandoned(self) -> None:
        released = row(
            "d9",
            "dissuade",
            challenge_outcome="escalated",
            follow_up_action="intercept",
            case_state="resolved_legit",
            hold_status="released",
            hold_ended_at=ended(120),
        )
        total = summarise([released])["total"]
        assert (total["abandoned"], total["honest_delayed"]) == (0, 1)
        assert total["median_honest_delay_minutes"] == 120.0

    def test_a_fraud_label_overrides_a_release(self) -> None:
        released_then_fraud = row(
            "d8", "intercept", case_state="resolved_legit", hold_status="released", label=1
        )
        total = summarise([released_then_fraud])["total"]
        assert (total["confirmed_scam"], total["honest_delayed"]) == (1, 0)

    def test_nothing_shown_has_no_rates(self) -> None:
        report = summarise([])
        assert report["groups"] == []
        assert report["total"]["abandoned_rate"] is None


# -- over HTTP -------------------------------------------------------------------------------------


def decision(decision_id: str, action: str, decided_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "event_id": f"evt-{decision_id}",
        "customer_id": "cust-eff",
        "event_type": "transfer",
        "occurred_at": decided_at,
        "action": action,
        "score": 50,
        "reasons": extra.pop("reasons", [CALL]),
        "measures": [],
        "messages": [],
        "guardrails": [],
        "ruleset_version": 1,
        "latency_us": 100,
        "decided_at": decided_at,
        **extra,
    }


def challenge(decision_id: str, outcome: str, action: str, at: datetime) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "customer_id": "cust-eff",
        "challenge_id": "safe_account",
        "policy_version": "1",
        "locale": "en",
        "channel": "app",
        "questions": [],
        "answers": {},
        "outcome": outcome,
        "follow_up_decision_id": f"{decision_id}-follow",
        "follow_up_action": action,
        "follow_up_reasons": [],
        "follow_up_measures": [],
        "follow_up_messages": [],
        "answered_at": at,
        "actor": "key:app",
    }


def build_rows(api: Api) -> None:
    with api.services.decisions.db.begin() as conn:
        conn.execute(
            insert(DecisionRecord),
            [
                decision("e1", "intercept", AT),
                decision("e2", "intercept", AT + timedelta(hours=1)),
                decision("e3", "dissuade", AT + timedelta(hours=2)),
                decision("e3-follow", "block", AT + timedelta(hours=2, minutes=1)),
                decision("e4", "allow", AT + timedelta(hours=3)),
                decision("e5", "remind", AT - timedelta(days=40)),  # outside the range
                decision("e6", "dissuade", AT + timedelta(hours=4)),
            ],
        )
        cases = (
            ("case-1", "resolved_scam_victim"),
            ("case-2", "resolved_legit"),
            ("case-3", "resolved_legit"),
        )
        for case_id, state in cases:
            conn.execute(
                insert(Case).values(
                    id=case_id,
                    customer_id="cust-eff",
                    case_type="scam",
                    state=state,
                    scam_type="safe_account",
                    opened_at=AT,
                    updated_at=AT,
                    sla_due_at=AT + timedelta(hours=4),
                )
            )
        conn.execute(
            insert(CaseDecision),
            [
                {
                    "case_id": "case-1",
                    "decision_id": "e1",
                    "event_id": "evt-e1",
                    "action": "intercept",
                    "hold_status": "cancelled",
                    "added_at": AT,
                    "hold_ended_at": AT + timedelta(hours=5),
                },
                {
                    "case_id": "case-2",
                    "decision_id": "e2",
                    "event_id": "evt-e2",
                    "action": "intercept",
                    "hold_status": "released",
                    "added_at": AT + timedelta(hours=1),
                    "hold_ended_at": AT + timedelta(hours=1, minutes=45),
                },
                # the follow-up of e6's answers, held under a case by its own id, released
                {
                    "case_id": "case-3",
                    "decision_id": "e6-follow",
                    "event_id": "evt-e6",
                    "action": "intercept",
                    "hold_status": "released",
                    "added_at": AT + timedelta(hours=4, minutes=1),
                    "hold_ended_at": AT + timedelta(hours=6),
                },
            ],
        )
        conn.execute(
            insert(ChallengeResponse),
            [
                challenge("e3", "failed", "block", AT + timedelta(hours=2, minutes=1)),
                challenge("e6", "escalated", "intercept", AT + timedelta(hours=4, minutes=1)),
            ],
        )
        conn.execute(
            insert(LabelRecord).values(
                event_id="evt-e1", label=1, known_at=AT + timedelta(days=1), source="case"
            )
        )


RANGE = {"from": (AT - timedelta(days=1)).isoformat(), "to": (AT + timedelta(days=1)).isoformat()}


class TestReport:
    def test_the_report_over_the_tables(self, app_client: Api) -> None:
        build_rows(app_client)
        reader = app_client.key("decisions:read")
        response = app_client.client.get(
            "/v1/interventions/effectiveness", params=RANGE, headers=reader
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["from"].startswith("2025-03-02T06:00:00")
        groups = {
            (g["intervention"], g["with_questions"], g["typology"]): g for g in report["groups"]
        }
        # the follow-up block is the outcome of e3, not another intervention; allow and the
        # decision outside the range are not counted
        assert set(groups) == {
            ("dissuade", True, "CALL"),
            ("dissuade", True, "safe_account"),
            ("intercept", False, "safe_account"),
        }
        held = groups[("intercept", False, "safe_account")]
        assert (held["shown"], held["abandoned"], held["confirmed_scam"]) == (2, 1, 1)
        assert (held["honest_delayed"], held["median_honest_delay_minutes"]) == (1, 45.0)
        questioned = groups[("dissuade", True, "CALL")]
        assert (questioned["shown"], questioned["abandoned"]) == (1, 1)
        # e6: the answers held the money, the case released it two hours later as legitimate
        released = groups[("dissuade", True, "safe_account")]
        assert (released["shown"], released["abandoned"], released["honest_delayed"]) == (1, 0, 1)
        assert released["median_honest_delay_minutes"] == 120.0
        assert report["total"]["shown"] == 4

    def test_scope_and_range_are_checked(self, app_client: Api) -> None:
        path = "/v1/interventions/effectiveness"
        assert (
            app_client.client.get(path, headers=app_client.key("evidence:read")).status_code == 403
        )
        backwards = {"from": RANGE["to"], "to": RANGE["from"]}
        refused = app_client.client.get(path, params=backwards, headers=app_client.admin)
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["query.from"]
        too_long = {"from": "2020-01-01T00:00:00+00:00", "to": RANGE["to"]}
        assert (
            app_client.client.get(path, params=too_long, headers=app_client.admin).status_code
            == 422
        )

    @pytest.mark.parametrize("value", ["yesterday", "2025-03-03T06:00:00"])
    def test_a_bad_instant_is_422_naming_it(self, app_client: Api, value: str) -> None:
        response = app_client.client.get(
            "/v1/interventions/effectiveness",
            params={"from": value, "to": RANGE["to"]},
            headers=app_client.admin,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "query.from"
