"""Labels learned after the decision reach later events' label-derived features, live."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from fixtures import make_event
from lendguard.decisions.features.compute import FeatureContext, LazyFeatures, entity_keys
from lendguard.decisions.features.state import StateBundle
from lendguard.decisions.service import DecisionService
from lendguard.events.schemas import Event

# Outcomes here are read against "now": pinned for every test.
pytestmark = pytest.mark.usefixtures("pinned_clock")

T0 = datetime.fromisoformat("2026-03-01T10:00:00+08:00")
ServiceFactory = Callable[..., DecisionService]


def label_features(service: DecisionService, raw: dict[str, Any]) -> tuple[Any, Any]:
    """(payee_fraud_labels, customer_fraud_labels) the engine would see for this event now.

    The event is timed after the label was recorded (labels count from their known-at time).
    """
    event = Event.model_validate(raw)
    keys = entity_keys(event)
    bundle = StateBundle(keys, service.store.load(keys.values()))
    values = LazyFeatures(FeatureContext(event, bundle), {})
    return values["payee_fraud_labels"], values["customer_fraud_labels"]


def later(**overrides: Any) -> dict[str, Any]:
    # A day after the (pinned) moment the label became known.
    return make_event(occurred_at=datetime.now(T0.tzinfo) + timedelta(days=1), **overrides)


class TestRecordLabels:
    def test_fraud_label_reaches_the_payee_and_customer_of_later_events(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        fraud = make_event(occurred_at=T0, customer_id="victim", payee_id="mule-9")
        service.decide(Event.model_validate(fraud))
        assert label_features(service, later(customer_id="other", payee_id="mule-9")) == (0, 0)
        result = service.labels.record([{"event_id": fraud["event_id"], "label": 1}], "case-7")
        assert "label_id" in result[0]
        assert label_features(service, later(customer_id="other", payee_id="mule-9")) == (1, 0)
        assert label_features(service, later(customer_id="victim", payee_id="shop")) == (0, 1)

    def test_a_legit_label_changes_nothing(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        raw = make_event(occurred_at=T0, payee_id="landlord")
        service.decide(Event.model_validate(raw))
        service.labels.record([{"event_id": raw["event_id"], "label": 0}], "case-8")
        assert label_features(service, later(payee_id="landlord")) == (0, 0)

    def test_bad_items_are_reported_in_place_and_good_ones_kept(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        raw = make_event(occurred_at=T0, payee_id="mule-1")
        service.decide(Event.model_validate(raw))
        result = service.labels.record(
            [
                {"event_id": "nope", "label": 1},
                {"event_id": raw["event_id"], "label": 2},
                {"event_id": raw["event_id"], "label": 1},
            ],
            "case-9",
        )
        assert "unknown" in result[0]["error"]
        assert "label" in result[1]["error"]
        assert "label_id" in result[2]

    def test_a_corrected_label_clears_the_graphs_mark_live_and_after_a_restart(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        # Issue #22: the graph's fraud mark (ring_fraud_share) follows the latest label of each
        # event, in the live engine as in the training replay; another fraud event keeps it.
        first = service_factory(database_url, checkpoint_every=10_000)
        one = make_event(occurred_at=T0, customer_id="victim", payee_id="mule-3")
        two = make_event(occurred_at=T0 + timedelta(minutes=5), customer_id="victim")
        for raw in (one, two):
            first.decide(Event.model_validate(raw))
        first.labels.record([{"event_id": one["event_id"], "label": 1}], "case-2")
        first.labels.record([{"event_id": two["event_id"], "label": 1}], "case-2")
        assert "victim" in first.graph.fraud_customers
        first.labels.record([{"event_id": one["event_id"], "label": 0}], "case-2")
        assert "victim" in first.graph.fraud_customers  # the second event still holds a 1
        first.labels.record([{"event_id": two["event_id"], "label": 0}], "case-2")
        assert "victim" not in first.graph.fraud_customers
        # rebuilt from the log: the same
        second = service_factory(database_url, checkpoint_every=10_000)
        assert "victim" not in second.graph.fraud_customers

    def test_labels_survive_a_restart(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        first = service_factory(database_url, checkpoint_every=10_000)
        raw = make_event(occurred_at=T0, customer_id="victim", payee_id="mule-2")
        first.decide(Event.model_validate(raw))
        first.labels.record([{"event_id": raw["event_id"], "label": 1}], "case-1")
        # a crash: no checkpoint was written after the label
        second = service_factory(database_url, checkpoint_every=10_000)
        assert label_features(second, later(customer_id="x", payee_id="mule-2")) == (1, 0)


class TestLabelsEndpoint:
    def test_needs_the_labels_scope(self, app_client: Any) -> None:
        raw = make_event(occurred_at=T0)
        app_client.decide(raw)
        body = {"labels": [{"event_id": raw["event_id"], "label": 1}]}
        denied = app_client.client.post(
            "/v1/labels", json=body, headers=app_client.key("events:write")
        )
        assert denied.status_code == 403
        allowed = app_client.client.post(
            "/v1/labels", json=body, headers=app_client.key("labels:write")
        )
        assert allowed.status_code == 200
        assert "label_id" in allowed.json()["labels"][0]
        assert app_client.rows("labels") == 1

    def test_malformed_body_is_refused(self, app_client: Any) -> None:
        response = app_client.client.post("/v1/labels", json={"x": 1}, headers=app_client.admin)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "labels"

    @pytest.mark.parametrize(
        ("label", "field"),
        [
            pytest.param({"event_id": "e-1", "label": 2}, "labels.0.label", id="label-2"),
            pytest.param({"event_id": "e-1", "label": True}, "labels.0.label", id="boolean"),
            pytest.param({"event_id": "", "label": 1}, "labels.0.event_id", id="blank-id"),
            pytest.param({"label": 1}, "labels.0.event_id", id="no-id"),
            pytest.param({"event_id": "e-1", "label": 1, "why": "x"}, "labels.0.why", id="extra"),
        ],
    )
    def test_a_malformed_label_refuses_the_request_naming_it(
        self, app_client: Any, label: dict[str, Any], field: str
    ) -> None:
        raw = make_event(occurred_at=T0)
        app_client.decide(raw)
        good = {"event_id": raw["event_id"], "label": 1}
        response = app_client.client.post(
            "/v1/labels", json={"labels": [label, good]}, headers=app_client.admin
        )
        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]]
        assert app_client.rows("labels") == 0

    def test_an_unknown_event_is_reported_in_place_and_the_others_recorded(
        self, app_client: Any
    ) -> None:
        raw = make_event(occurred_at=T0)
        app_client.decide(raw)
        body = {
            "labels": [{"event_id": "nope", "label": 1}, {"event_id": raw["event_id"], "label": 0}]
        }
        response = app_client.client.post("/v1/labels", json=body, headers=app_client.admin)
        assert response.status_code == 200, response.text
        first, second = response.json()["labels"]
        assert first == {"index": 0, "error": "event_id: 'nope' is unknown"}
        assert set(second) == {"index", "event_id", "label_id"}
        assert app_client.rows("labels") == 1
