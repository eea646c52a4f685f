"""The one place the CLI builds what its commands run on: a migrated database engine, the
services the API uses, the PII vault.

Every command that touches the database goes through here, so each gets the same set-up as the
server (settings from the environment, migrations applied first) and nothing is built twice.
Imports stay inside the functions: ``lendguard --help`` and the offline commands should not pay
for SQLAlchemy, the app or the vault.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lendguard.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from lendguard.app import Services
    from lendguard.auth.service import ApiKeyService
    from lendguard.auth.users import UserService
    from lendguard.cases.service import CaseService
    from lendguard.privacy.vault import Vault


def migrated_engine(database_url: str | None = None) -> Engine:
    """An engine on ``database_url`` (default: LENDGUARD_DATABASE_URL), its schema upgraded to
    the latest migration."""
    from lendguard.db import make_engine, upgrade

    url = database_url or get_settings().database_url
    upgrade(url)
    return make_engine(url)


@contextmanager
def services() -> Iterator[Services]:
    """The API's services (decisions, cases, ...), built as the server builds them and closed
    when the command is done (the durable log flushed, connections returned)."""
    from lendguard.app import build_services

    built = build_services(get_settings())
    try:
        yield built
    finally:
        built.close()


def api_keys() -> ApiKeyService:
    from lendguard.auth.service import ApiKeyService

    return ApiKeyService(migrated_engine())


def users() -> UserService:
    from lendguard.auth.users import UserService

    return UserService(migrated_engine())


def cases() -> CaseService:
    from lendguard.cases.service import CaseService

    return CaseService(migrated_engine())


def vault() -> Vault:
    """The PII vault with the configured master and PII keys."""
    from lendguard.privacy.vault import Vault, master_key_from

    settings = get_settings()
    return Vault(
        migrated_engine(),
        master_key_from(settings.master_key, settings.pii_key),
        settings.pii_key.encode(),
    )
