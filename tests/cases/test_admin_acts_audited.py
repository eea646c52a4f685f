"""An administrator's act on cases and users is audited in the transaction that makes it: when
the audit entry cannot be written the act is rolled back whole (no case filed, no alert raised,
no user created), on both databases. A change is never left without its entry."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from audit_failure import AuditRefused, refuse_audit
from fixtures import Api, r39_scam_events
from lendguard.auth import audit
from lendguard.models import Case, CaseDecision

pytestmark = pytest.mark.usefixtures("pinned_clock")


def _actions(api: Api) -> list[str]:
    return [e["action"] for e in audit.entries(api.services.decisions.db)]


def _cases(api: Api) -> list[str]:
    with api.services.decisions.db.connect() as conn:
        return list(conn.execute(select(Case.customer_id)).scalars())


def test_a_sweep_whose_audit_entry_fails_files_nothing(
    case_app: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for event in r39_scam_events():
        case_app.decide(event)
    with case_app.services.decisions.db.begin() as conn:  # the intervention left without a case
        conn.execute(delete(CaseDecision))
        conn.execute(delete(Case))
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        case_app.client.post("/v1/cases/sweep", headers=case_app.admin)
    monkeypatch.undo()
    assert attempted == ["cases.sweep"]
    assert _cases(case_app) == []
    assert "cases.sweep" not in _actions(case_app)
    swept = case_app.client.post("/v1/cases/sweep", headers=case_app.admin)
    assert swept.json() == {"filed": 1, "released": 0}
    assert _cases(case_app) == ["student-21"]
    entry = next(
        e for e in audit.entries(case_app.services.decisions.db) if e["action"] == "cases.sweep"
    )
    assert entry["detail"] == {"filed": 1}


def test_a_stability_check_whose_audit_entry_fails_raises_no_alert(
    case_app: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = case_app.services.cases
    alerts = [{"model_version": 3, "day": "2026-11-20", "psi": 0.4, "threshold": 0.25}]
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        cases.raise_checked_alerts(
            "model:3", "model_drift", alerts, "models.stability_check", "user:ops", "10.0.0.1"
        )
    monkeypatch.undo()
    assert attempted == ["models.stability_check"]
    assert _cases(case_app) == []
    opened = cases.raise_checked_alerts(
        "model:3", "model_drift", alerts * 2, "models.stability_check", "user:ops", "10.0.0.1"
    )
    assert len(opened) == 1  # the second alert joins the case the first opened
    assert _cases(case_app) == ["model:3"]
    entry = audit.entries(case_app.services.decisions.db, limit=1)[0]
    assert (entry["action"], entry["target"], entry["detail"]) == (
        "models.stability_check",
        "model:3",
        {"alerts": 2},
    )


def test_a_user_whose_audit_entry_fails_is_not_created(
    case_app: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"username": "new-analyst", "password": "long enough pass", "role": "analyst"}
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        case_app.client.post("/v1/users", json=body, headers=case_app.admin)
    monkeypatch.undo()
    assert attempted == ["users.create"]
    assert "new-analyst" not in {u["username"] for u in case_app.services.users.list()}
    created = case_app.client.post("/v1/users", json=body, headers=case_app.admin)
    assert created.status_code == 201, created.text
    entry = audit.entries(case_app.services.decisions.db, limit=1)[0]
    assert (entry["action"], entry["target"], entry["detail"]) == (
        "users.create",
        "user:new-analyst",
        {"role": "analyst"},
    )
