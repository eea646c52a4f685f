"""Real secrets: the server refuses to start on a built-in PII key, vault master key or
(with a webhook URL) webhook secret; ``lendguard secrets generate`` makes fresh ones; the demo
keeps its own under ``var/`` (mode 0600); the README names every setting."""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.config import Settings, get_settings

README = Path(__file__).resolve().parents[2] / "README.md"
SECRETS = ("LENDGUARD_PII_KEY", "LENDGUARD_MASTER_KEY", "LENDGUARD_WEBHOOK_SECRET")


def _clear_lendguard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LENDGUARD_") and not name.startswith("LENDGUARD_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> Iterator[CliRunner]:
    """A runner in an empty folder (no .env), no LENDGUARD_ variables but the database."""
    _clear_lendguard_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", sqlite_url)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    structlog.configure(**logging_config)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """uvicorn.run replaced by a recorder: a test sees whether serve got as far as serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append({"args": a, **kw}))
    return calls


def generated(runner: CliRunner) -> dict[str, str]:
    result = runner.invoke(app, ["secrets", "generate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if line and "=" in line)
    return values


class TestServeRefusesDefaults:
    def test_defaults_are_refused_naming_each_variable(
        self, cli: CliRunner, served: list[dict[str, Any]]
    ) -> None:
        result = cli.invoke(app, ["serve"], catch_exceptions=False)
        assert result.exit_code == 2, result.output
        assert served == []
        assert "LENDGUARD_PII_KEY" in result.stderr
        assert "LENDGUARD_MASTER_KEY" in result.stderr
        assert "lendguard secrets generate" in result.stderr
        # no webhook URL: nothing is ever signed, so the default secret does not matter
        assert "LENDGUARD_WEBHOOK_SECRET" not in result.stderr

    def test_the_webhook_secret_matters_once_a_webhook_url_is_set(
        self, cli: CliRunner, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        values = generated(cli)
        monkeypatch.setenv("LENDGUARD_PII_KEY", values["LENDGUARD_PII_KEY"])
        monkeypatch.setenv("LENDGUARD_MASTER_KEY", values["LENDGUARD_MASTER_KEY"])
        monkeypatch.setenv("LENDGUARD_WEBHOOK_URL", "https://lender.example/hooks/lendguard")
        get_settings.cache_clear()
        result = cli.invoke(app, ["serve"], catch_exceptions=False)
        assert result.exit_code == 2, result.output
        assert served == []
        assert "LENDGUARD_WEBHOOK_SECRET" in result.stderr
        assert "LENDGUARD_PII_KEY" not in result.stderr
        assert "LENDGUARD_MASTER_KEY" not in result.stderr

    def test_generated_secrets_serve(
        self, cli: CliRunner, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name, value in generated(cli).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LENDGUARD_WEBHOOK_URL", "https://lender.example/hooks/lendguard")
        get_settings.cache_clear()
        result = cli.invoke(app, ["serve", "--port", "8123"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert len(served) == 1
        assert served[0]["port"] == 8123

    def test_a_dotenv_file_from_secrets_generate_serves(
        self, cli: CliRunner, served: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        result = cli.invoke(app, ["secrets", "generate"], catch_exceptions=False)
        (tmp_path / ".env").write_text(result.stdout, encoding="utf-8")
        get_settings.cache_clear()
        result = cli.invoke(app, ["serve"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert len(served) == 1

    def test_an_empty_secret_is_refused(
        self, cli: CliRunner, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        values = generated(cli)
        monkeypatch.setenv("LENDGUARD_PII_KEY", "")
        monkeypatch.setenv("LENDGUARD_MASTER_KEY", values["LENDGUARD_MASTER_KEY"])
        get_settings.cache_clear()
        result = cli.invoke(app, ["serve"], catch_exceptions=False)
        assert result.exit_code == 2, result.output
        assert "LENDGUARD_PII_KEY" in result.stderr
        assert served == []


class TestAsgiEntryRefusesDefaults:
    def _import_asgi(
        self, tmp_path: Path, extra: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LENDGUARD_")}
        env["LENDGUARD_DATABASE_URL"] = f"sqlite:///{tmp_path / 'asgi.db'}"
        env["LENDGUARD_LOG_LEVEL"] = "WARNING"
        env.update(extra)
        return subprocess.run(
            [sys.executable, "-c", "import lendguard.asgi"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def test_uvicorn_loading_the_asgi_app_with_defaults_fails_naming_the_variables(
        self, tmp_path: Path
    ) -> None:
        done = self._import_asgi(tmp_path, {})
        assert done.returncode != 0
        assert "LENDGUARD_PII_KEY" in done.stderr
        assert "LENDGUARD_MASTER_KEY" in done.stderr
        assert "lendguard secrets generate" in done.stderr
        assert "Traceback" not in done.stderr
        # refused before anything was built: no database was created
        assert not (tmp_path / "asgi.db").exists()


class TestGenerate:
    def test_fresh_values_that_pass_the_check(self, cli: CliRunner) -> None:
        from lendguard.auth.secret_settings import default_secrets

        first, second = generated(cli), generated(cli)
        assert set(first) == set(SECRETS)
        assert all(first[name] != second[name] for name in SECRETS)
        assert len(base64.b64decode(first["LENDGUARD_MASTER_KEY"], validate=True)) == 32
        assert len(first["LENDGUARD_PII_KEY"]) >= 32
        assert len(first["LENDGUARD_WEBHOOK_SECRET"]) >= 32
        settings = Settings(
            _env_file=None,
            pii_key=first["LENDGUARD_PII_KEY"],
            master_key=first["LENDGUARD_MASTER_KEY"],
            webhook_secret=first["LENDGUARD_WEBHOOK_SECRET"],
            webhook_url="https://lender.example/hook",
        )
        assert default_secrets(settings) == []

    def test_out_writes_a_private_dotenv_and_never_overwrites(
        self, cli: CliRunner, served: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        env_file = tmp_path / ".env"
        result = cli.invoke(app, ["secrets", "generate", "--out", str(env_file)])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""  # the values went to the file only
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        written = env_file.read_text()
        assert all(f"{name}=" in written for name in SECRETS)
        again = cli.invoke(app, ["secrets", "generate", "--out", str(env_file)])
        assert again.exit_code == 2
        assert env_file.read_text() == written
        get_settings.cache_clear()
        assert cli.invoke(app, ["serve"], catch_exceptions=False).exit_code == 0
        assert len(served) == 1

    def test_json(self, cli: CliRunner) -> None:
        import json

        result = cli.invoke(app, ["secrets", "generate", "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert set(json.loads(result.stdout)) == set(SECRETS)


class TestDemoSecrets:
    def test_made_once_per_checkout_with_mode_0600(self, tmp_path: Path) -> None:
        from lendguard.auth.secret_settings import default_secrets, demo_secrets

        path = tmp_path / "var" / "demo-secrets.env"
        first = demo_secrets(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert demo_secrets(path) == first  # the same values on the next run
        settings = Settings(
            _env_file=None,
            webhook_url="https://lender.example/hook",
            **{name.removeprefix("LENDGUARD_").lower(): v for name, v in first.items()},
        )
        assert default_secrets(settings) == []

    def test_a_loosened_file_is_tightened_again(self, tmp_path: Path) -> None:
        from lendguard.auth.secret_settings import demo_secrets

        path = tmp_path / "var" / "demo-secrets.env"
        first = demo_secrets(path)
        path.chmod(0o644)
        assert demo_secrets(path) == first
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_a_damaged_file_gets_the_missing_values(self, tmp_path: Path) -> None:
        from lendguard.auth.secret_settings import demo_secrets

        path = tmp_path / "var" / "demo-secrets.env"
        first = demo_secrets(path)
        path.write_text(f"LENDGUARD_PII_KEY={first['LENDGUARD_PII_KEY']}\ngarbage\n")
        again = demo_secrets(path)
        assert again["LENDGUARD_PII_KEY"] == first["LENDGUARD_PII_KEY"]
        assert set(again) == set(SECRETS)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_demo_runs_on_a_fresh_checkout_with_its_own_secrets(
        self, cli: CliRunner, tmp_path: Path
    ) -> None:
        args = ["demo", "--no-serve", "--customers", "40", "--days", "2", "--seed", "3"]
        result = cli.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        path = tmp_path / "var" / "demo-secrets.env"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        first = path.read_text()
        assert "LENDGUARD_MASTER_KEY=" in first
        result = cli.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert path.read_text() == first


class TestReadme:
    def test_the_configuration_list_names_every_setting(self) -> None:
        text = README.read_text(encoding="utf-8")
        match = re.search(r"^## Configuration\n(.*?)^## ", text, flags=re.S | re.M)
        assert match is not None
        section = match.group(1)
        missing = [
            name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in section
        ]
        assert missing == []
