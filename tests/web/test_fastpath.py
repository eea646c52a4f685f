"""``POST /v1/events`` is answered ahead of FastAPI's middleware and router
(:mod:`lendguard.web.fastpath`): what the middleware did for it, the fast route does the same way
(the guard's 422, the error handlers' 401/413/400/422/503/500), and a deployment under a
``root_path`` takes the ordinary, registered route."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import orjson
import pytest
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from fixtures import Api, make_event
from lendguard.decisions import endpoints
from lendguard.logging import configure_logging

JSON = {"Content-Type": "application/json"}


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_the_event_route_is_in_the_fast_table_and_still_documented(app_client: Api) -> None:
    assert ("POST", "/v1/events") in app_client.app.fast_routes
    schema = app_client.client.get("/openapi.json").json()
    assert "post" in schema["paths"]["/v1/events"]


def test_the_fast_route_answers_as_the_registered_one(
    app_client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[str] = []
    real = endpoints.decide_event

    async def counted(request: Any) -> bytes:
        called.append(request.url.path)
        return await real(request)

    monkeypatch.setitem(app_client.app.fast_routes, ("POST", "/v1/events"), counted)
    event = make_event(event_id="fast-1")
    response = app_client.client.post("/v1/events", json=event, headers=app_client.admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.json()["event_id"] == "fast-1"
    assert called == ["/v1/events"]
    # Under a root_path the ordinary route answers, with the same (stored) decision.
    mounted = TestClient(app_client.app, root_path="/api")
    again = mounted.post("/api/v1/events", json=event, headers=app_client.admin)
    assert again.status_code == 200, again.text
    assert again.json() == response.json()
    assert called == ["/v1/events"]


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        ("?note=a%00b", orjson.dumps(make_event()), "query.note"),
        ("", orjson.dumps(make_event(device_id="dev\u0001")), "device_id"),
    ],
)
def test_control_characters_are_refused_before_authorisation(
    app_client: Api, query: str, body: bytes, field: str
) -> None:
    # No key at all: the guard's 422 comes first, as the middleware's did.
    response = app_client.client.post(f"/v1/events{query}", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "the request holds a control character or nests too deep"
    assert _fields(response) == [field]
    assert response.json()["instance"] == "/v1/events"


def test_refusals_keep_their_order_and_documents(app_client: Api) -> None:
    client = app_client.client
    unauthorised = client.post("/v1/events", content=b"{not json", headers=JSON)
    assert unauthorised.status_code == 401
    assert unauthorised.headers["www-authenticate"] == "Bearer"
    wrong_scope = client.post(
        "/v1/events", content=b"{}", headers={**JSON, **app_client.key("cases:read")}
    )
    assert wrong_scope.status_code == 403
    too_large = client.post(
        "/v1/events", content=b" " * 1_000_001, headers={**JSON, **app_client.admin}
    )
    assert too_large.status_code == 413
    assert _fields(too_large) == ["body"]
    malformed = client.post(
        "/v1/events", content=b"{not json", headers={**JSON, **app_client.admin}
    )
    assert malformed.status_code == 400
    assert _fields(malformed) == ["body"]
    invalid = client.post(
        "/v1/events",
        json=make_event(occurred_at="0001-01-01T00:00:00Z"),
        headers=app_client.admin,
    )
    assert invalid.status_code == 422
    assert _fields(invalid) == ["occurred_at"]
    assert invalid.json()["instance"] == "/v1/events"


def test_a_database_outage_is_a_503(app_client: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def away(*_: Any, **__: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(app_client.services.decisions, "decide_async", away)
    response = app_client.client.post("/v1/events", json=make_event(), headers=app_client.admin)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"] == "application/problem+json"


def test_an_unexpected_error_is_the_500_with_a_correlation_id_and_is_raised_again(
    app_client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app_client.services.decisions, "decide_async", broken)
    server_log = io.StringIO()
    configure_logging("WARNING", stream=server_log)
    try:
        # Raised again after the answer, as ServerErrorMiddleware does (the server logs it).
        with pytest.raises(RuntimeError, match="secret internals"):
            app_client.client.post("/v1/events", json=make_event(), headers=app_client.admin)
        quiet = TestClient(app_client.app, raise_server_exceptions=False)
        response = quiet.post("/v1/events", json=make_event(), headers=app_client.admin)
    finally:
        configure_logging("WARNING")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    correlation = response.json()["correlation_id"]
    assert response.headers["x-correlation-id"] == correlation
    assert "secret internals" not in response.text
    logged = [json.loads(line) for line in server_log.getvalue().splitlines()]
    assert any(entry.get("correlation_id") == correlation for entry in logged)


def test_a_key_the_cache_does_not_hold_is_read_off_the_event_loop(
    app_client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = app_client.key("events:write")  # new: not in the cache yet
    keys = app_client.services.api_keys
    read = keys.keys.credentials
    on_loop: list[bool] = []

    def watched(digest: str) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return read(digest)

    monkeypatch.setattr(keys.keys, "credentials", watched)
    monkeypatch.setattr(keys, "cache_ttl_s", 3_600.0)  # the second request finds it cached
    first = app_client.client.post("/v1/events", json=make_event(), headers=headers)
    second = app_client.client.post("/v1/events", json=make_event(), headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert on_loop == [False]  # read once, on a worker thread; the second from the cache


def _stream_over_limit(app: Any, path: str, chunks: int) -> tuple[int, int, dict[str, Any]]:
    """POST ``chunks`` chunks of 64 KiB with no Content-Length straight to the ASGI app; returns
    the status, how many chunks the app read, and the problem document."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b" " * 65_536, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, read, orjson.loads(body)


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch"])
def test_a_streamed_body_over_the_limit_is_refused_before_it_is_buffered(
    app_client: Api, path: str
) -> None:
    # 1,000 chunks of 64 KiB (64 MiB) against the default 1 MB limit, without a declared
    # length: the fast route and the guard in front of every other route stop at the limit.
    status, read, problem = _stream_over_limit(app_client.app, path, chunks=1_000)
    assert status == 413
    assert [e["field"] for e in problem["errors"]] == ["body"]
    assert read <= 1_000_000 // 65_536 + 1
