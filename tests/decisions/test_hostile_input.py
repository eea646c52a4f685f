"""Hostile input is normal input: every bad value is a 4xx naming the field and leaves nothing
behind (no row, no window count, no graph link); an internal failure is a problem document with
a correlation id and a half-decided event or batch leaves no trace either. Both databases."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from fixtures import T0, Api, make_event, reason_codes
from lendguard.decisions import deciding as service_module
from lendguard.decisions.rules.language import MAX_EXPRESSION_DEPTH
from lendguard.logging import configure_logging

pytestmark = pytest.mark.usefixtures("pinned_clock")

LARGE = "6000"  # above the default rule set's large_amount (5000)


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def first_large(api: Api, customer: str, minutes: int = 10) -> bool:
    """Whether a large transfer of ``customer`` still counts as their first large outflow."""
    decided = api.decide(
        make_event(
            customer_id=customer,
            amount=LARGE,
            occurred_at=T0.replace(minute=minutes),
        )
    )
    return "FIRST_LARGE_TRANSFER" in reason_codes(decided)


def nothing_written(api: Api) -> bool:
    return api.rows("events") == 0 and api.rows("decisions") == 0


class TestInstantsAndAmounts:
    def test_an_event_time_beyond_the_range_is_refused_and_leaves_no_trace(
        self, app_client: Api
    ) -> None:
        """Was a 500 that still counted the event as history (FIRST_LARGE_TRANSFER lost)."""
        bad = make_event(customer_id="c-far", amount=LARGE, occurred_at="9999-12-31T23:59:59-05:00")
        response = app_client.post_event(bad)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert fields(response) == ["occurred_at"]
        assert nothing_written(app_client)
        assert first_large(app_client, "c-far")

    @pytest.mark.parametrize(
        ("customer", "field"),
        [
            ({"created_at": "0001-01-01T00:00:00+00:00"}, "customer.created_at"),
            ({"created_at": "2999-01-01T00:00:00+00:00"}, "customer.created_at"),
            ({"birth_date": "1899-12-31"}, "customer.birth_date"),
            ({"birth_date": "2990-01-01"}, "customer.birth_date"),
            (
                {"risk_assessment": {"level": "C3", "assessed_at": "1960-01-01T00:00:00Z"}},
                "customer.risk_assessment.assessed_at",
            ),
            ({"credit": {"as_of": "2100-01-01T00:00:01Z"}}, "customer.credit.as_of"),
        ],
    )
    def test_implausible_dates_name_their_field(
        self, app_client: Api, customer: dict[str, Any], field: str
    ) -> None:
        response = app_client.post_event(make_event(customer_id="c-date", customer=customer))
        assert response.status_code == 422, response.text
        assert fields(response) == [field]
        assert nothing_written(app_client)

    def test_a_refused_creation_date_never_breaks_the_graph_page(self, app_client: Api) -> None:
        """One accepted event with created_at in year 1 made the graph endpoint answer 500."""
        shared = {"device_id": "dev-shared"}
        app_client.post_event(
            make_event(customer_id="g-1", customer={"created_at": "0001-01-01T00:00:00Z"}, **shared)
        )
        app_client.decide(make_event(customer_id="g-2", **shared))
        graph = app_client.client.get("/v1/graph/customers/g-2", headers=app_client.admin)
        assert graph.status_code == 200, graph.text

    @pytest.mark.parametrize(
        ("amount", "field"),
        [
            ("NaN", "amount"),
            ("Infinity", "amount"),
            ("-1", "amount"),
            ("1000000000000.01", "amount"),
            ("1" + "0" * 30, "amount"),
        ],
    )
    def test_amounts_are_finite_and_bounded(self, app_client: Api, amount: str, field: str) -> None:
        response = app_client.post_event(make_event(amount=amount))
        assert response.status_code == 422
        assert fields(response) == [field]
        assert nothing_written(app_client)

    def test_the_largest_amount_is_accepted(self, app_client: Api) -> None:
        assert app_client.decide(make_event(amount="1000000000000"))["action"]


class TestStringsAndNesting:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"customer_id": "c\u0000nul"}, "customer_id"),
            ({"payee_id": "p\u0007"}, "payee_id"),
            ({"event_id": "e-\u001b[31m"}, "event_id"),
            ({"attributes": {"note": "a\u0000b"}}, "attributes.note"),
            ({"attributes": {"deep": {"list": ["ok", "x\u0001"]}}}, "attributes.deep.list.1"),
            ({"customer": {"nickname": "\u0000"}}, "customer.nickname"),
        ],
    )
    def test_control_characters_are_refused_naming_the_field(
        self, app_client: Api, overrides: dict[str, Any], field: str
    ) -> None:
        """Were accepted on SQLite and a 500 on PostgreSQL."""
        response = app_client.post_event(make_event(**overrides))
        assert response.status_code == 422, response.text
        assert fields(response) == [field]
        assert nothing_written(app_client)

    def test_tab_and_newline_are_fine_in_free_text(self, app_client: Api) -> None:
        decided = app_client.decide(make_event(attributes={"memo": "line one\n\tline two"}))
        assert decided["action"]

    def test_control_characters_anywhere_in_the_api_are_refused(self, app_client: Api) -> None:
        notice = app_client.client.post(
            "/v1/privacy/notices",
            json={"notice_key": "n", "purposes": ["marketing"], "texts": {"en": "x\u0000y"}},
            headers=app_client.admin,
        )
        assert notice.status_code == 422
        assert fields(notice) == ["texts.en"]
        listed = app_client.client.get("/v1/customers/c%00x/decisions", headers=app_client.admin)
        assert listed.status_code == 422
        query = app_client.client.get("/v1/support/metrics?days=3%00", headers=app_client.admin)
        assert query.status_code == 422
        assert fields(query) == ["query.days"]

    def test_attributes_nest_at_most_sixteen_levels(self, app_client: Api) -> None:
        def nested(levels: int) -> dict[str, Any]:
            value: dict[str, Any] = {"leaf": 1}
            for _ in range(levels - 1):
                value = {"k": value}
            return value

        assert app_client.post_event(make_event(attributes=nested(16))).status_code == 200
        too_deep = app_client.post_event(make_event(attributes=nested(17)))
        assert too_deep.status_code == 422
        assert fields(too_deep)[0].startswith("attributes.k")
        assert app_client.rows("events") == 1

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/rulesets/18446744073709551616/activate",
            "/v1/rulesets/18446744073709551616/shadow",
            "/v1/models/18446744073709551616/activate",
        ],
    )
    def test_integers_beyond_the_database_range_are_refused(
        self, app_client: Api, path: str
    ) -> None:
        """Were 500s (overflow in the driver) on 14 operations."""
        response = app_client.client.post(path, headers=app_client.admin)
        assert response.status_code == 422
        assert fields(response) == ["path.version"]

    @pytest.mark.parametrize(
        ("method", "path", "field"),
        [
            ("DELETE", "/v1/lists/18446744073709551616", "path.entry_id"),
            ("DELETE", "/v1/suppressions/18446744073709551616", "path.suppression_id"),
            ("GET", "/v1/cases?offset=18446744073709551616", "query.offset"),
            ("GET", "/v1/complaints?offset=18446744073709551616", "query.offset"),
            ("GET", "/v1/audit?before_id=18446744073709551616", "query.before_id"),
            ("GET", "/v1/privacy/notices/n/18446744073709551616", "path.version"),
        ],
    )
    def test_row_numbers_and_offsets_beyond_the_database_range_are_refused(
        self, app_client: Api, method: str, path: str, field: str
    ) -> None:
        response = app_client.client.request(method, path, headers=app_client.admin)
        assert response.status_code == 422, response.text
        assert fields(response) == [field]

    def test_a_rule_expression_nested_too_deep_is_refused_with_its_position(
        self, app_client: Api
    ) -> None:
        """Was a 500 (recursion) from /v1/rulesets/validate."""
        deep = " + ".join(["amount"] * (MAX_EXPRESSION_DEPTH + 10))
        source = (
            "version: 1\nparams: {}\nrules:\n  - id: deep\n    description: too deep\n"
            f"    category: fraud\n    when: {deep} > 1\n    action: remind\n"
            "    reason: DEEP\n    weight: 1\n"
        )
        response = app_client.client.post(
            "/v1/rulesets/validate", json={"source": source}, headers=app_client.admin
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert "nests deeper" in response.text
        assert problem["errors"], problem


@pytest.fixture
def half_folding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: an event whose id starts with ``boom`` fails half-way through being
    folded into the state (after the customer's windows took it)."""
    real = service_module.apply_event

    def failing(event: Any, bundle: Any, ctx: Any = None) -> None:
        real(event, bundle, ctx)
        if event.event_id.startswith("boom"):
            raise RuntimeError("injected failure while folding")

    monkeypatch.setattr(service_module, "apply_event", failing)


