"""A deletion request's erasure and a data-key rotation are audited in the transaction that
makes them: when the audit entry cannot be written the change is rolled back (the marketing
preferences stay, the request stays pending, the old key is not retired), on both databases."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, insert, select

from audit_failure import AuditRefused, refuse_audit
from fixtures import PINNED_NOW, Api
from lendguard.auth import audit
from lendguard.db import make_engine
from lendguard.models.conduct import MarketingPreference
from lendguard.privacy.vault import Vault

pytestmark = pytest.mark.usefixtures("pinned_clock")


def _preferences(api: Api, customer_id: str) -> int:
    with api.services.decisions.db.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(MarketingPreference)
                .where(MarketingPreference.customer_id == customer_id)
            ).scalar_one()
        )


def test_a_deletion_whose_audit_entry_fails_erases_nothing(
    app_client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_client.services.decisions.db.begin() as conn:
        conn.execute(
            insert(MarketingPreference),
            {
                "customer_id": "c-9",
                "channel": "*",
                "opted_out": False,
                "at": PINNED_NOW,
                "source": "app",
                "actor": "c-9",
                "recorded_at": PINNED_NOW,
            },
        )
    created = app_client.client.post(
        "/v1/privacy/requests",
        json={"customer_id": "c-9", "kind": "delete"},
        headers=app_client.admin,
    ).json()
    verified = app_client.client.post(
        f"/v1/privacy/requests/{created['id']}/verify",
        json={"method": "sms_code"},
        headers=app_client.admin,
    )
    assert verified.status_code == 200, verified.text
    fulfil = f"/v1/privacy/requests/{created['id']}/fulfil"
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        app_client.client.post(fulfil, headers=app_client.admin)
    monkeypatch.undo()
    assert attempted == ["privacy.request_complete"]
    assert _preferences(app_client, "c-9") == 1
    assert app_client.services.privacy_requests.get(created["id"])["status"] == "pending"
    done = app_client.client.post(fulfil, headers=app_client.admin)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "complete"
    assert _preferences(app_client, "c-9") == 0


def test_a_rotation_whose_audit_entry_fails_retires_no_key(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(database_url)
    try:
        vault = Vault(engine, os.urandom(32), b"pii-key")
        tokens = [vault.put("phone", f"1380000{n:04d}", f"c-{n}") for n in range(3)]
        attempted = refuse_audit(monkeypatch)
        with pytest.raises(AuditRefused):
            vault.rotate(batch=2, actor="os:operator")
        monkeypatch.undo()
        assert attempted == ["keys.rotate"]
        # the new key and the re-encrypted rows are resumable work; the old key's retirement
        # (the rotation's completion) rolled back with its entry
        assert {k["version"]: k["state"] for k in vault.key_versions()} == {
            1: "retiring",
            2: "active",
        }
        assert "keys.rotate" not in {e["action"] for e in audit.entries(engine)}
        result = vault.rotate(batch=2, actor="os:operator")
        # the rerun makes its own key and retires both older ones
        assert result["retired_keys"] == 2
        assert {k["version"]: k["state"] for k in vault.key_versions()} == {
            1: "retired",
            2: "retired",
            3: "active",
        }
        entry = audit.entries(engine, limit=1)[0]
        assert (entry["action"], entry["target"], entry["detail"]) == (
            "keys.rotate",
            f"vault:key:{result['active_version']}",
            result,
        )
        assert [vault.get("phone", t) for t in tokens] == [f"1380000{n:04d}" for n in range(3)]
    finally:
        engine.dispose()
