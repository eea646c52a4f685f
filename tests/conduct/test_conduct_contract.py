"""The conduct area's typed contract: what the schema says is what the guard does."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fixtures import Api


@pytest.mark.parametrize(
    "path", ["/v1/conduct/contacts", "/v1/conduct/preferences", "/v1/conduct/flags"]
)
def test_a_key_lacking_the_scope_is_refused_before_its_body_is_read(
    app_client: Api, path: str
) -> None:
    checker = app_client.key("conduct:check")  # may check and read, not write
    for body in (b"{not json", b'{"kind": "favourite_colour"}'):
        response = app_client.client.post(
            path, content=body, headers={**checker, "Content-Type": "application/json"}
        )
        assert response.status_code == 403, (path, body, response.text)


def _contact_schema(api: Api, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = api.client.get("/openapi.json").json()["components"]["schemas"][name]
    return schema


@pytest.mark.parametrize("name", ["ContactRequest", "ContactLog"])
def test_the_rules_across_fields_are_stated_in_the_schema(app_client: Api, name: str) -> None:
    schema = _contact_schema(app_client, name)
    conditions = {next(iter(rule["if"]["properties"])): rule["then"] for rule in schema["allOf"]}
    assert conditions["target"]["required"] == ["third_party"]
    assert conditions["purpose"]["required"] == ["debt"]
    assert conditions["channel"]["required"] == ["template_text"]
    assert conditions["jurisdiction"]["required"] == ["timezone"]
    if name == "ContactLog":
        assert conditions["result"]["properties"]["target"] == {"const": "third_party"}
    zone = re.compile(schema["properties"]["timezone"]["pattern"])
    assert all(zone.search(z) for z in ("Asia/Shanghai", "America/Port-au-Prince", "Etc/GMT+8"))
    jurisdiction = re.compile(schema["properties"]["jurisdiction"]["pattern"])
    assert all(jurisdiction.search(j) for j in ("CN", "cn", " US\n", "Uk"))
    assert not any(jurisdiction.search(j) for j in ("FR", "CNN", "\vCN"))


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"target": "third_party"}, "third_party"),  # the person contacted is named
        ({"debt": None}, "debt"),  # a collection names its debt
        ({"channel": "sms", "template_text": " "}, "template_text"),  # a text is sent
        ({"jurisdiction": "US", "timezone": None}, "timezone"),  # no single zone in the US
    ],
)
def test_a_request_the_schema_refuses_the_guard_refuses(
    app_client: Api, extra: dict[str, Any], field: str
) -> None:
    body = {
        "purpose": "collection",
        "channel": "call",
        "debtor_id": "d-1",
        "contact": "+8613900000000",
        "at": "2026-03-02T06:00:00Z",
        "timezone": "Asia/Shanghai",
        "debt": {"id": "loan-1"},
        **extra,
    }
    response = app_client.client.post(
        "/v1/conduct/contacts/check", json=body, headers=app_client.admin
    )
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
