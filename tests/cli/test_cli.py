"""The ``lendguard`` command through Typer's test runner, on a SQLite database in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from starlette.testclient import TestClient
from typer.testing import CliRunner

from fixtures import count_rows, make_event, r39_scam_events
from lendguard.app import create_app
from lendguard.auth.service import ApiKeyService, Scope
from lendguard.cli.main import app
from lendguard.config import Settings, get_settings
from lendguard.db import make_engine

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "src/lendguard/decisions/rules/default.yaml"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[CliRunner]:
    """A runner whose commands use a fresh SQLite database; global state is restored after."""
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LENDGUARD_STATE_BACKEND", "memory")
    monkeypatch.delenv("LENDGUARD_REDIS_URL", raising=False)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    # commands configure logging onto the runner's (now closed) stderr: undo that
    structlog.configure(**logging_config)


def invoke(runner: CliRunner, args: list[str], stdin: Any = None) -> Any:
    return runner.invoke(app, args, input=stdin, catch_exceptions=False)


class TestRulesCheck:
    def test_default_file_is_ok(self, cli: CliRunner) -> None:
        result = invoke(cli, ["rules", "check", str(DEFAULT_RULES)])
        assert result.exit_code == 0, result.output
        assert "ok," in result.stdout
        assert "rules" in result.stdout

    def test_broken_file_prints_file_line_column(self, cli: CliRunner, tmp_path: Path) -> None:
        text = DEFAULT_RULES.read_text(encoding="utf-8")
        broken_text = text.replace("    action: intercept\n", "    action: detonate\n", 1)
        lines = broken_text.splitlines()
        line = lines.index("    action: detonate") + 1
        broken = tmp_path / "broken.yaml"
        broken.write_text(broken_text, encoding="utf-8")

        result = invoke(cli, ["rules", "check", str(broken)])

        assert result.exit_code == 1
        assert f"{broken}:{line}:13: action must be one of" in result.stderr
        assert "ok," not in result.stdout

    def test_syntax_error_position(self, cli: CliRunner, tmp_path: Path) -> None:
        broken = tmp_path / "syntax.yaml"
        broken.write_text("name: x\nrules:\n  - id: a\n    when: a: b\n", encoding="utf-8")
        result = invoke(cli, ["rules", "check", str(broken)])
        assert result.exit_code == 1
        assert f"{broken}:4:12: YAML syntax error" in result.stderr

    def test_missing_file(self, cli: CliRunner, tmp_path: Path) -> None:
        result = invoke(cli, ["rules", "check", str(tmp_path / "nope.yaml")])
        assert result.exit_code == 1
        assert "nope.yaml" in result.stderr


class TestApiKeys:
    def test_created_key_authenticates_with_its_scopes(
        self, cli: CliRunner, sqlite_url: str
    ) -> None:
        result = invoke(cli, ["apikeys", "create", "--name", "x", "--scopes", "events:write"])
        assert result.exit_code == 0, result.output
        secret = result.stdout.strip()
        assert secret.startswith("lg_")
        assert len(secret) >= 40
        engine = make_engine(sqlite_url)
        try:
            principal = ApiKeyService(engine).authenticate(secret)
        finally:
            engine.dispose()
        assert principal is not None
        assert principal.name == "x"
        assert principal.has(Scope.events_write)
        assert not principal.has(Scope.decisions_read)

    def test_created_key_works_over_http(self, cli: CliRunner, sqlite_url: str) -> None:
        secret = invoke(
            cli, ["apikeys", "create", "--name", "lender", "--scopes", "events:write"]
        ).stdout.strip()
        application = create_app(
            Settings(_env_file=None, database_url=sqlite_url, log_level="WARNING")
        )
        services = application.state.services
        try:
            with TestClient(application) as client:
                headers = {"Authorization": f"Bearer {secret}"}
                decided = client.post("/v1/events", json=make_event(), headers=headers)
                read = client.get("/v1/customers/cust-1/decisions", headers=headers)
        finally:
            services.close()
            services.decisions.db.dispose()
        assert decided.status_code == 200, decided.text
        assert read.status_code == 403

    def test_unknown_scope_is_refused(self, cli: CliRunner, sqlite_url: str) -> None:
        result = invoke(cli, ["apikeys", "create", "--name", "x", "--scopes", "root"])
        assert result.exit_code == 2
        assert result.stdout.strip() == ""
        engine = make_engine(sqlite_url)
        try:
            assert count_rows(engine, "api_keys") == 0
        finally:
            engine.dispose()


class TestDecide:
    def test_event_on_stdin_prints_the_decision_as_json(self, cli: CliRunner) -> None:
        event = make_event(amount="120")
        result = invoke(cli, ["decide"], stdin=json.dumps(event))
        assert result.exit_code == 0, result.output
        decision = json.loads(result.stdout)
        assert decision["event_id"] == event["event_id"]
        assert decision["action"] == "allow"
        assert decision["ruleset_version"] == 1
        assert decision["decision_id"].startswith("dec_")

    def test_state_carries_over_between_invocations(self, cli: CliRunner) -> None:
        disbursement, transfer = r39_scam_events()
        first = invoke(cli, ["decide"], stdin=json.dumps(disbursement))
        second = invoke(cli, ["decide"], stdin=json.dumps(transfer))
        assert first.exit_code == second.exit_code == 0, second.output
        decision = json.loads(second.stdout)
        assert decision["action"] == "intercept"
        assert "DELAY" in decision["measures"]

    @pytest.mark.parametrize(
        ("stdin", "expected"),
        [
            ('{"event_id": ', "malformed JSON"),
            (json.dumps(make_event(amount="-3")), '"field": "amount"'),
            (json.dumps(make_event(type="teleport")), '"field": "type"'),
        ],
        ids=["malformed", "negative-amount", "unknown-type"],
    )
    def test_bad_input_exit_2_and_nothing_written(
        self, cli: CliRunner, sqlite_url: str, stdin: str, expected: str
    ) -> None:
        result = invoke(cli, ["decide"], stdin=stdin)
        assert result.exit_code == 2
        assert expected in result.stderr
        assert result.stdout.strip() == ""
        engine = make_engine(sqlite_url)
        try:
            assert count_rows(engine, "events") == 0
        finally:
            engine.dispose()
