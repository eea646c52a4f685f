"""The console's changes to what decides are audited like the API's: in the transaction of the
change, with the signed-in user, the precise target and the client address."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from fixtures import Api, sign_in
from lendguard.auth import audit
from lendguard.models.access import AuditEntry

RULES = """\
name: console-audit
rules:
  - id: every-outflow
    category: fraud
    when: is_outflow
    action: remind
    reason: EVERY_OUTFLOW
    message: {zh-CN: "请核实收款人", en: "check the payee"}
    explanation: {zh-CN: "每笔转出都会提醒。", en: "Every payment out gets a reminder."}
"""


def _last_entry(api: Api) -> tuple[str, str, str, str | None]:
    with api.services.decisions.db.connect() as conn:
        row = conn.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.ip)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).one()
    return (row.actor, row.action, row.target, row.ip)


def _refuse(*_: Any, **__: Any) -> int:
    raise RuntimeError("the audit log cannot be written")


def test_a_list_entry_added_in_the_console_is_audited_with_its_id(case_app: Api) -> None:
    admin = sign_in(case_app.app, case_app.services, "admin")
    posted = admin.post(
        "/console/lists",
        data={
            "csrf": admin.csrf,
            "kind": "entry",
            "list_type": "deny",
            "field": "payee",
            "value": "mule-account-7",
            "reason": "confirmed mule",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    (entry,) = case_app.services.decisions.lists.rows()["entries"]
    assert _last_entry(case_app) == (
        admin.actor,
        "lists.add",
        f"list_entry:{entry['id']}",
        "testclient",
    )


def test_an_approval_whose_audit_fails_leaves_the_live_rule_set_alone(
    case_app: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    decisions = case_app.services.decisions
    version = decisions.rulesets.upload(RULES, "maker")["version"]
    live = decisions.ruleset_version
    approver = sign_in(case_app.app, case_app.services, "approver")
    monkeypatch.setattr(audit, "record", _refuse)
    with pytest.raises(RuntimeError, match="audit log"):
        approver.post(
            f"/console/rules/{version}/approve",
            data={"csrf": approver.csrf},
            follow_redirects=False,
        )
    monkeypatch.undo()
    assert decisions.ruleset_version == live
    approved = approver.post(
        f"/console/rules/{version}/approve", data={"csrf": approver.csrf}, follow_redirects=False
    )
    assert approved.status_code == 303, approved.text
    assert decisions.ruleset_version == version
    assert _last_entry(case_app) == (
        approver.actor,
        "rulesets.approve_activate",
        f"ruleset:{version}",
        "testclient",
    )
