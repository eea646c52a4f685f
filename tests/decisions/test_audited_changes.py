"""Every change to what decides is audited in its own transaction: the change and its audit
entry commit together, and a change whose audit entry cannot be written does not happen.

Each kind of change is made once with the audit insert failing (nothing changed, neither in the
database nor in the live configuration) and once normally (one entry, naming the actor, the
action, the target and the client address), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from test_models_api import (  # the trained-model fixtures of the model API tests
    model_dir,  # noqa: F401  (fixture)
    upload,  # noqa: F401  (fixture)
)

from fixtures import Api, count_rows, make_event
from lendguard.auth import audit
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.service import DecisionService
from lendguard.events.parse import parse_event
from lendguard.models.access import AuditEntry

ServiceFactory = Callable[..., DecisionService]

CALL_RULES = """\
name: calls
rules:
  - id: call
    category: fraud
    when: is_outflow and call_active
    action: dissuade
    reason: CALL
    message: {zh-CN: "通话中转账", en: "payment during a call"}
    explanation: {zh-CN: "通话中的转账会先核实。", en: "A payment during a call is checked first."}
"""

IP = "203.0.113.9"
LATER = datetime(2031, 1, 1, tzinfo=UTC)


class AuditDown(RuntimeError):
    """The audit insert failed (a full disk, a lost connection)."""


def _refuse(*_: Any, **__: Any) -> int:
    raise AuditDown("the audit log cannot be written")


def _snapshot(service: DecisionService) -> dict[str, Any]:
    """Everything a change of the decisions area could touch: its rows and the live
    configuration."""
    with service.db.connect() as conn:
        durable = {
            "rulesets": count_rows(service.db, "rulesets"),
            "active_ruleset": repo.active_version(conn),
            "running_shadow": repo.running_shadow(conn),
            "models": count_rows(service.db, "model_versions"),
            "active_model": repo.active_model(conn),
            "running_challenger": repo.running_challenger(conn),
            "list_entries": [e["id"] for e in repo.list_entries(conn)],
            "suppressions": [s["id"] for s in repo.suppressions(conn)],
            "labels": count_rows(service.db, "labels"),
        }
    live = service.configuration.active
    return {
        **durable,
        "live_ruleset": live.ruleset_version,
        "live_shadow": None if live.shadow is None else live.shadow.version,
        "live_model": None if live.model is None else live.model.version,
        "live_challenger": None if live.challenger is None else live.challenger.version,
        "live_lists": (dict(live.lists.deny), dict(live.lists.allow), live.lists.suppressions),
    }


def _entries(service: DecisionService) -> list[tuple[str, str, str, str | None]]:
    with service.db.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.ip).order_by(
                AuditEntry.id
            )
        ).all()
    return [tuple(r) for r in rows]


@dataclass(frozen=True)
class Change:
    """One kind of change: what must exist before it, the change itself (by ``actor`` from
    ``ip``), and the audit entry it writes as ``(action, target)``."""

    # Given the service and a trained model's parts (``booster``, ``calibration``, ``card``).
    prepare: Callable[[DecisionService, dict[str, Any]], dict[str, Any]]
    make: Callable[[DecisionService, dict[str, Any], str], Any]
    audited_as: Callable[[dict[str, Any], Any], tuple[str, str]]


def _nothing(_: DecisionService, __: dict[str, Any]) -> dict[str, Any]:
    return {}


def _uploaded(service: DecisionService, _: dict[str, Any]) -> dict[str, Any]:
    return {"version": service.rulesets.upload(CALL_RULES, "maker")["version"]}


def _shadowing(service: DecisionService, model: dict[str, Any]) -> dict[str, Any]:
    held = _uploaded(service, model)
    service.rulesets.start_shadow(held["version"], "maker")
    return held


def _registered(service: DecisionService, model: dict[str, Any]) -> dict[str, Any]:
    version = service.models.register(
        model["booster"], model["calibration"], model["card"], "maker"
    )
    return {"version": version["version"]}


def _challenging(service: DecisionService, model: dict[str, Any]) -> dict[str, Any]:
    champion = _registered(service, model)["version"]
    service.models.activate(champion, "checker")
    held = _registered(service, model)
    service.models.start_challenger(held["version"], "checker")
    return held


def _listed(service: DecisionService, _: dict[str, Any]) -> dict[str, Any]:
    return {"id": service.lists.add_entry("deny", "payee", "payee-9", "confirmed mule", "maker")}


def _snoozed(service: DecisionService, _: dict[str, Any]) -> dict[str, Any]:
    return {"id": service.lists.add_suppression("cust-1", "call", LATER, "verified", "maker")}


def _decided(service: DecisionService, _: dict[str, Any]) -> dict[str, Any]:
    raw = make_event(event_id="evt-label-1")
    service.decide(parse_event(raw))
    return {"event_id": raw["event_id"]}


CHANGES: dict[str, Change] = {
    "ruleset upload": Change(
        _nothing,
        lambda s, _, ip: s.rulesets.upload(CALL_RULES, "checker", "calls.yaml", ip),
        lambda _, result: ("rulesets.upload", f"ruleset:{result['version']}"),
    ),
    "ruleset activation": Change(
        _uploaded,
        lambda s, held, ip: s.rulesets.activate(held["version"], "checker", ip),
        lambda held, _: ("rulesets.approve_activate", f"ruleset:{held['version']}"),
    ),
    "shadow start": Change(
        _uploaded,
        lambda s, held, ip: s.rulesets.start_shadow(held["version"], "checker", ip),
        lambda held, _: ("rulesets.shadow_start", f"ruleset:{held['version']}"),
    ),
    "shadow stop": Change(
        _shadowing,
        lambda s, held, ip: s.rulesets.stop_shadow(held["version"], "checker", ip),
        lambda held, _: ("rulesets.shadow_stop", f"ruleset:{held['version']}"),
    ),
    "model registration": Change(
        lambda _, model: model,
        lambda s, model, ip: s.models.register(
            model["booster"], model["calibration"], model["card"], "checker", ip
        ),
        lambda _, result: ("models.register", f"model:{result['version']}"),
    ),
    "model activation": Change(
        _registered,
        lambda s, held, ip: s.models.activate(held["version"], "checker", ip),
        lambda held, _: ("models.approve_activate", f"model:{held['version']}"),
    ),
    "challenger start": Change(
        lambda s, model: {"version": _registered(s, model)["version"]},
        lambda s, held, ip: s.models.start_challenger(held["version"], "checker", ip),
        lambda held, _: ("models.challenger_start", f"model:{held['version']}"),
    ),
    "challenger stop": Change(
        _challenging,
        lambda s, held, ip: s.models.stop_challenger(held["version"], "checker", ip),
        lambda held, _: ("models.challenger_stop", f"model:{held['version']}"),
    ),
    "list entry added": Change(
        _nothing,
        lambda s, _, ip: s.lists.add_entry(
            "deny", "payee", "payee-7", "confirmed mule", "checker", None, ip
        ),
        lambda _, entry_id: ("lists.add", f"list_entry:{entry_id}"),
    ),
    "list entry removed": Change(
        _listed,
        lambda s, held, ip: s.lists.remove_entry(held["id"], "checker", ip),
        lambda held, _: ("lists.remove", f"list_entry:{held['id']}"),
    ),
    "suppression added": Change(
        _nothing,
        lambda s, _, ip: s.lists.add_suppression(
            "cust-1", "call", LATER - timedelta(days=1), "verified", "checker", ip
        ),
        lambda _, suppression_id: ("suppressions.add", f"suppression:{suppression_id}"),
    ),
    "suppression removed": Change(
        _snoozed,
        lambda s, held, ip: s.lists.remove_suppression(held["id"], "checker", ip),
        lambda held, _: ("suppressions.remove", f"suppression:{held['id']}"),
    ),
    "labels recorded": Change(
        _decided,
        lambda s, held, ip: s.labels.record(
            [{"event_id": held["event_id"], "label": 1}], "checker", ip
        ),
        lambda _, __: ("labels.record", "labels"),
    ),
}


@pytest.fixture
def service(database_url: str, service_factory: ServiceFactory) -> DecisionService:
    made = service_factory(database_url)
    # The suppressions name a rule of the active rule set.
    made.rulesets.activate(made.rulesets.upload(CALL_RULES, "setup")["version"], "setup-checker")
    return made


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_change_whose_audit_entry_fails_does_not_happen(
    kind: str,
    service: DecisionService,
    upload: dict[str, Any],  # noqa: F811  (the trained model's parts)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change = CHANGES[kind]
    held = change.prepare(service, upload)
    before = _snapshot(service)
    entries = _entries(service)
    monkeypatch.setattr(audit, "record", _refuse)
    with pytest.raises(AuditDown):
        change.make(service, held, IP)
    monkeypatch.undo()
    assert _snapshot(service) == before
    assert _entries(service) == entries


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_change_writes_one_audit_entry_naming_actor_action_target_and_address(
    kind: str,
    service: DecisionService,
    upload: dict[str, Any],  # noqa: F811  (the trained model's parts)
) -> None:
    change = CHANGES[kind]
    held = change.prepare(service, upload)
    before = _snapshot(service)
    entries = _entries(service)
    result = change.make(service, held, IP)
    assert _snapshot(service) != before
    action, target = change.audited_as(held, result)
    assert _entries(service) == [*entries, ("checker", action, target, IP)]


class TestOverHttp:
    """The endpoints hand the caller and its address to the change, and write nothing else."""

    def test_a_shadow_run_started_and_stopped_over_the_api_is_audited_once_each(
        self, app_client: Api
    ) -> None:
        uploaded = app_client.client.post(
            "/v1/rulesets", json={"source": CALL_RULES}, headers=app_client.admin
        )
        assert uploaded.status_code == 201, uploaded.text
        version = uploaded.json()["version"]
        path = f"/v1/rulesets/{version}/shadow"
        assert app_client.client.post(path, headers=app_client.admin).status_code == 200
        assert app_client.client.delete(path, headers=app_client.admin).status_code == 200
        decisions = app_client.services.decisions
        actions = [entry[1:] for entry in _entries(decisions)]
        assert actions == [
            ("rulesets.upload", f"ruleset:{version}", "testclient"),
            ("rulesets.shadow_start", f"ruleset:{version}", "testclient"),
            ("rulesets.shadow_stop", f"ruleset:{version}", "testclient"),
        ]

    def test_a_list_entry_whose_audit_fails_is_a_server_error_and_not_stored(
        self, app_client: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(audit, "record", _refuse)
        client = TestClient(app_client.app, raise_server_exceptions=False)
        response = client.post(
            "/v1/lists",
            json={"list_type": "deny", "field": "payee", "value": "p-1", "reason": "mule"},
            headers=app_client.admin,
        )
        assert response.status_code == 500
        assert app_client.rows("list_entries") == 0
        assert app_client.services.decisions.configuration.active.lists.deny == {}
