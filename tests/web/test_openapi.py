"""The OpenAPI document itself: what a client generator and an integration engineer read."""

from __future__ import annotations

from typing import Any

from fixtures import Api

_SUCCESS = ("200", "201", "202")


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def test_security_schemes_and_each_operations_scope_are_declared(app_client: Api) -> None:
    spec = app_client.client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["ConsoleSession"]["in"] == "cookie"
    assert schemes["CsrfToken"]["in"] == "header"
    event = spec["paths"]["/v1/events"]["post"]
    assert event["security"] == [{"ApiKey": []}, {"ConsoleSession": [], "CsrfToken": []}]
    assert "`events:write`" in event["description"]
    assert {"401", "403", "429", "413", "400", "422", "503"} <= set(event["responses"])
    reading = spec["paths"]["/v1/decisions/{decision_id}"]["get"]
    assert reading["security"] == [{"ApiKey": []}, {"ConsoleSession": []}]
    assert "404" in reading["responses"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


# Readiness answers its own document on 503 (which dependency is down), for probes and load
# balancers that read it, not a problem document.
_NOT_PROBLEMS = {("GET", "/readyz", "503")}


def test_every_error_is_a_documented_problem_document(app_client: Api) -> None:
    spec = app_client.client.get("/openapi.json").json()
    for method, path, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and (method, path, status) not in _NOT_PROBLEMS:
                assert list(response["content"]) == ["application/problem+json"], (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_every_success_response_is_typed(app_client: Api) -> None:
    """No operation answers an untyped ``string`` (a body a route reads but does not document
    is caught by the schemathesis contract test: the documented request is refused)."""
    spec = app_client.client.get("/openapi.json").json()
    untyped = []
    for method, path, operation in _operations(spec):
        for status in _SUCCESS:
            content = operation["responses"].get(status, {}).get("content", {})
            for media, body in content.items():
                if media == "application/json" and body.get("schema") in ({}, {"type": "string"}):
                    untyped.append(f"{method} {path}: {status} response")
    assert untyped == []
