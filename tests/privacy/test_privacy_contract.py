"""The privacy area's typed contract: what the schema says is what the service does."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures import Api

# Request due dates and overdue flags are read against "now": pinned.
pytestmark = pytest.mark.usefixtures("pinned_clock")


def _request(api: Api, **body: Any) -> Any:
    return api.client.post(
        "/v1/privacy/requests", json={"customer_id": "c-1", **body}, headers=api.admin
    )


class TestTheScopeComesBeforeTheBody:
    """A caller without the scope learns nothing about the body's rules (403, not 400/422)."""

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/privacy/notices",
            "/v1/privacy/consents",
            "/v1/privacy/consent-flows/check",
            "/v1/privacy/requests",
            "/v1/privacy/pii/mask",
        ],
    )
    def test_a_key_lacking_the_scope_is_refused_before_its_body_is_read(
        self, app_client: Api, path: str
    ) -> None:
        outsider = app_client.key("conduct:check")
        for body in (b"{not json", b'{"unknown": 1}'):
            response = app_client.client.post(
                path,
                content=body,
                headers={**outsider, "Content-Type": "application/json"},
            )
            assert response.status_code == 403, (path, body, response.text)


class TestRequestDetails:
    def test_a_withdrawal_names_its_purposes_as_a_list_of_known_purposes(
        self, app_client: Api
    ) -> None:
        """A list of purposes that was not a list reached the fulfilment as it was and failed
        there (a 500, the request stuck pending): now it is refused when the request comes in."""
        for purposes in (5, "marketing", ["astrology"]):
            refused = _request(app_client, kind="withdraw", details={"purposes": purposes})
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0]["field"].startswith("details.purposes")
        assert app_client.rows("data_subject_requests") == 0
        accepted = _request(app_client, kind="withdraw", details={"purposes": ["marketing"]})
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["details"] == {"purposes": ["marketing"]}

    def test_a_correction_keeps_the_values_it_was_sent(self, app_client: Api) -> None:
        details = {"name": "王小明", "address": {"city": "上海", "lines": ["1号"]}}
        created = _request(app_client, kind="correct", details=details)
        assert created.status_code == 201, created.text
        assert created.json()["details"] == details

    def test_a_refusal_without_a_reason_is_refused_and_the_request_stays_open(
        self, app_client: Api
    ) -> None:
        request_id = _request(app_client, kind="access").json()["id"]
        url = f"/v1/privacy/requests/{request_id}"
        for body in ({}, {"reason": "   "}):
            refused = app_client.client.post(f"{url}/refuse", json=body, headers=app_client.admin)
            assert refused.status_code == 422, refused.text
            assert [e["field"] for e in refused.json()["errors"]] == ["reason"]
        assert app_client.client.get(url, headers=app_client.admin).json()["status"] == (
            "identity_unverified"
        )


def test_the_officers_export_carries_no_withheld_marker(app_client: Api) -> None:
    """The parts a purpose-bound caller does not get are absent from the officer's export,
    not sent as null: the schema allows both shapes, the officer's has none of the markers."""
    request_id = _request(app_client, kind="access").json()["id"]
    url = f"/v1/privacy/requests/{request_id}"
    assert (
        app_client.client.post(
            f"{url}/verify", json={"method": "sms_code"}, headers=app_client.admin
        ).status_code
        == 200
    )
    assert app_client.client.post(f"{url}/fulfil", headers=app_client.admin).status_code == 200
    export = app_client.client.get(f"{url}/export", headers=app_client.admin).json()
    assert "withheld_for_purpose" not in export
    assert "withheld_tables" not in export
    assert set(export["tables"]["decisions"]) == {"rows"}
    assert set(export["tables"]["api_keys"]) == {"about_customers", "reason"}


def test_the_schema_states_the_rules_the_service_keeps(app_client: Api) -> None:
    spec = app_client.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    consent = schemas["ConsentBody"]
    assert consent["then"]["properties"]["scope"] == {"not": {"const": "*"}}
    assert consent["additionalProperties"] is False
    lists = spec["paths"]["/v1/privacy/lists"]["get"]["responses"]["200"]["content"]
    assert set(lists) == {"application/json", "text/csv", "text/html"}
    verify = schemas["VerifyBody"]["properties"]["method"]
    assert "sms_code" in verify["pattern"]
