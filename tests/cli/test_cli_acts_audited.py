"""The CLI's administrative commands write their audit entry in the transaction of the change:
when the entry cannot be written, ``users create`` fails and creates no user (the sweep's and
the key rotation's rollbacks are shown on the service in tests/cases and tests/privacy)."""

from __future__ import annotations

import getpass
from collections.abc import Iterator

import pytest
import structlog
from typer.testing import CliRunner

from audit_failure import AuditRefused, refuse_audit
from lendguard.auth import audit
from lendguard.auth.users import UserService
from lendguard.cli.main import app
from lendguard.config import get_settings
from lendguard.db import make_engine


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[CliRunner]:
    """A runner on a fresh SQLite database, run by the operating-system user ``alice``."""
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LENDGUARD_STATE_BACKEND", "memory")
    monkeypatch.delenv("LENDGUARD_REDIS_URL", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    structlog.configure(**logging_config)


def test_users_create_whose_audit_entry_fails_creates_no_user(
    cli: CliRunner, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["users", "create", "--username", "ops", "--role", "admin", "--password-stdin"]
    attempted = refuse_audit(monkeypatch)
    with pytest.raises(AuditRefused):
        cli.invoke(app, args, input="a-long-password-1\n", catch_exceptions=False)
    monkeypatch.undo()
    assert attempted == ["users.create"]
    engine = make_engine(sqlite_url)
    try:
        assert UserService(engine).list() == []
        assert audit.entries(engine) == []
    finally:
        engine.dispose()
