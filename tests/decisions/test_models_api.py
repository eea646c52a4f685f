"""The model registry over HTTP on both databases: register, list, activate, and decisions that
carry the live model's score, version and (at remind or more) its reasons.

The model is trained once per module on a small simulated history (``train_events``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from fixtures import T0, Api, make_event, r39_scam_events
from lendguard.app import create_app
from lendguard.config import Settings
from lendguard.decisions.features.compute import (
    FeatureContext,
    LazyFeatures,
    entity_keys,
    update_profile,
)
from lendguard.decisions.features.state import EntityState, StateBundle
from lendguard.decisions.scoring.events import MODEL_FEATURES, feature_row
from lendguard.decisions.scoring.model import ScoringModel
from lendguard.events.schemas import Event
from lendguard.simulate.generator import generate
from lendguard.training.events import train_events

PROBLEM = "application/problem+json"
MISSING_KEY: Any = object()

# Every event the model scores goes to remind or more: the reasons must then be attached.
MODEL_REMIND_RULES = """\
name: model-remind
rules:
  - id: model-any
    category: fraud
    when: model_score >= 0
    action: remind
    reason: MODEL_ANY
    weight: 10
    message:
      zh-CN: "请留意"
      en: "Please take care"
    explanation: {zh-CN: "请留意本次操作。", en: "Please take care with this action."}
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    population = generate(customers=150, days=10, seed=2, victim_rate=0.2, ring_members_rate=0.05)
    base = tmp_path_factory.mktemp("model-api")
    history = base / "events.jsonl"
    history.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in population.events))
    train_events(history, base / "model", progress=False, n_estimators=60)
    return base / "model"


@pytest.fixture(scope="module")
def upload(model_dir: Path) -> dict[str, Any]:
    booster, calibration, card = ScoringModel.load(model_dir).parts()
    return {"booster": booster, "calibration": calibration, "card": card}