@pytest.mark.usefixtures("half_folding")
class TestNothingHalfApplied:
    def test_an_event_that_fails_while_folding_leaves_no_trace(self, app_client: Api) -> None:
        client = TestClient(app_client.app, raise_server_exceptions=False)
        event = make_event(event_id="boom-1", customer_id="c-half", amount=LARGE)
        response = client.post("/v1/events", json=event, headers=app_client.admin)
        assert response.status_code == 500
        assert nothing_written(app_client)
        assert first_large(app_client, "c-half")

    def test_a_batch_with_an_internal_failure_writes_nothing(self, app_client: Api) -> None:
        """Was: the first item was written on the next commit."""
        client = TestClient(app_client.app, raise_server_exceptions=False)
        batch = [
            make_event(event_id="ok-1", customer_id="c-batch", amount=LARGE),
            make_event(event_id="boom-2", customer_id="c-batch", amount="10"),
            make_event(event_id="ok-3", customer_id="c-batch", amount="10"),
        ]
        response = client.post("/v1/events/batch", json={"events": batch}, headers=app_client.admin)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        # another event commits afterwards: nothing of the batch rides along
        assert first_large(app_client, "c-batch")
        assert app_client.rows("events") == 1
        again = client.post(
            "/v1/events/batch", json={"events": [batch[0]]}, headers=app_client.admin
        )
        assert again.status_code == 200
        assert "error" not in again.json()["decisions"][0]

    def test_a_batch_refuses_invalid_items_and_decides_the_rest(self, app_client: Api) -> None:
        batch = [
            make_event(event_id="ok-a", customer_id="c-mixed"),
            make_event(event_id="bad-b", customer_id="c-mixed", occurred_at="0001-01-01T00:00:00Z"),
            make_event(event_id="ok-c", customer_id="c-mixed"),
        ]
        response = app_client.client.post(
            "/v1/events/batch", json={"events": batch}, headers=app_client.admin
        )
        assert response.status_code == 200
        results = response.json()["decisions"]
        assert results[1]["error"]["errors"][0]["field"] == "events.1.occurred_at"
        assert [r.get("event_id") for r in (results[0], results[2])] == ["ok-a", "ok-c"]
        assert app_client.rows("events") == 2


