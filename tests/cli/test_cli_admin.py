"""Administrative commands: ``apikeys create|list|revoke|expire`` with expiries, and every
administrative action in the audit trail with the operating-system user as its actor."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
import time_machine
from typer.testing import CliRunner

from lendguard.auth import audit
from lendguard.auth.service import ApiKeyService
from lendguard.cli.main import app
from lendguard.config import get_settings
from lendguard.db import make_engine
from lendguard.simulate.generator import generate

T0 = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


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


def invoke(runner: CliRunner, args: list[str], stdin: str | None = None) -> Any:
    return runner.invoke(app, args, input=stdin, catch_exceptions=False)


def trail(url: str) -> list[dict[str, Any]]:
    """The audit trail, oldest first, and a check that its chain is intact."""
    engine = make_engine(url)
    try:
        assert audit.verify(engine).ok
        return list(reversed(audit.entries(engine, limit=1000)))
    finally:
        engine.dispose()


def create_key(runner: CliRunner, *extra: str) -> tuple[str, str]:
    """(secret, key id) of a new key; the id is the one ``apikeys list`` shows."""
    args = ["apikeys", "create", "--name", "lender", "--scopes", "events:write", *extra]
    result = invoke(runner, args)
    assert result.exit_code == 0, result.output
    key_id = result.stderr.split()[1]  # "key <id> (...)"
    listing = json.loads(invoke(runner, ["apikeys", "list"]).stdout)
    assert key_id in {k["id"] for k in listing}
    return result.stdout.strip(), key_id


class TestApiKeysCommands:
    def test_create_prints_only_the_secret_and_names_the_key_on_stderr(
        self, cli: CliRunner
    ) -> None:
        result = invoke(cli, ["apikeys", "create", "--name", "x", "--scopes", "events:write"])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().startswith("lg_")
        assert len(result.stdout.strip().splitlines()) == 1
        [key] = json.loads(invoke(cli, ["apikeys", "list"]).stdout)
        assert key["id"] in result.stderr
        assert key["state"] == "active"
        assert key["expires_at"] is None
        assert result.stdout.strip() not in invoke(cli, ["apikeys", "list"]).stdout

    @pytest.mark.parametrize(
        ("text", "delta"),
        [
            ("30d", timedelta(days=30)),
            ("12h", timedelta(hours=12)),
            ("2w", timedelta(weeks=2)),
            ("90m", timedelta(minutes=90)),
        ],
    )
    def test_expires_in(self, cli: CliRunner, text: str, delta: timedelta) -> None:
        with time_machine.travel(T0, tick=False):
            _, key_id = create_key(cli, "--expires-in", text)
            [key] = json.loads(invoke(cli, ["apikeys", "list"]).stdout)
        assert key["id"] == key_id
        assert datetime.fromisoformat(key["expires_at"]) == T0 + delta

    def test_expires_at(self, cli: CliRunner) -> None:
        with time_machine.travel(T0, tick=False):
            create_key(cli, "--expires-at", "2026-12-31T00:00:00+08:00")
            [key] = json.loads(invoke(cli, ["apikeys", "list"]).stdout)
        assert datetime.fromisoformat(key["expires_at"]) == datetime(
            2026, 12, 30, 16, 0, tzinfo=UTC
        )

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (["--expires-at", "2026-12-31T00:00:00"], "UTC offset"),
            (["--expires-at", "not a time"], "expires-at"),
            (["--expires-at", "2026-01-01T00:00:00+00:00"], "expired at birth"),
            (["--expires-in", "30x"], "expires-in"),
            (["--expires-in", "0d"], "expires-in"),
            (["--expires-in", "30d", "--expires-at", "2026-12-31T00:00:00+08:00"], "one of"),
        ],
    )
    def test_bad_expiry_is_refused_and_nothing_stored(
        self, cli: CliRunner, args: list[str], fragment: str
    ) -> None:
        with time_machine.travel(T0, tick=False):
            result = invoke(
                cli, ["apikeys", "create", "--name", "x", "--scopes", "events:write", *args]
            )
        assert result.exit_code == 2, result.output
        assert result.stdout.strip() == ""
        assert fragment in result.stderr
        assert json.loads(invoke(cli, ["apikeys", "list"]).stdout) == []

    def test_revoke_refuses_the_key_everywhere(self, cli: CliRunner, sqlite_url: str) -> None:
        secret, key_id = create_key(cli)
        engine = make_engine(sqlite_url)
        try:
            running = ApiKeyService(engine)
            assert running.authenticate(secret) is not None
            result = invoke(cli, ["apikeys", "revoke", key_id])
            assert result.exit_code == 0, result.output
            body = json.loads(result.stdout)
            assert body["state"] == "revoked"
            assert body["revoked_by"] == "os:alice"
            running.cache_ttl_s = 0.0  # what a running server sees at most 0.5 s later
            assert running.authenticate(secret) is None
        finally:
            engine.dispose()

    def test_expire_now_or_at(self, cli: CliRunner) -> None:
        with time_machine.travel(T0, tick=False):
            _, first = create_key(cli)
            _, second = create_key(cli)
            now = invoke(cli, ["apikeys", "expire", first])
            later = invoke(cli, ["apikeys", "expire", second, "--at", "2026-03-03T00:00:00Z"])
        assert now.exit_code == 0, now.output
        assert json.loads(now.stdout)["state"] == "expired"
        assert later.exit_code == 0, later.output
        assert json.loads(later.stdout)["state"] == "active"
        assert json.loads(later.stdout)["expires_at"].startswith("2026-03-03T00:00:00")

    @pytest.mark.parametrize("command", ["revoke", "expire"])
    def test_an_unknown_key(self, cli: CliRunner, command: str) -> None:
        result = invoke(cli, ["apikeys", command, "key_nope"])
        assert result.exit_code == 2
        assert "key_nope" in result.stderr


class TestAdministrativeActionsAreAudited:
    def test_api_key_commands(self, cli: CliRunner, sqlite_url: str) -> None:
        with time_machine.travel(T0, tick=False):
            _, key_id = create_key(cli, "--expires-in", "30d")
        invoke(cli, ["apikeys", "expire", key_id, "--at", "2026-03-03T00:00:00Z"])
        invoke(cli, ["apikeys", "revoke", key_id])
        entries = trail(sqlite_url)
        assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
            ("os:alice", "apikeys.create", f"apikey:{key_id}"),
            ("os:alice", "read.apikeys", "apikeys"),  # create_key lists the keys
            ("os:alice", "apikeys.expire", f"apikey:{key_id}"),
            ("os:alice", "apikeys.revoke", f"apikey:{key_id}"),
        ]
        assert entries[0]["detail"] == {
            "name": "lender",
            "scopes": ["events:write"],
            "expires_at": (T0 + timedelta(days=30)).isoformat(),
        }

    def test_users_create(self, cli: CliRunner, sqlite_url: str) -> None:
        args = ["users", "create", "--username", "ops", "--role", "admin", "--password-stdin"]
        result = invoke(cli, args, stdin="a-long-password-1\n")
        assert result.exit_code == 0, result.output
        [entry] = trail(sqlite_url)
        assert (entry["actor"], entry["action"], entry["target"]) == (
            "os:alice",
            "users.create",
            "user:ops",
        )
        assert entry["detail"] == {"role": "admin"}

    def test_refused_users_create_leaves_no_entry(self, cli: CliRunner, sqlite_url: str) -> None:
        args = ["users", "create", "--username", "ops", "--role", "root", "--password-stdin"]
        assert invoke(cli, args, stdin="a-long-password-1\n").exit_code == 2
        assert trail(sqlite_url) == []

    def test_vault_keys(
        self, cli: CliRunner, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert invoke(cli, ["keys", "rotate"]).exit_code == 0
        assert invoke(cli, ["keys", "list"]).exit_code == 0
        entries = trail(sqlite_url)
        assert [(e["actor"], e["action"]) for e in entries] == [
            ("os:alice", "keys.rotate"),
            ("os:alice", "read.vault_keys"),
        ]
        assert entries[0]["target"] == "vault:key:1"
        assert entries[0]["detail"]["active_version"] == 1

    def test_labels_export(self, cli: CliRunner, sqlite_url: str, tmp_path: Path) -> None:
        out = tmp_path / "labels.csv"
        assert invoke(cli, ["labels", "export", "--out", str(out)]).exit_code == 0
        [entry] = trail(sqlite_url)
        assert (entry["actor"], entry["action"], entry["target"]) == (
            "os:alice",
            "read.labels_export",
            "labels",
        )
        assert entry["detail"] == {"rows": 0, "out": str(out)}

    def test_cases_sweep(self, cli: CliRunner, sqlite_url: str) -> None:
        assert invoke(cli, ["cases", "sweep"]).exit_code == 0
        [entry] = trail(sqlite_url)
        assert (entry["actor"], entry["action"], entry["detail"]) == (
            "os:alice",
            "cases.sweep",
            {"filed": 0},
        )

    def test_model_register(self, cli: CliRunner, sqlite_url: str, tmp_path: Path) -> None:
        population = generate(
            customers=150, days=10, seed=2, victim_rate=0.2, ring_members_rate=0.05
        )
        history = tmp_path / "events.jsonl"
        history.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in population.events))
        out = tmp_path / "model"
        trained = invoke(cli, ["model", "train", "--events", str(history), "--out", str(out)])
        assert trained.exit_code == 0, trained.output
        result = invoke(cli, ["model", "register", str(out)])
        assert result.exit_code == 0, result.output
        version = json.loads(result.stdout)["version"]
        [entry] = trail(sqlite_url)
        assert (entry["actor"], entry["action"], entry["target"]) == (
            "os:alice",
            "models.register",
            f"model:{version}",
        )

    def test_an_operator_without_a_login_name(
        self, cli: CliRunner, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def no_name() -> str:
            raise OSError("No username set in the environment")

        monkeypatch.setattr(getpass, "getuser", no_name)
        assert invoke(cli, ["cases", "sweep"]).exit_code == 0
        [entry] = trail(sqlite_url)
        assert entry["actor"] == f"os:uid-{os.getuid()}"
