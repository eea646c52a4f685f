"""A console sign-in is audited in the transaction that records it: the session opened (or
the wrong password counted towards the lock-out) and its audit entry commit together, so a
failed audit write leaves no session and no count (both databases). A refusal that changes no
account leaves its entry to the caller (the console writes it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from audit_failure import AuditRefused, refuse_audit
from lendguard.auth import audit
from lendguard.auth.users import LoginFailed, UserService
from lendguard.db import make_engine
from lendguard.models.access import ConsoleSession, User

PASSWORD = "a long enough password"

pytestmark = pytest.mark.usefixtures("pinned_clock")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _account(engine: Engine) -> tuple[int, int]:
    """(failed sign-ins counted, sessions open)."""
    with engine.connect() as conn:
        failed = conn.execute(select(User.failed_logins).where(User.username == "ana")).scalar_one()
        sessions = conn.execute(select(func.count()).select_from(ConsoleSession)).scalar_one()
    return int(failed), int(sessions)


def _entries(engine: Engine) -> list[tuple[str, str, str | None]]:
    return [(e["actor"], e["action"], e["ip"]) for e in reversed(audit.entries(engine))]


def test_a_sign_in_whose_audit_entry_fails_changes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = UserService(engine)
    users.create("ana", PASSWORD, "analyst")
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        users.login("ana", "wrong password!", "10.0.0.7")
    with pytest.raises(AuditRefused):
        users.login("ana", PASSWORD, "10.0.0.7")
    monkeypatch.undo()
    assert attempted == ["console.login_failed", "console.login"]
    assert _account(engine) == (0, 0)
    assert _entries(engine) == []


def test_each_sign_in_commits_with_its_entry(engine: Engine) -> None:
    users = UserService(engine)
    users.create("ana", PASSWORD, "analyst")
    with pytest.raises(LoginFailed) as wrong:
        users.login("ana", "wrong password!", "10.0.0.7")
    assert wrong.value.audited
    assert _account(engine) == (1, 0)
    users.login("ana", PASSWORD, "10.0.0.7")
    assert _account(engine) == (0, 1)
    with pytest.raises(LoginFailed) as unknown:
        users.login("nobody", PASSWORD, "10.0.0.7")
    assert not unknown.value.audited  # nothing changed: the console writes this refusal's entry
    assert _entries(engine) == [
        ("user:ana", "console.login_failed", "10.0.0.7"),
        ("user:ana", "console.login", "10.0.0.7"),
    ]
