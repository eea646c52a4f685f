"""Shadow mode over HTTP, on both databases: a candidate rule set decides live traffic beside
the active one, is recorded and compared, and never changes what the lender is told."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from fixtures import ADMIN_KEY, MISSING, T0, Api, make_event, r39_scam_events
from lendguard.app import create_app
from lendguard.config import Settings

EVERY_OUTFLOW = """\
name: every-outflow
rules:
  - id: every-outflow
    category: fraud
    when: is_outflow
    action: intercept
    reason: EVERY_OUTFLOW
    weight: 50
    measures: [DELAY]
    message: {zh-CN: "转出已暂缓", en: "payment on hold"}
    explanation: {zh-CN: "每笔转出都会先核实。", en: "Every payment out is checked first."}
"""

REMIND_LOGINS = """\
name: remind-logins
rules:
  - id: remind-logins
    category: fraud
    when: type == 'login'
    action: remind
    reason: LOGIN_REMINDER
    weight: 5
    message: {zh-CN: "提醒", en: "a reminder"}
    explanation: {zh-CN: "每次登录都会提醒您。", en: "We remind you at every sign-in."}
"""

VOLATILE = ("decision_id", "decided_at", "latency_us")
ACTIONS = ("allow", "remind", "dissuade", "intercept", "block")


def upload(api: Api, source: str) -> int:
    response = api.client.post("/v1/rulesets", json={"source": source}, headers=api.admin)
    assert response.status_code == 201, response.text
    version: int = response.json()["version"]
    return version


def start_shadow(api: Api, version: int) -> None:
    response = api.client.post(f"/v1/rulesets/{version}/shadow", headers=api.admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"version": version, "shadow": True}


def report(api: Api, version: int, **params: Any) -> dict[str, Any]:
    response = api.client.get(
        f"/v1/rulesets/{version}/shadow-report", headers=api.admin, params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(**nonzero: int) -> dict[str, int]:
    return {a: nonzero.get(a, 0) for a in ACTIONS}


def traffic(prefix: str = "") -> list[dict[str, Any]]:
    """Seven events: four outflows (the last the R39 scam transfer, intercepted live) and three
    that are not (a login, a deposit, a disbursement). Live: six allow, one intercept."""
    a, b = f"{prefix}alice", f"{prefix}bob"
    plain = [
        make_event(customer_id=a, amount="100", occurred_at=T0 + timedelta(minutes=i))
        for i in range(3)
    ]
    login = make_event(
        customer_id=a,
        type="login",
        amount=MISSING,
        currency=MISSING,
        payee_id=MISSING,
        occurred_at=T0 + timedelta(minutes=4),
    )
    deposit = make_event(
        customer_id=b,
        type="deposit",
        amount="3000",
        payee_id=MISSING,
        payer_id="employer-1",
        occurred_at=T0 + timedelta(minutes=5),
    )
    scam = r39_scam_events(f"{prefix}student", t0=T0 + timedelta(minutes=6))
    return [*plain, login, deposit, *scam]


LIVE_ACTIONS = ["allow", "allow", "allow", "allow", "allow", "allow", "intercept"]


def stable(decision: dict[str, Any]) -> dict[str, Any]:
    """What must not change: the challenge's id follows the decision id, and the hold's deadline
    the decision's time; their content must not."""
    kept = {k: v for k, v in decision.items() if k not in VOLATILE}
    if kept.get("challenge"):
        kept["challenge"] = {k: v for k, v in kept["challenge"].items() if k != "challenge_id"}
    if kept.get("hold"):
        kept["hold"] = {
            k: v for k, v in kept["hold"].items() if k not in ("deadline", "instructions")
        }
    return kept


@contextmanager
def other_app(database_url: str) -> Iterator[Api]:
    """Another app (another process, as far as the service knows) on ``database_url``."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        state_backend="memory",
    )
    app = create_app(settings)
    services = app.state.services
    try:
        with TestClient(app) as client:
            yield Api(client=client, app=app, services=services)
    finally:
        services.close()
        services.decisions.db.dispose()


@pytest.fixture
def reference_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A second, fresh database where no shadow ever runs."""
    path = tmp_path / "reference.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


