"""An attacker's pass over the education endpoints with the real app on a real database and the
clock pinned: every bad value is a 4xx problem document naming the field and leaves no row;
every route refuses a caller without a key (401) or without its scope (403) before anything
else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fixtures import PINNED_NOW, Api

PROBLEM = "application/problem+json"
NOW = PINNED_NOW


def good_event(**overrides: Any) -> dict[str, Any]:
    body = {
        "event_id": "h-1",
        "customer_id": "c1",
        "content_id": "mule-article-1",
        "kind": "delivered",
        "channel": "sms",
        "occurred_at": (NOW - timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


def good_answers(**overrides: Any) -> dict[str, Any]:
    body = {
        "event_id": "q-1",
        "customer_id": "c1",
        "quiz_version": 1,
        "answers": {"q1": "a"},
        "answered_at": (NOW - timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


HOSTILE_EVENTS: list[tuple[dict[str, Any], str]] = [
    ({"customer_id": "c\x001"}, "customer_id"),
    ({"customer_id": "x" * 129}, "customer_id"),
    ({"event_id": ""}, "event_id"),
    ({"content_id": "no-such-item"}, "content_id"),
    ({"content_id": 10**40}, "content_id"),
    ({"kind": "read"}, "kind"),
    ({"channel": "pigeon"}, "channel"),
    ({"occurred_at": (NOW + timedelta(minutes=30)).isoformat()}, "occurred_at"),
    ({"occurred_at": "2999-01-01T00:00:00+00:00"}, "occurred_at"),
    ({"occurred_at": "1999-12-31T23:00:00+00:00"}, "occurred_at"),
    ({"occurred_at": "2026-03-01T10:00:00"}, "occurred_at"),  # no zone
    ({"occurred_at": 10**30}, "occurred_at"),
    ({"decision_id": "d\x7f"}, "decision_id"),
    ({"surprise": 1}, "surprise"),
]


def test_hostile_events_are_refused_naming_the_field_and_leave_no_row(
    pinned_clock: Any, app_client: Api
) -> None:
    api = app_client
    for overrides, field in HOSTILE_EVENTS:
        r = api.client.post("/v1/education/events", json=good_event(**overrides), headers=api.admin)
        assert 400 <= r.status_code < 500, (overrides, r.status_code)
        assert r.headers["content-type"] == PROBLEM
        fields = [e["field"] for e in r.json()["errors"]]
        assert any(field in f for f in fields), (overrides, fields)
        batch = {"events": [good_event(event_id="ok"), good_event(**overrides)]}
        r = api.client.post("/v1/education/events/batch", json=batch, headers=api.admin)
        assert 400 <= r.status_code < 500, (overrides, r.status_code)
        fields = [e["field"] for e in r.json()["errors"]]
        assert any(f.startswith("events.1") or f == "body" for f in fields), fields
    # a few minutes ahead of the server's clock is the app's clock, not the future
    ahead = good_event(occurred_at=(NOW + timedelta(minutes=5)).isoformat())
    r = api.client.post("/v1/education/events", json=ahead, headers=api.admin)
    assert r.status_code == 200, r.text
    assert api.rows("education_events") == 1


def test_oversize_deep_and_malformed_bodies(pinned_clock: Any, app_client: Api) -> None:
    api = app_client
    many = {"events": [good_event(event_id=f"e{i}") for i in range(1001)]}
    r = api.client.post("/v1/education/events/batch", json=many, headers=api.admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "events"
    empty = api.client.post("/v1/education/events/batch", json={"events": []}, headers=api.admin)
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "events"
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    r = api.client.post("/v1/education/events", json={"event_id": deep}, headers=api.admin)
    assert 400 <= r.status_code < 500
    r = api.client.post(
        "/v1/education/events",
        content=b'{"event_id": ',
        headers={**api.admin, "content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    assert api.rows("education_events") == 0


HOSTILE_ANSWERS: list[tuple[dict[str, Any], str]] = [
    ({"quiz_version": 10**30}, "quiz_version"),
    ({"quiz_version": 2}, "quiz_version"),
    ({"answers": {"q9": "a"}}, "answers.q9"),
    ({"answers": {"q1": "z"}}, "answers.q1"),
    ({"answers": {}}, "answers"),
    ({"answers": {f"q{i}": "a" for i in range(11)}}, "answers"),
    ({"answers": {"q1": "a\x00"}}, "answers"),
    ({"customer_id": "\x00"}, "customer_id"),
    ({"answered_at": "2999-01-01T00:00:00+00:00"}, "answered_at"),
    ({"channel": "fax"}, "channel"),
]


def test_hostile_quiz_answers(pinned_clock: Any, app_client: Api) -> None:
    api = app_client
    for overrides, field in HOSTILE_ANSWERS:
        r = api.client.post(
            "/v1/education/quizzes/mule/answers", json=good_answers(**overrides), headers=api.admin
        )
        assert 400 <= r.status_code < 500, (overrides, r.status_code)
        assert r.headers["content-type"] == PROBLEM
        fields = [e["field"] for e in r.json()["errors"]]
        assert any(f.startswith(field) for f in fields), (overrides, fields)
    r = api.client.post(
        "/v1/education/quizzes/no-topic/answers", json=good_answers(), headers=api.admin
    )
    assert r.status_code == 404
    r = api.client.post(
        "/v1/education/quizzes/BAD!/answers", json=good_answers(), headers=api.admin
    )
    assert r.status_code == 422
    assert api.rows("education_quiz_answers") == 0


BAD_REACH_QUERIES = [
    ("from=2026-02-30&to=2026-03-01", "from"),
    ("from=2026-03-02&to=2026-03-01", "from"),
    ("from=2024-01-01&to=2026-03-01", "from"),
    ("from=2026-03-01&to=2026-03-01&zone=Mars/Olympus", "zone"),
    ("from=99999999-01-01&to=2026-03-01", "from"),
    ("to=2026-03-01", "from"),
]


def test_reach_queries_are_bounded(app_client: Api) -> None:
    for query, field in BAD_REACH_QUERIES:
        r = app_client.client.get(f"/v1/education/reach?{query}", headers=app_client.admin)
        assert r.status_code == 422, (query, r.text)
        assert any(field in e["field"] for e in r.json()["errors"]), query


ROUTES = [
    ("GET", "/v1/education/content", None, "education:read"),
    ("GET", "/v1/education/content/mule-article-1", None, "education:read"),
    ("GET", "/v1/education/quizzes/mule", None, "education:read"),
    ("GET", "/v1/education/for-decision/d-1", None, "education:read"),
    ("GET", "/v1/education/for-case/c-1", None, "education:read"),
    ("POST", "/v1/education/events", good_event(), "education:write"),
    ("POST", "/v1/education/events/batch", {"events": [good_event()]}, "education:write"),
    ("POST", "/v1/education/quizzes/mule/answers", good_answers(), "education:write"),
    ("GET", "/v1/education/reach?from=2026-03-01&to=2026-03-01", None, "reports:read"),
]


def test_every_route_refuses_without_a_key_or_its_scope(pinned_clock: Any, app_client: Api) -> None:
    api = app_client
    others = {
        "education:read": api.key("education:write", "reports:read"),
        "education:write": api.key("education:read", "reports:read"),
        "reports:read": api.key("education:read", "education:write"),
    }
    granted = {s: api.key(s) for s in others}
    for method, url, body, scope in ROUTES:
        r = api.client.request(method, url, json=body)
        assert r.status_code == 401, (url, r.status_code)
        # refused before the body is read: a bad body still gets 401/403
        r = api.client.request(
            method, url, content=b"{", headers={"content-type": "application/json"}
        )
        assert r.status_code == 401, (url, r.status_code)
        r = api.client.request(method, url, json=body, headers=others[scope])
        assert r.status_code == 403, (url, r.status_code)
        assert r.headers["content-type"] == PROBLEM
        r = api.client.request(method, url, json=body, headers=granted[scope])
        assert r.status_code not in (401, 403), (url, r.status_code)
    assert api.rows("education_events") == 1
