"""An operator's conduct act (a flag raised or ended, a marketing choice, a third party's
opt-out, inconvenient times) is audited in the transaction that records it: when the audit entry
cannot be written nothing is recorded (both databases)."""

from __future__ import annotations

from typing import Any

import pytest

from audit_failure import AuditRefused, refuse_audit
from fixtures import Api
from lendguard.auth import audit

pytestmark = pytest.mark.usefixtures("pinned_clock")

FLAG = {"customer_id": "c-1", "flag": "marketing_suppressed", "reason": "distress"}
PREFERENCES: list[tuple[str, dict[str, Any]]] = [
    (
        "conduct.marketing",
        {"kind": "marketing", "customer_id": "c-1", "channel": "sms", "opted_out": True},
    ),
    (
        "conduct.third_party_opt_out",
        {"kind": "third_party_opt_out", "debtor_id": "c-1", "third_party_id": "tp-9"},
    ),
    (
        "conduct.inconvenient_times",
        {
            "kind": "inconvenient_times",
            "debtor_id": "c-1",
            "windows": [{"start": "12:00", "end": "13:30"}],
        },
    ),
]


def _actions(api: Api) -> list[str]:
    return [e["action"] for e in audit.entries(api.services.decisions.db)]


def _recorded(api: Api) -> dict[str, Any]:
    return api.client.get(
        "/v1/conduct/preferences", params={"customer_id": "c-1"}, headers=api.admin
    ).json()


def test_a_flag_whose_audit_entry_fails_is_neither_raised_nor_ended(
    app_client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = app_client.services.conduct.flags
    refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        app_client.client.post("/v1/conduct/flags", json=FLAG, headers=app_client.admin)
    monkeypatch.undo()
    assert flags.flags("c-1") == []
    raised = app_client.client.post("/v1/conduct/flags", json=FLAG, headers=app_client.admin)
    assert raised.status_code == 201, raised.text
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        app_client.client.delete(
            "/v1/conduct/flags/c-1/marketing_suppressed", headers=app_client.admin
        )
    monkeypatch.undo()
    assert attempted == ["conduct.flag_cleared"]
    assert [f["flag"] for f in flags.flags("c-1")] == ["marketing_suppressed"]
    assert flags.flags("c-1")[0]["until"] is None
    assert _actions(app_client).count("conduct.flag_set") == 1
    assert "conduct.flag_cleared" not in _actions(app_client)


@pytest.mark.parametrize(("action", "body"), PREFERENCES, ids=[a for a, _ in PREFERENCES])
def test_a_preference_whose_audit_entry_fails_is_not_recorded(
    app_client: Api, monkeypatch: pytest.MonkeyPatch, action: str, body: dict[str, Any]
) -> None:
    before = _recorded(app_client)
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        app_client.client.post("/v1/conduct/preferences", json=body, headers=app_client.admin)
    monkeypatch.undo()
    assert attempted == [action]
    assert _recorded(app_client) == before
    recorded = app_client.client.post(
        "/v1/conduct/preferences", json=body, headers=app_client.admin
    )
    assert recorded.status_code == 201, recorded.text
    assert _recorded(app_client) != before
    assert _actions(app_client).count(action) == 1