class TestShadowRun:
    def test_decisions_unchanged_and_report_exact(
        self, app_client: Api, reference_url: str
    ) -> None:
        version = upload(app_client, EVERY_OUTFLOW)
        assert version == 2
        start_shadow(app_client, version)
        events = traffic()
        shadowed = [app_client.decide(e) for e in events]

        with other_app(reference_url) as reference:
            plain = [reference.decide(e) for e in events]
        assert [stable(d) for d in shadowed] == [stable(d) for d in plain]
        assert [d["action"] for d in shadowed] == LIVE_ACTIONS
        assert {d["ruleset_version"] for d in shadowed} == {1}
        assert all("EVERY_OUTFLOW" not in {r["code"] for r in d["reasons"]} for d in shadowed)

        body = report(app_client, version)
        assert body["version"] == version
        assert body["running"] is True
        assert body["events"] == 7
        assert body["live_actions"] == counts(allow=6, intercept=1)
        assert body["shadow_actions"] == counts(allow=3, intercept=4)
        assert body["differences"] == 3
        assert body["by_transition"] == {"allow->intercept": 3}
        assert body["stricter"] == 3
        examples = body["examples"]
        assert len(examples) == 3
        assert {e["event_id"] for e in examples} == {e["event_id"] for e in events[:3]}
        decision_ids = {d["event_id"]: d["decision_id"] for d in shadowed}
        for example in examples:
            assert example["decision_id"] == decision_ids[example["event_id"]]
            assert example["live_ruleset_version"] == 1
            assert (example["live_action"], example["action"]) == ("allow", "intercept")
            assert [r["code"] for r in example["reasons"]] == ["EVERY_OUTFLOW"]
        assert len(report(app_client, version, examples=1)["examples"]) == 1
        # the rows the live path writes are the usual ones
        assert app_client.written() == (7, 7)
        assert app_client.rows("shadow_decisions") == 7

    def test_batches_are_shadowed_and_repeats_are_not_counted_twice(self, app_client: Api) -> None:
        version = upload(app_client, EVERY_OUTFLOW)
        start_shadow(app_client, version)
        events = traffic()
        response = app_client.client.post(
            "/v1/events/batch", json={"events": events}, headers=app_client.admin
        )
        assert response.status_code == 200, response.text
        decisions = response.json()["decisions"]
        assert [d["action"] for d in decisions] == LIVE_ACTIONS
        # the same events again: idempotent replays, answered from the log
        again = [app_client.decide(e) for e in events[:2]]
        assert [d["decision_id"] for d in again] == [d["decision_id"] for d in decisions[:2]]
        body = report(app_client, version)
        assert body["events"] == 7
        assert body["by_transition"] == {"allow->intercept": 3}

    def test_delete_stops_it(self, app_client: Api) -> None:
        version = upload(app_client, EVERY_OUTFLOW)
        start_shadow(app_client, version)
        events = traffic()
        for event in events[:4]:
            app_client.decide(event)
        response = app_client.client.delete(
            f"/v1/rulesets/{version}/shadow", headers=app_client.admin
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"version": version, "shadow": False}
        for event in events[4:]:
            app_client.decide(event)
        body = report(app_client, version)
        assert body["running"] is False
        assert body["events"] == 4
        assert body["live_actions"] == counts(allow=4)
        assert body["shadow_actions"] == counts(allow=1, intercept=3)
        assert body["by_transition"] == {"allow->intercept": 3}
        # stopping what is not running
        again = app_client.client.delete(f"/v1/rulesets/{version}/shadow", headers=app_client.admin)
        assert again.status_code == 404

    def test_a_new_shadow_replaces_the_running_one(self, app_client: Api) -> None:
        strict = upload(app_client, EVERY_OUTFLOW)
        logins = upload(app_client, REMIND_LOGINS)
        start_shadow(app_client, strict)
        events = traffic()
        app_client.decide(events[0])
        start_shadow(app_client, logins)
        for event in events[1:]:
            app_client.decide(event)
        first, second = report(app_client, strict), report(app_client, logins)
        assert (first["running"], first["events"]) == (False, 1)
        assert (second["running"], second["events"]) == (True, 6)
        # the candidate has no scam rules: the live interception would have been an allow
        assert second["by_transition"] == {"allow->remind": 1, "intercept->allow": 1}
        assert second["live_actions"] == counts(allow=5, intercept=1)
        assert second["shadow_actions"] == counts(allow=5, remind=1)
        assert second["differences"] == 2
        assert second["stricter"] == 1

    def test_report_of_a_version_never_shadowed_is_empty(self, app_client: Api) -> None:
        version = upload(app_client, EVERY_OUTFLOW)
        app_client.decide(make_event())
        body = report(app_client, version)
        assert body["running"] is False
        assert body["events"] == 0
        assert body["differences"] == 0
        assert body["by_transition"] == {}
        assert body["live_actions"] == counts()
        assert body["examples"] == []


