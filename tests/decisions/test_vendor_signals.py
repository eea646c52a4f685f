"""The lender's vendor results on the event's session (issue #19 item 5): payee name check,
liveness and face match, voiceprint and the known-fraudster voice list, device risk, SIM swap.

Each is refused at the edge when out of range (a 422 naming the field, nothing kept), is a
feature the rule language knows (None when absent: no rule fires on it), drives a default rule
that fires on it and not without it, and a voice id joins the customers one voice speaks for in
the entity-link graph. An event without any of them is decided exactly as before.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from fixtures import MISSING, T0, Api, EngineRun, make_event, reason_codes, ruleset_from_rules
from lendguard.decisions.deciding import _graph_lock_keys
from lendguard.decisions.engine import EngineResult
from lendguard.decisions.features.compute import (
    FEATURE_NAMES,
    FeatureContext,
    compute,
    entity_keys,
    feature_cost,
)
from lendguard.decisions.features.state import EntityState, StateBundle
from lendguard.decisions.rules.loader import Action, Measure, RuleSetError, parse_ruleset
from lendguard.decisions.service import default_ruleset_text
from lendguard.errors import ValidationFailed
from lendguard.events.parse import parse_event
from lendguard.events.readers import read_events
from lendguard.events.schemas import BIOMETRIC_SESSION_FIELDS, Event
from lendguard.graph.index import HUB_CAP, LinkIndex
from lendguard.kit.crypto import pseudonymise
from lendguard.models.decision import EventRecord
from lendguard.privacy.datamap import declarations
from lendguard.simulate.generator import generate

LARGE = "6000"  # above the default rule set's large_amount (5000)
VENDOR_FEATURES = (
    "payee_name_check",
    "liveness_passed",
    "liveness_score",
    "face_match_score",
    "voiceprint_match_score",
    "known_fraudster_voice",
    "device_risk_score",
    "sim_swap_minutes",
)
VENDOR_RULES = frozenset(
    {
        "payee-name-mismatch",
        "failed-biometrics-on-change",
        "known-fraudster-voice",
        "sim-swap-recent",
    }
)
FULL_SESSION: dict[str, Any] = {
    "call_active": False,
    "payee_name_check": "close_match",
    "liveness_passed": True,
    "liveness_score": 0.97,
    "face_match_score": "0.91",
    "voiceprint_match_score": 0.88,
    "known_fraudster_voice": False,
    "voice_id": "vv-7f3a9c",
    "device_risk_score": 0.12,
    "sim_swap_at": (T0 - timedelta(days=200)).isoformat(),
}


def outflow(amount: str = LARGE, payee_id: str = "payee-new", **session: Any) -> dict[str, Any]:
    return make_event(amount=amount, payee_id=payee_id, session=session)


def change(kind: str = "profile_change", **session: Any) -> dict[str, Any]:
    extra = {"changed": "password"} if kind == "profile_change" else {}
    return make_event(
        type=kind, amount=MISSING, currency=MISSING, payee_id=MISSING, session=session, **extra
    )


def login(**session: Any) -> dict[str, Any]:
    return make_event(type="login", amount=MISSING, currency=MISSING, payee_id=MISSING, **session)


def swapped(before: timedelta) -> str:
    return (T0 - before).isoformat()


# -- the edge ------------------------------------------------------------------------------------

BAD_SESSIONS: list[tuple[dict[str, Any], str]] = [
    ({"payee_name_check": "nomatch"}, "session.payee_name_check"),
    ({"payee_name_check": "NO_MATCH"}, "session.payee_name_check"),
    ({"payee_name_check": True}, "session.payee_name_check"),
    ({"liveness_passed": "perhaps"}, "session.liveness_passed"),
    ({"liveness_score": 1.01}, "session.liveness_score"),
    ({"liveness_score": -0.01}, "session.liveness_score"),
    ({"face_match_score": "NaN"}, "session.face_match_score"),
    ({"face_match_score": True}, "session.face_match_score"),
    ({"face_match_score": "1e999"}, "session.face_match_score"),
    ({"voiceprint_match_score": "high"}, "session.voiceprint_match_score"),
    ({"voiceprint_match_score": [0.5]}, "session.voiceprint_match_score"),
    ({"known_fraudster_voice": "yes please"}, "session.known_fraudster_voice"),
    ({"voice_id": ""}, "session.voice_id"),
    ({"voice_id": "v\x00id"}, "session.voice_id"),
    ({"voice_id": "v\x1bid"}, "session.voice_id"),
    ({"voice_id": "v" * 129}, "session.voice_id"),
    ({"voice_id": 77}, "session.voice_id"),
    ({"device_risk_score": 2}, "session.device_risk_score"),
    ({"sim_swap_at": "2025-03-01T10:00:00"}, "session.sim_swap_at"),
    ({"sim_swap_at": "1969-12-31T00:00:00+00:00"}, "session.sim_swap_at"),
    ({"sim_swap_at": "2100-01-01T00:00:01+00:00"}, "session.sim_swap_at"),
    ({"sim_swap_at": "last tuesday"}, "session.sim_swap_at"),
    # after the event, beyond a day's allowance for the two clocks
    ({"sim_swap_at": (T0 + timedelta(days=1, minutes=1)).isoformat()}, "session.sim_swap_at"),
    # no field can carry a biometric template
    ({"face_template": "AAECAw=="}, "session.face_template"),
    ({"voiceprint": [0.1, 0.2]}, "session.voiceprint"),
]


class TestEdge:
    @pytest.mark.parametrize(("session", "field"), BAD_SESSIONS)
    def test_each_bad_value_is_refused_naming_its_field(
        self, session: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(ValidationFailed) as refused:
            parse_event(make_event(session=session))
        assert [e.field for e in refused.value.errors] == [field]

    def test_over_http_each_is_a_422_naming_the_field_and_nothing_is_kept(
        self, app_client: Api
    ) -> None:
        for session, field in BAD_SESSIONS:
            response = app_client.post_event(make_event(customer_id="c-edge", session=session))
            assert response.status_code == 422, (session, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in response.json()["errors"]] == [field], session
        assert app_client.written() == (0, 0)
        assert "c:c-edge" not in app_client.states()

    def test_every_vendor_field_is_optional_and_kept_the_voice_id_as_its_keyed_hash(
        self, app_client: Api
    ) -> None:
        event = parse_event(make_event(session=FULL_SESSION))
        session = event.session
        assert session.payee_name_check == "close_match"
        assert session.face_match_score == 0.91
        assert session.sim_swap_at is not None
        assert session.sim_swap_at < event.occurred_at
        decided = app_client.decide(make_event(event_id="e-full", session=FULL_SESSION))
        assert decided["action"] == "allow"
        with app_client.services.decisions.db.connect() as conn:
            stored = conn.execute(
                select(EventRecord.body).where(EventRecord.event_id == "e-full")
            ).scalar_one()["session"]
        # The speaker id is biometric-derived: only its keyed hash is kept, never the id.
        assert stored["voice_id"] == pseudonymise(
            "vv-7f3a9c", app_client.services.decisions.pii_key
        )
        assert "vv-7f3a9c" not in str(stored)
        assert stored["face_match_score"] == 0.91
        assert stored["sim_swap_at"].startswith("2024-")

    def test_an_event_without_vendor_results_stores_the_same_body_as_before(self) -> None:
        event = Event.model_validate(make_event(session={"call_active": True}))
        assert event.model_dump(mode="json", exclude_none=True)["session"] == {
            "call_active": True,
            "screen_share_active": False,
            "remote_control_app": False,
            "screen_recording_active": False,
        }
        for name in VENDOR_FEATURES[:-1]:
            assert getattr(event.session, name) is None
        assert event.session.sim_swap_at is None

    def test_a_swap_within_the_clock_allowance_after_the_event_is_just_now(self) -> None:
        later = (T0 + timedelta(hours=3)).isoformat()
        values = EngineRun().features(make_event(session={"sim_swap_at": later}), VENDOR_FEATURES)
        assert values["sim_swap_minutes"] == 0.0

    def test_biometric_fields_are_those_the_data_map_declares_sensitive(self) -> None:
        found = {d.id: d for d in declarations()}["biometric_results"]
        assert found.sensitive is True
        assert found.necessary is False
        assert found.purpose_key == "sensitive"
        assert found.event_fields == [f"session.{name}" for name in BIOMETRIC_SESSION_FIELDS]

    def test_csv_rows_keep_scores_as_numbers_and_ids_as_text(self, tmp_path: Path) -> None:
        """A score of 1 or 0 is a number (the session's flags read 1/0 as true/false), and a
        voice id of digits keeps its leading zeros."""
        path = tmp_path / "events.csv"
        path.write_text(
            "event_id,type,occurred_at,customer_id,session.call_active,session.liveness_score,"
            "session.face_match_score,session.voice_id,session.known_fraudster_voice,"
            "session.sim_swap_at\n"
            "e1,login,2025-03-03T14:00:00+08:00,c1,1,1,0,0012345,false,"
            "2025-03-01T10:00:00+08:00\n",
            encoding="utf-8",
        )
        events, bad = read_events(path)
        assert bad == []
        [(event, raw)] = events
        assert raw["session"]["voice_id"] == "0012345"
        session = event.session
        assert session.call_active is True
        assert (session.liveness_score, session.face_match_score) == (1.0, 0.0)
        assert session.known_fraudster_voice is False
        assert session.sim_swap_at is not None
        assert session.sim_swap_at.day == 1


# -- features ------------------------------------------------------------------------------------


class TestFeatures:
    def test_each_value_is_read_from_the_session(self) -> None:
        session = {**FULL_SESSION, "sim_swap_at": swapped(timedelta(minutes=90))}
        values = EngineRun().features(make_event(session=session), VENDOR_FEATURES)
        assert values == {
            "payee_name_check": "close_match",
            "liveness_passed": True,
            "liveness_score": 0.97,
            "face_match_score": 0.91,
            "voiceprint_match_score": 0.88,
            "known_fraudster_voice": False,
            "device_risk_score": 0.12,
            "sim_swap_minutes": 90.0,
        }

    @pytest.mark.parametrize("check", ["match", "close_match", "no_match", "unavailable"])
    def test_every_payee_name_check_result(self, check: str) -> None:
        values = EngineRun().features(outflow(payee_name_check=check), ["payee_name_check"])
        assert values == {"payee_name_check": check}

    def test_absent_means_unknown(self) -> None:
        values = EngineRun().features(make_event(), VENDOR_FEATURES)
        assert values == dict.fromkeys(VENDOR_FEATURES)

    def test_they_are_free_to_read_and_known_to_the_registry(self) -> None:
        assert set(VENDOR_FEATURES) <= FEATURE_NAMES
        assert {feature_cost(name) for name in VENDOR_FEATURES} == {0}


class TestLoader:
    def test_rules_on_the_vendor_features_are_accepted(self) -> None:
        ruleset = ruleset_from_rules(
            """\
  - id: weak-face
    category: fraud
    when: face_match_score < 0.5 or liveness_score < 0.5 or voiceprint_match_score < 0.4
    action: allow
    reason: WEAK_FACE
    weight: 10
  - id: risky-device
    category: fraud
    when: device_risk_score >= 0.9 and payee_name_check in ['no_match', 'close_match']
    action: allow
    reason: RISKY_DEVICE
    weight: 10
  - id: swapped
    category: fraud
    when: sim_swap_minutes <= 60 or known_fraudster_voice or liveness_passed == False
    action: allow
    reason: SWAPPED
    weight: 10
"""
        )
        assert {r.id for r in ruleset.rules} == {"weak-face", "risky-device", "swapped"}
        run = EngineRun(ruleset)
        assert reason_codes(run.decide(make_event(session={"face_match_score": 0.2}))) == {
            "WEAK_FACE"
        }
        assert reason_codes(run.decide(make_event(session={"liveness_passed": False}))) == {
            "SWAPPED"
        }
        # unknown (absent) values: no rule fires, "liveness_passed == False" included
        assert reason_codes(run.decide(make_event())) == set()

    def test_a_name_that_is_no_feature_is_still_refused(self) -> None:
        with pytest.raises(RuleSetError, match="face_match_scor"):
            ruleset_from_rules(
                """\
  - id: typo
    category: fraud
    when: face_match_scor < 0.5
    action: remind
    reason: TYPO
"""
            )


# -- the default rules ---------------------------------------------------------------------------


def decide(raw: dict[str, Any], history: list[dict[str, Any]] | None = None) -> EngineResult:
    run = EngineRun()
    for earlier in history or []:
        run.decide(earlier)
    return run.decide(raw)


class TestPayeeNameMismatch:
    def test_no_match_on_a_large_payment_to_a_new_payee_intercepts(self) -> None:
        result = decide(outflow(payee_name_check="no_match"))
        assert "PAYEE_NAME_MISMATCH" in reason_codes(result)
        assert result.action is Action.intercept
        assert Measure.DELAY in result.measures
        assert result.messages  # the customer is told why, in both languages

    @pytest.mark.parametrize("check", ["match", "close_match", "unavailable"])
    def test_any_other_result_does_not_fire(self, check: str) -> None:
        assert "PAYEE_NAME_MISMATCH" not in reason_codes(decide(outflow(payee_name_check=check)))

    def test_not_without_a_check(self) -> None:
        assert "PAYEE_NAME_MISMATCH" not in reason_codes(decide(outflow()))

    def test_not_on_a_small_amount(self) -> None:
        result = decide(outflow(amount="300", payee_name_check="no_match"))
        assert "PAYEE_NAME_MISMATCH" not in reason_codes(result)

    def test_not_to_a_payee_paid_before(self) -> None:
        earlier = make_event(occurred_at=T0 - timedelta(days=40), amount="200", payee_id="landlord")
        result = decide(outflow(payee_id="landlord", payee_name_check="no_match"), [earlier])
        assert "PAYEE_NAME_MISMATCH" not in reason_codes(result)


class TestFailedBiometricsOnChange:
    @pytest.mark.parametrize(
        ("kind", "session"),
        [
            ("profile_change", {"liveness_passed": False}),
            ("profile_change", {"face_match_score": 0.31}),
            ("device_change", {"liveness_score": 0.2}),
            ("device_change", {"liveness_passed": True, "face_match_score": 0.69}),
        ],
    )
    def test_a_failed_check_on_a_change_intercepts_with_reverification(
        self, kind: str, session: dict[str, Any]
    ) -> None:
        result = decide(change(kind, **session))
        assert "BIOMETRIC_CHECK_FAILED" in reason_codes(result)
        assert result.action is Action.intercept
        assert Measure.REVERIFY_ID in result.measures

    @pytest.mark.parametrize(
        "session",
        [
            {},
            {"liveness_passed": True, "liveness_score": 0.99, "face_match_score": 0.95},
            {"face_match_score": 0.7},
        ],
    )
    def test_passed_or_absent_checks_do_not_fire(self, session: dict[str, Any]) -> None:
        for kind in ("profile_change", "device_change"):
            assert "BIOMETRIC_CHECK_FAILED" not in reason_codes(decide(change(kind, **session)))

    def test_not_on_an_event_that_changes_nothing(self) -> None:
        result = decide(outflow(amount="100", liveness_passed=False, face_match_score=0.1))
        assert "BIOMETRIC_CHECK_FAILED" not in reason_codes(result)


class TestKnownFraudsterVoice:
    @pytest.mark.parametrize(
        "raw",
        [
            login(session={"known_fraudster_voice": True}),
            make_event(
                type="contact",
                amount=MISSING,
                currency=MISSING,
                payee_id=MISSING,
                session={"known_fraudster_voice": True, "voice_id": "vv-1"},
            ),
            outflow(amount="50", known_fraudster_voice=True),
            change("device_change", known_fraudster_voice=True),
        ],
    )
    def test_on_any_event_it_intercepts_and_restricts(self, raw: dict[str, Any]) -> None:
        result = decide(raw)
        assert "KNOWN_FRAUDSTER_VOICE" in reason_codes(result)
        assert result.action in (Action.intercept, Action.block)
        assert Measure.RESTRICT in result.measures

    @pytest.mark.parametrize("session", [{}, {"known_fraudster_voice": False}, {"voice_id": "v"}])
    def test_not_without_a_hit(self, session: dict[str, Any]) -> None:
        assert "KNOWN_FRAUDSTER_VOICE" not in reason_codes(decide(login(session=session)))


class TestSimSwap:
    @pytest.mark.parametrize(
        "raw",
        [
            outflow(amount="100", payee_id="payee-1", sim_swap_at=swapped(timedelta(hours=3))),
            change("device_change", sim_swap_at=swapped(timedelta(hours=23, minutes=59))),
            change("profile_change", sim_swap_at=swapped(timedelta(minutes=5))),
        ],
    )
    def test_a_swap_within_a_day_before_an_outflow_or_a_change_dissuades(
        self, raw: dict[str, Any]
    ) -> None:
        result = decide(raw)
        assert "SIM_SWAP_RECENT" in reason_codes(result)
        assert result.action in (Action.dissuade, Action.intercept, Action.block)
        assert Measure.REVERIFY_ID in result.measures

    @pytest.mark.parametrize(
        "raw",
        [
            outflow(amount="100", sim_swap_at=swapped(timedelta(hours=24, minutes=1))),
            outflow(amount="100"),
            login(session={"sim_swap_at": swapped(timedelta(hours=1))}),
            make_event(
                type="deposit",
                payee_id=MISSING,
                payer_id="employer",
                session={"sim_swap_at": swapped(timedelta(hours=1))},
            ),
        ],
    )
    def test_not_long_after_without_a_swap_or_on_other_events(self, raw: dict[str, Any]) -> None:
        assert "SIM_SWAP_RECENT" not in reason_codes(decide(raw))


class TestDecisionsWithoutVendorResultsAreUnchanged:
    def test_the_vendor_rules_never_fire_on_a_generated_population(self) -> None:
        """The default rule set with and without its vendor rules decides a simulated month's
        events (none carries a vendor result) identically: action, score, reasons, measures."""
        loaded = yaml.safe_load(default_ruleset_text())
        before = [r for r in loaded["rules"] if r["id"] not in VENDOR_RULES]
        assert len(before) == len(loaded["rules"]) - len(VENDOR_RULES)
        text = io.StringIO()
        yaml.safe_dump({**loaded, "rules": before}, text, allow_unicode=True, sort_keys=False)
        old, new = EngineRun(parse_ruleset(text.getvalue(), file="before.yaml")), EngineRun()
        population = generate(300, days=10, seed=3)
        assert len(population.events) > 1_000
        acted = 0
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
        assert acted > 0  # the comparison saw decisions that act, not only allows


# -- the entity-link graph -----------------------------------------------------------------------

DAY = 86_400.0
NOW = T0.timestamp()


def voice_event(customer: str, voice: str | None, minutes: float, **extra: Any) -> Event:
    session = {"voice_id": voice} if voice else {}
    return Event.model_validate(
        make_event(
            type="contact",
            customer_id=customer,
            occurred_at=T0 + timedelta(minutes=minutes),
            amount=MISSING,
            currency=MISSING,
            payee_id=MISSING,
            device_id=f"own-{customer}",
            ip=MISSING,
            session=session,
            **extra,
        )
    )


def ring_features(graph: LinkIndex, event: Event) -> dict[str, Any]:
    keys = entity_keys(event)
    bundle = StateBundle(keys, {key: EntityState() for key in keys.values()})
    ctx = FeatureContext(event, bundle, graph)
    return compute(ctx, ["ring_size", "shared_identifier_types", "ring_new_account_share"])


class TestVoiceLinks:
    def test_customers_one_voice_speaks_for_form_a_ring(self) -> None:
        graph = LinkIndex()
        for n in range(4):
            graph.add(f"g{n}", "registration", NOW - DAY, created_at=NOW - DAY)
            graph.add_event(voice_event(f"g{n}", "vv-gang", n))
        assert sorted(graph.group("g0")) == ["g0", "g1", "g2", "g3"]
        # a fifth identity on the same voice: the ring features count the event's own voice
        values = ring_features(graph, voice_event("g4", "vv-gang", 10))
        assert values["ring_size"] == 5
        assert values["shared_identifier_types"] == 1
        # the same identity on another voice is alone
        assert ring_features(graph, voice_event("g4", "vv-other", 10))["ring_size"] == 1

    def test_without_voices_the_same_customers_stay_apart(self) -> None:
        graph = LinkIndex()
        for n in range(4):
            graph.add_event(voice_event(f"g{n}", None, n))
        assert graph.groups() == []

    def test_a_voice_on_more_customers_than_the_hub_cap_joins_nobody(self) -> None:
        graph = LinkIndex(hub_cap=3)
        for n in range(5):
            graph.add_event(voice_event(f"h{n}", "vv-ivr-recording", n))
        assert graph.groups() == []
        assert HUB_CAP > 3

    def test_a_rebuild_from_stored_bodies_finds_the_same_ring(self) -> None:
        live, rebuilt = LinkIndex(), LinkIndex()
        for n in range(4):
            event = voice_event(f"g{n}", "vv-gang", n)
            live.add_event(event)
            rebuilt.add_raw(event.model_dump(mode="json", exclude_none=True))
        assert live.groups() == rebuilt.groups() == [["g0", "g1", "g2", "g3"]]
        assert live.entities == rebuilt.entities

    def test_shared_mode_locks_the_voice_like_the_other_strong_identifiers(self) -> None:
        keys = _graph_lock_keys(voice_event("g0", "vv-gang", 0))
        assert "l:voice:vv-gang" in keys
        assert "l:device:own-g0" in keys
        assert not any(
            k.startswith("l:voice:") for k in _graph_lock_keys(voice_event("g0", None, 0))
        )

    def test_a_ring_sharing_a_voice_is_intercepted_by_the_service(self, app_client: Api) -> None:
        """Pairs share a device; one voice speaks for all five new accounts. Only the voice
        makes them one ring, and the applicant shares two kinds of identifier (its pair's
        device and the voice)."""

        def gang(voice: str | None, prefix: str) -> dict[str, Any]:
            for n in range(5):
                session = {"voice_id": voice} if voice else {}
                app_client.decide(
                    make_event(
                        type="registration",
                        customer_id=f"{prefix}{n}",
                        occurred_at=T0 + timedelta(minutes=n),
                        amount=None,
                        currency=None,
                        payee_id=None,
                        ip=None,
                        device_id=f"{prefix}-pair-{n // 2}",
                        customer={"created_at": (T0 - timedelta(days=2)).isoformat()},
                        session=session,
                    )
                )
            return app_client.decide(
                make_event(
                    type="application",
                    customer_id=f"{prefix}3",
                    occurred_at=T0 + timedelta(minutes=30),
                    amount="5000.00",
                    payee_id=None,
                    ip=None,
                    device_id=f"{prefix}-pair-1",
                )
            )

        assert "RING_MEMBER" in reason_codes(gang("vv-gang", "v"))
        assert "RING_MEMBER" not in reason_codes(gang(None, "n"))
