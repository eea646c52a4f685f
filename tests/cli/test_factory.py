"""The CLI's one factory: every command that touches the database gets its engine and services
from ``lendguard.cli.factory``, migrated first and closed when done."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

import lendguard.app
from lendguard.cli import factory
from lendguard.config import Settings, get_settings

CLI = Path(factory.__file__).resolve().parent


@pytest.fixture
def empty_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """LENDGUARD_DATABASE_URL on a SQLite file with no schema yet."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", url)
    monkeypatch.setenv("LENDGUARD_STATE_BACKEND", "memory")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_migrated_engine_applies_the_migrations_first(empty_database: str) -> None:
    engine = factory.migrated_engine()
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"alembic_version", "api_keys", "audit_log", "cases"} <= tables


def test_services_are_closed_even_when_the_command_fails(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []
    real = lendguard.app.build_services

    def build_and_watch(settings: Settings, migrate: bool = True) -> lendguard.app.Services:
        built = real(settings, migrate)
        close = built.close

        def watched_close() -> None:
            closed.append(True)
            close()

        monkeypatch.setattr(built, "close", watched_close)
        return built

    monkeypatch.setattr(lendguard.app, "build_services", build_and_watch)

    def failing_command() -> None:
        with factory.services() as built:
            assert built.decisions is not None
            raise RuntimeError("the command failed")

    with pytest.raises(RuntimeError, match="the command failed"):
        failing_command()
    assert closed == [True]


@pytest.mark.parametrize(
    "setup", ["make_engine(", "build_services(", "ApiKeyService(", "UserService(", "Vault("]
)
def test_no_command_module_builds_its_own(setup: str) -> None:
    """The set-up was copied into seven commands once; now only the factory builds."""
    builders = [
        path.name
        for path in sorted(CLI.glob("*.py"))
        if path.name != "factory.py" and re.search(re.escape(setup), path.read_text())
    ]
    assert builders == []