class TestInternalErrors:
    def test_an_unexpected_error_is_a_problem_document_with_a_correlation_id(
        self, app_client: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(app_client.services.decisions.rulesets, "list_versions", broken)
        client = TestClient(app_client.app, raise_server_exceptions=False)
        server_log = io.StringIO()
        configure_logging("WARNING", stream=server_log)
        try:
            response = client.get("/v1/rulesets", headers=app_client.admin)
        finally:
            configure_logging("WARNING")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        correlation = body["correlation_id"]
        assert response.headers["x-correlation-id"] == correlation
        assert "secret internals" not in response.text
        assert "Traceback" not in response.text
        logged = [json.loads(line) for line in server_log.getvalue().splitlines()]
        failure = next(entry for entry in logged if entry.get("correlation_id") == correlation)
        # the trace is in the server log, under the same id
        assert "Traceback" in failure["exception"]
        assert "secret internals" in failure["exception"]


@pytest.mark.usefixtures("half_folding")
class TestNoTraceAfterCheckpointOrRestart:
    """A half-folded event leaves no trace in the window state, in memory (before and after a
    checkpoint and a restart) or in the shared state (for the next process)."""

    @staticmethod
    def _large(customer: str, event_id: str, minute: int) -> Any:
        return service_module.parse_event(
            make_event(
                event_id=event_id,
                customer_id=customer,
                amount=LARGE,
                occurred_at=T0.replace(minute=minute),
            )
        )

    def test_in_memory_across_a_checkpoint_and_a_restart(
        self, sqlite_url: str, service_factory: Any
    ) -> None:
        first = service_factory(sqlite_url, checkpoint_every=1)
        with pytest.raises(RuntimeError):
            first.decide(self._large("c-mem", "boom-m", 1))
        other = first.decide(self._large("c-other", "ok-o", 2))  # commits and checkpoints
        assert "FIRST_LARGE_TRANSFER" in reason_codes(other)
        decided = first.decide(self._large("c-mem", "ok-m1", 3))
        assert "FIRST_LARGE_TRANSFER" in reason_codes(decided)
        restarted = service_factory(sqlite_url, checkpoint_every=1)
        later = restarted.decide(self._large("c-mem", "ok-m2", 4))
        # the one committed large outflow counts; the failed one never did
        assert "FIRST_LARGE_TRANSFER" not in reason_codes(later)
        assert restarted.store.states["c:c-mem"].stats["lifetime_outflow_count"] == 2

    def test_in_the_shared_state_for_the_next_process(
        self, database_url: str, service_factory: Any
    ) -> None:
        first = service_factory(database_url, shared=True)
        with pytest.raises(RuntimeError):
            first.decide(self._large("c-sh", "boom-s", 1))
        assert "FIRST_LARGE_TRANSFER" in reason_codes(first.decide(self._large("c-x", "ok-x", 2)))
        second = service_factory(database_url, shared=True)
        decided = second.decide(self._large("c-sh", "ok-s", 3))
        assert "FIRST_LARGE_TRANSFER" in reason_codes(decided)


class TestDatesEverywhere:
    """The same range discipline on every date the API takes, not only the event's."""

    SMS_CHECK = {
        "purpose": "marketing",
        "channel": "sms",
        "debtor_id": "c-1",
        "contact": "+8613900000000",
        "timezone": "Asia/Shanghai",
        "template_text": "限时优惠：会员专享借款额度。",
    }

    @pytest.mark.parametrize(
        ("url", "body", "field"),
        [
            (
                "/v1/privacy/consents",
                {
                    "customer_id": "c-1",
                    "purpose": "marketing",
                    "granted": True,
                    "notice_key": "n",
                    "notice_version": 1,
                    "at": "9999-12-31T23:59:59-05:00",
                },
                "at",
            ),
            ("/v1/conduct/contacts/check", {**SMS_CHECK, "at": "1969-12-31T23:59:59Z"}, "at"),
            (
                "/v1/complaints",
                {
                    "customer_id": "c-1",
                    "channel": "app",
                    "narrative": "催收电话太多",
                    "received_at": "2100-01-01T00:00:00Z",
                },
                "received_at",
            ),
            (
                "/v1/support/contacts",
                {
                    "conversation_id": "conv-1",
                    "customer_id": "c-1",
                    "channel": "phone",
                    "opened_at": "0001-01-01T00:00:00Z",
                },
                "opened_at",
            ),
        ],
    )
    def test_out_of_range_dates_are_refused_naming_the_field(
        self, app_client: Api, url: str, body: dict[str, Any], field: str
    ) -> None:
        response = app_client.client.post(url, json=body, headers=app_client.admin)
        assert response.status_code == 422, response.text
        assert field in fields(response)


def test_a_rule_set_whose_yaml_nests_too_deep_is_refused_with_its_position(
    app_client: Api,
) -> None:
    """Was a 500 (recursion in the YAML composer)."""
    source = "rules:\n  - " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"
    response = app_client.client.post(
        "/v1/rulesets/validate", json={"source": source}, headers=app_client.admin
    )
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"].endswith(":2:125")
    assert "nests deeper than 32 levels" in error["message"]