class TestShadowRefusals:
    def test_shadowing_the_active_version_is_409(self, app_client: Api) -> None:
        response = app_client.client.post("/v1/rulesets/1/shadow", headers=app_client.admin)
        assert response.status_code == 409, response.text
        assert app_client.services.decisions.shadow is None
        assert app_client.rows("shadow_runs") == 0

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/v1/rulesets/99/shadow"),
            ("DELETE", "/v1/rulesets/99/shadow"),
            ("GET", "/v1/rulesets/99/shadow-report"),
        ],
    )
    def test_unknown_version_is_404(self, app_client: Api, method: str, path: str) -> None:
        response = app_client.client.request(method, path, headers=app_client.admin)
        assert response.status_code == 404, response.text
        assert app_client.services.decisions.shadow is None

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/v1/rulesets/{v}/shadow"),
            ("DELETE", "/v1/rulesets/{v}/shadow"),
            ("GET", "/v1/rulesets/{v}/shadow-report"),
        ],
    )
    def test_rules_write_scope_needed(self, app_client: Api, method: str, path: str) -> None:
        version = upload(app_client, EVERY_OUTFLOW)
        url = path.format(v=version)
        if method == "DELETE":
            start_shadow(app_client, version)
        for scopes in (("events:write",), ("decisions:read",), ("rules:approve",)):
            response = app_client.client.request(method, url, headers=app_client.key(*scopes))
            assert response.status_code == 403, (scopes, response.text)
        assert app_client.client.request(method, url).status_code == 401
        # nothing changed
        running = app_client.services.decisions.shadow
        assert (running[0] if running else None) == (version if method == "DELETE" else None)
        allowed = app_client.client.request(method, url, headers=app_client.key("rules:write"))
        assert allowed.status_code == 200, allowed.text


class TestShadowAcrossRestarts:
    def test_running_shadow_is_reloaded(self, app_client: Api, database_url: str) -> None:
        version = upload(app_client, EVERY_OUTFLOW)
        start_shadow(app_client, version)
        events = traffic()
        for event in events[:3]:
            app_client.decide(event)
        with other_app(database_url) as restarted:
            shadow = restarted.services.decisions.shadow
            assert shadow is not None
            assert shadow[0] == version
            decided = [restarted.decide(e) for e in events[3:]]
            assert [d["action"] for d in decided] == LIVE_ACTIONS[3:]
            assert {d["ruleset_version"] for d in decided} == {1}
            body = report(restarted, version)
        assert body["running"] is True
        assert body["events"] == 7
        assert body["shadow_actions"] == counts(allow=3, intercept=4)
        assert body["by_transition"] == {"allow->intercept": 3}

    def test_stopped_shadow_stays_stopped(self, app_client: Api, database_url: str) -> None:
        version = upload(app_client, EVERY_OUTFLOW)
        start_shadow(app_client, version)
        app_client.client.delete(f"/v1/rulesets/{version}/shadow", headers=app_client.admin)
        with other_app(database_url) as restarted:
            assert restarted.services.decisions.shadow is None
            restarted.decide(make_event())
            assert report(restarted, version)["events"] == 0
