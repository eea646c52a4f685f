"""Identity verification of a data-subject request accepts only the enumerated methods (alone
or combined with '+'); anything else is a 422 naming ``method`` and the request stays
unverified."""

from __future__ import annotations

import pytest

from fixtures import Api


def received(api: Api, customer_id: str) -> str:
    created = api.client.post(
        "/v1/privacy/requests",
        json={
            "customer_id": customer_id,
            "kind": "access",
            "received_at": "2026-03-02T10:00:00+08:00",
        },
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    request_id: str = created.json()["id"]
    return request_id


class TestVerificationMethods:
    @pytest.mark.parametrize(
        "method",
        ["trust_me", "phoned them", "sms_code+trust_me", "sms_code+sms_code", "sms_code+", "  "],
    )
    def test_an_unknown_method_is_refused(self, app_client: Api, method: str) -> None:
        request_id = received(app_client, "v-1")
        url = f"/v1/privacy/requests/{request_id}"
        refused = app_client.client.post(
            f"{url}/verify", json={"method": method}, headers=app_client.admin
        )
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert [e["field"] for e in problem["errors"]] == ["method"]
        if method.strip():
            assert "sms_code" in problem["errors"][0]["message"]  # the allowed ones are named
        after = app_client.client.get(url, headers=app_client.admin).json()
        assert after["status"] == "identity_unverified"
        assert after["verification_method"] is None

    @pytest.mark.parametrize("method", ["sms_code", "face_match+sms_code", "in_person"])
    def test_an_enumerated_method_verifies(self, app_client: Api, method: str) -> None:
        request_id = received(app_client, "v-2")
        done = app_client.client.post(
            f"/v1/privacy/requests/{request_id}/verify",
            json={"method": method},
            headers=app_client.admin,
        )
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["verification_method"]) == ("pending", method)

    def test_the_methods_are_listed(self) -> None:
        from lendguard.privacy.requests import VERIFICATION_METHODS

        assert {"sms_code", "face_match", "id_document", "in_person"} <= set(VERIFICATION_METHODS)