def register(api: Api, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return api.client.post("/v1/models", json=body, headers=headers or api.admin)


def register_ok(api: Api, body: dict[str, Any]) -> int:
    response = register(api, body)
    assert response.status_code == 201, response.text
    version: int = response.json()["version"]
    return version


def activate_model(api: Api, version: int, headers: dict[str, str] | None = None) -> Any:
    return api.client.post(f"/v1/models/{version}/activate", headers=headers or api.approver)


def activate_rules(api: Api, source: str) -> int:
    created = api.client.post("/v1/rulesets", json={"source": source}, headers=api.admin)
    assert created.status_code == 201, created.text
    version: int = created.json()["version"]
    activated = api.client.post(f"/v1/rulesets/{version}/activate", headers=api.approver)
    assert activated.status_code == 200, activated.text
    return version


def assert_problem(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert [e for e in body["errors"] if e["field"] == field], body["errors"]
    assert all(e["message"] for e in body["errors"])
    return body


def assert_scored(decision: dict[str, Any], version: int) -> None:
    assert isinstance(decision["model_score"], float)
    assert 0.0 <= decision["model_score"] <= 1.0
    assert decision["model_version"] == str(version)


def assert_reasons(decision: dict[str, Any]) -> None:
    reasons = decision["model_reasons"]
    assert isinstance(reasons, list)
    assert len(reasons) <= 3
    contributions = [r["contribution"] for r in reasons]
    assert contributions == sorted(contributions, reverse=True)
    for reason in reasons:
        assert set(reason) == {"feature", "code", "text", "texts", "value", "contribution"}
        assert reason["feature"] in MODEL_FEATURES
        assert reason["code"].startswith("MODEL_")
        assert set(reason["texts"]) == {"zh-CN", "en"}
        assert all(reason["texts"].values())
        assert reason["text"] == reason["texts"]["en"]
        assert reason["value"] is None or isinstance(reason["value"], int | float)
        assert reason["contribution"] > 0


def scam_and_ordinary(customer: str) -> list[dict[str, Any]]:
    """The R39 scam (disbursement, then most of it to a new payee during screen sharing)
    and an ordinary small transfer."""
    return [*r39_scam_events(customer), make_event(customer_id=f"{customer}-x", amount="12.00")]


# -- registering -------------------------------------------------------------------------------


class TestRegister:
    def test_register_is_201_and_inactive(self, app_client: Api, upload: dict[str, Any]) -> None:
        response = register(app_client, upload)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["version"] == 1
        assert body["active"] is False
        assert body["kind"] == "events"
        assert body["features"] == len(MODEL_FEATURES)
        assert len(body["sha256"]) == 64

        listing = app_client.client.get("/v1/models", headers=app_client.admin)
        assert listing.status_code == 200
        data = listing.json()
        assert data["active_version"] is None
        assert [(m["version"], m["active"]) for m in data["models"]] == [(1, False)]
        (model,) = data["models"]
        assert "booster" not in model
        assert "calibration" not in model
        assert model["card"]["features"] == list(MODEL_FEATURES)
        assert model["created_by"]
        assert app_client.services.decisions.model is None

    def test_versions_count_up(self, app_client: Api, upload: dict[str, Any]) -> None:
        assert [register_ok(app_client, upload) for _ in range(3)] == [1, 2, 3]

    def test_registering_needs_rules_write(self, app_client: Api, upload: dict[str, Any]) -> None:
        for scope in ("events:write", "decisions:read", "rules:approve"):
            response = register(app_client, upload, app_client.key(scope))
            assert response.status_code == 403, (scope, response.text)
        assert register(app_client, upload, app_client.key("rules:write")).status_code == 201
        no_key = app_client.client.post("/v1/models", json=upload)
        assert no_key.status_code == 401
        listing = app_client.client.get("/v1/models", headers=app_client.key("events:write"))
        assert listing.status_code == 403

    def test_garbage_booster(self, app_client: Api, upload: dict[str, Any]) -> None:
        body = assert_problem(
            register(app_client, {**upload, "booster": "not a model"}), 422, "model"
        )
        assert "LightGBM" in body["errors"][0]["message"]
        assert app_client.rows("model_versions") == 0

    def test_card_without_features(self, app_client: Api, upload: dict[str, Any]) -> None:
        card = {k: v for k, v in upload["card"].items() if k != "features"}
        body = assert_problem(register(app_client, {**upload, "card": card}), 422, "model")
        assert "features" in body["errors"][0]["message"]
        assert app_client.rows("model_versions") == 0

    def test_card_with_an_unknown_feature(self, app_client: Api, upload: dict[str, Any]) -> None:
        features = list(upload["card"]["features"])
        features[3] = "favourite_colour"
        card = {**upload["card"], "features": features}
        body = assert_problem(register(app_client, {**upload, "card": card}), 422, "card.features")
        assert "favourite_colour" in body["errors"][0]["message"]
        assert app_client.rows("model_versions") == 0

    def test_card_with_fewer_features_than_the_booster(
        self, app_client: Api, upload: dict[str, Any]
    ) -> None:
        card = {**upload["card"], "features": upload["card"]["features"][:-1]}
        assert_problem(register(app_client, {**upload, "card": card}), 422, "model")

    def test_bad_calibration(self, app_client: Api, upload: dict[str, Any]) -> None:
        calibration = {"kind": "isotonic", "x": [], "y": []}
        response = register(app_client, {**upload, "calibration": calibration})
        assert_problem(response, 422, "model")
        response = register(app_client, {**upload, "calibration": {"kind": "platt"}})
        assert_problem(response, 422, "model")

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"booster": MISSING_KEY}, "booster"),
            ({"booster": ""}, "booster"),
            ({"calibration": "platt"}, "calibration"),
            ({"card": MISSING_KEY}, "card"),
        ],
    )
    def test_malformed_upload(
        self, app_client: Api, upload: dict[str, Any], change: dict[str, Any], field: str
    ) -> None:
        body = {**upload, **change}
        body = {k: v for k, v in body.items() if v is not MISSING_KEY}
        response = register(app_client, body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(field in f for f in fields), fields

    def test_not_json(self, app_client: Api) -> None:
        response = app_client.client.post(
            "/v1/models",
            content=b"{nope",
            headers={**app_client.admin, "content-type": "application/json"},
        )
        assert response.status_code in (400, 422)
        assert response.headers["content-type"] == PROBLEM


# -- activating and serving --------------------------------------------------------------------


class TestServing:
    def test_before_activation_no_score(self, app_client: Api, upload: dict[str, Any]) -> None:
        register_ok(app_client, upload)
        decision = app_client.decide(make_event())
        assert decision["model_score"] is None
        assert decision["model_version"] is None
        assert decision["model_reasons"] is None

    def test_the_registrant_cannot_approve_their_own_model(
        self, app_client: Api, upload: dict[str, Any]
    ) -> None:
        maker = app_client.key("rules:write", "rules:approve")
        version = register(app_client, upload, maker).json()["version"]
        refused = activate_model(app_client, version, maker)
        assert refused.status_code == 403, refused.text
        assert "uploaded by" in refused.json()["detail"]
        assert app_client.services.decisions.model is None
        assert app_client.rows("model_activations") == 0
        assert activate_model(app_client, version).status_code == 200
        assert app_client.services.decisions.model is not None

    def test_activation_needs_rules_approve(self, app_client: Api, upload: dict[str, Any]) -> None:
        version = register_ok(app_client, upload)
        refused = activate_model(app_client, version, app_client.key("rules:write"))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert app_client.services.decisions.model is None
        assert app_client.decide(make_event())["model_score"] is None

        accepted = activate_model(app_client, version, app_client.key("rules:approve"))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"version": version, "active": True}
        listing = app_client.client.get("/v1/models", headers=app_client.admin).json()
        assert listing["active_version"] == version
        assert [m["active"] for m in listing["models"]] == [True]

    def test_decisions_carry_score_and_version(
        self, app_client: Api, upload: dict[str, Any]
    ) -> None:
        version = register_ok(app_client, upload)
        assert activate_model(app_client, version).status_code == 200
        decisions = [app_client.decide(e) for e in scam_and_ordinary("stu")]
        # the default rules stop the scam transfer and let the small transfer through
        assert decisions[1]["action"] not in ("allow", "remind")
        assert decisions[2]["action"] == "allow"
        for decision in decisions:
            assert_scored(decision, version)
            if decision["action"] == "allow":
                assert decision["model_reasons"] is None
            else:
                assert_reasons(decision)
        # read back from the database, the same fields
        stored = app_client.client.get(
            f"/v1/decisions/{decisions[-1]['decision_id']}", headers=app_client.admin
        ).json()
        assert stored["model_score"] == decisions[-1]["model_score"]
        assert stored["model_version"] == str(version)

    def test_score_matches_the_model_on_the_same_row(
        self, app_client: Api, upload: dict[str, Any], model_dir: Path
    ) -> None:
        """The served score is the saved model's probability for the event's feature row."""
        version = register_ok(app_client, upload)
        activate_model(app_client, version)
        event = make_event(amount="250.00")
        decision = app_client.decide(event)
        parsed = Event.model_validate(event)
        keys = entity_keys(parsed)
        bundle = StateBundle(keys, {k: EntityState() for k in keys.values()})
        update_profile(bundle.customer, parsed, parsed.occurred_at.timestamp())
        row = feature_row(LazyFeatures(FeatureContext(parsed, bundle), {}), list(MODEL_FEATURES))
        expected = float(ScoringModel.load(model_dir).predict_proba(row.reshape(1, -1))[0])
        assert decision["model_score"] == pytest.approx(round(expected, 6), abs=1e-6)
        assert not np.isnan(expected)

    def test_remind_or_more_carries_reasons(self, app_client: Api, upload: dict[str, Any]) -> None:
        version = register_ok(app_client, upload)
        activate_model(app_client, version)
        activate_rules(app_client, MODEL_REMIND_RULES)
        decisions = [app_client.decide(e) for e in scam_and_ordinary("stu")]
        for decision in decisions:
            assert decision["action"] == "remind"
            assert_scored(decision, version)
            assert_reasons(decision)
        # the model finds something to say about the scam
        assert any(decision["model_reasons"] for decision in decisions)
        stored = app_client.client.get(
            f"/v1/decisions/{decisions[1]['decision_id']}", headers=app_client.admin
        ).json()
        assert stored["model_reasons"] == decisions[1]["model_reasons"]

    def test_rule_on_model_score_without_a_model(self, app_client: Api) -> None:
        """No live model: model_score is None, the rule does not fire, no reasons."""
        activate_rules(app_client, MODEL_REMIND_RULES)
        decision = app_client.decide(make_event())
        assert decision["action"] == "allow"
        assert decision["model_score"] is None
        assert decision["model_reasons"] is None

    def test_activate_unknown_version_404(self, app_client: Api, upload: dict[str, Any]) -> None:
        response = activate_model(app_client, 99)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        version = register_ok(app_client, upload)
        activate_model(app_client, version)
        assert activate_model(app_client, 99).status_code == 404
        # the live model is unchanged
        assert app_client.services.decisions.model is not None
        assert app_client.services.decisions.model[0] == version

    def test_switching_versions(self, app_client: Api, upload: dict[str, Any]) -> None:
        first = register_ok(app_client, upload)
        second = register_ok(app_client, upload)
        activate_model(app_client, second)
        assert app_client.decide(make_event())["model_version"] == str(second)
        activate_model(app_client, first)
        assert app_client.decide(make_event())["model_version"] == str(first)
        listing = app_client.client.get("/v1/models", headers=app_client.admin).json()
        assert listing["active_version"] == first
        assert [(m["version"], m["active"]) for m in listing["models"]] == [
            (first, True),
            (second, False),
        ]

    def test_table_model_cannot_score_events(self, app_client: Api, upload: dict[str, Any]) -> None:
        card = {**upload["card"], "kind": "table"}
        version = register_ok(app_client, {**upload, "card": card})
        response = activate_model(app_client, version)
        assert_problem(response, 409, "version")
        assert app_client.services.decisions.model is None

    def test_active_model_survives_a_restart(
        self, app_client: Api, upload: dict[str, Any], database_url: str
    ) -> None:
        version = register_ok(app_client, upload)
        activate_model(app_client, version)
        before = app_client.decide(make_event(customer_id="before-restart"))
        assert_scored(before, version)

        app = create_app(Settings(_env_file=None, database_url=database_url, log_level="WARNING"))
        services = app.state.services
        try:
            with TestClient(app) as client:
                assert services.decisions.model is not None
                assert services.decisions.model[0] == version
                listing = client.get("/v1/models", headers=app_client.admin).json()
                assert listing["active_version"] == version
                response = client.post(
                    "/v1/events",
                    json=make_event(customer_id="after-restart", occurred_at=T0),
                    headers=app_client.admin,
                )
                assert response.status_code == 200, response.text
                assert_scored(response.json(), version)
        finally:
            services.close()
            services.decisions.db.dispose()


class TestLiveStability:
    def test_a_drifting_live_score_raises_an_alert_and_a_case(
        self, app_client: Api, upload: dict[str, Any]
    ) -> None:
        assert "score" in upload["card"]["reference"]
        version = register_ok(app_client, upload)
        assert activate_model(app_client, version).status_code == 200
        # Live traffic unlike the training month: the same small transfer, over and over.
        for n in range(60):
            app_client.decide(make_event(customer_id=f"same-{n % 5}", amount="12.00"))
        report = app_client.client.get(
            f"/v1/models/{version}/stability?threshold=100", headers=app_client.admin
        ).json()
        assert report["decisions"] == 60
        (day,) = report["days"]
        assert day["rows"] == 60
        assert day["psi"]["score"] > 0.2  # one score value instead of the reference's spread
        assert report["alerts"] == []  # threshold 100: nothing passes it

        app_client.services.settings.psi_alert_threshold = 0.2
        checked = app_client.client.post(
            f"/v1/models/{version}/stability/check", headers=app_client.approver
        ).json()
        assert [a["column"] for a in checked["alerts"]] == ["score"]
        (case_id,) = checked["cases"]
        case = app_client.client.get(f"/v1/cases/{case_id}", headers=app_client.admin).json()
        assert (case["case_type"], case["customer_id"]) == ("model_drift", f"model:{version}")
        again = app_client.client.post(
            f"/v1/models/{version}/stability/check", headers=app_client.approver
        ).json()
        assert again["cases"] == [case_id]  # the open case collects the alert, no second case
        case = app_client.client.get(f"/v1/cases/{case_id}", headers=app_client.admin).json()
        assert [a["kind"] for a in case["timeline"]] == ["opened", "alert"]

    def test_reading_stability_needs_a_model_with_a_reference(self, app_client: Api) -> None:
        missing = app_client.client.get("/v1/models/99/stability", headers=app_client.admin)
        assert missing.status_code == 404


class TestConsoleModelApproval:
    def test_a_second_approver_makes_a_model_live_in_the_console(
        self, case_app: Api, upload: dict[str, Any]
    ) -> None:
        from fixtures import sign_in

        maker = sign_in(case_app.app, case_app.services, "approver")
        version = maker.post("/v1/models", json=upload).json()["version"]
        own = maker.get("/console/rules")
        assert "cannot approve their own" in own.text
        refused = maker.client.post(f"/console/models/{version}/approve", data={"csrf": maker.csrf})
        assert refused.status_code == 403
        assert case_app.services.decisions.model is None
        checker = sign_in(case_app.app, case_app.services, "approver")
        page = checker.get("/console/rules")
        assert "approve-model" in page.text
        approved = checker.client.post(
            f"/console/models/{version}/approve",
            data={"csrf": checker.csrf},
            follow_redirects=False,
        )
        assert approved.status_code == 303
        assert case_app.services.decisions.model is not None
        assert case_app.services.decisions.model[0] == version
