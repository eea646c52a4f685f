"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, the HTTP app and API keys.

PostgreSQL and Redis come from ``LENDGUARD_TEST_DATABASE_URL`` / ``LENDGUARD_TEST_REDIS_URL``.
Without them (or with the server down) their tests are skipped with the reason; CI sets
``LENDGUARD_REQUIRE_SERVICES=1`` and then a missing service fails the run instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import time_machine
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from fixtures import ADMIN_KEY, PINNED_NOW, Api, WebhookReceiver, served_app
from lendguard.app import Services, create_app
from lendguard.config import Settings
from lendguard.db import make_engine, normalise_url, safe_url, upgrade
from lendguard.decisions import rulesets as rulesets_module
from lendguard.decisions.deciding import LinkIndexFactory
from lendguard.decisions.rules.loader import RuleSet, parse_ruleset
from lendguard.decisions.service import DecisionService
from lendguard.decisions.state import MemoryStateStore, SharedStateStore, StateStore
from lendguard.graph.index import LinkIndex
from lendguard.stream.tools import connect_once

REQUIRE_SERVICES = os.environ.get("LENDGUARD_REQUIRE_SERVICES") == "1"

# CI: property tests draw the same examples on every run (a random failure found once must be
# reproducible and added as an @example, not turn CI red at random); no example database.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def service_unavailable(reason: str) -> None:
    """Skip (printing why), or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (LENDGUARD_REQUIRE_SERVICES=1, so this is an error)", pytrace=False)
    pytest.skip(reason)


# -- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (migrating from scratch each time is slower)."""
    path = tmp_path_factory.mktemp("template") / "lendguard.db"
    upgrade(f"sqlite:///{path}")
    return path


@contextmanager
def fresh_postgres_database(prefix: str, why: str = "PostgreSQL tests skipped") -> Iterator[str]:
    """A new, uniquely named (``<prefix>_<hex>``), migrated PostgreSQL database on
    ``LENDGUARD_TEST_DATABASE_URL``'s server, dropped at the end (even one a test made refuse
    connections). Skips, or fails under LENDGUARD_REQUIRE_SERVICES=1, when there is none."""
    base = os.environ.get("LENDGUARD_TEST_DATABASE_URL")
    if not base:
        service_unavailable(f"LENDGUARD_TEST_DATABASE_URL is not set: {why}")
    assert base is not None
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(
        normalise_url(base),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        service_unavailable(f"PostgreSQL at {safe_url(base)} is unreachable: {reason}")
    url = make_url(normalise_url(base)).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, uniquely named, migrated database for this session; dropped at the end."""
    with fresh_postgres_database("lg_test") as url:
        yield url


def _reset_postgres(url: str) -> None:
    """Empty every table (not alembic_version) and restart the sequences: cheap isolation."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            quoted = ", ".join(f'"{t}"' for t in tables)
            if quoted:
                conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "lendguard.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "lendguard.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


# -- NATS JetStream ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nats_url() -> str:
    url = os.environ.get("LENDGUARD_TEST_NATS_URL")
    if not url:
        service_unavailable("LENDGUARD_TEST_NATS_URL is not set: stream worker tests skipped")
    assert url is not None
    problem = asyncio.run(_jetstream_problem(url))
    if problem is not None:
        service_unavailable(f"NATS JetStream at {url} is unusable: {problem}")
    return url


async def _jetstream_problem(url: str) -> str | None:
    try:
        client = await connect_once(url, "lendguard-test")
    except Exception as exc:  # nats-py raises several unrelated types for "not there"
        return f"{type(exc).__name__}: {exc}"
    try:
        await client.jetstream().account_info()
    except Exception as exc:  # JetStream off on this server
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()
    return None


# -- redis --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    url = os.environ.get("LENDGUARD_TEST_REDIS_URL")
    if not url:
        service_unavailable("LENDGUARD_TEST_REDIS_URL is not set: Redis tests skipped")
    assert url is not None
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis at {url} is unreachable: {exc}")
    finally:
        client.close()
    return url


# -- services without HTTP ----------------------------------------------------------------------

_PARSED: dict[tuple[str, str], RuleSet] = {}


def _cached_parse_ruleset(text: str, file: str = "<ruleset>") -> RuleSet:
    """parse_ruleset, memoised: every service start parses the same default text, and a
    RuleSet is immutable. Refusals are not cached (they raise every time)."""
    key = (text, file)
    found = _PARSED.get(key)
    if found is None:
        found = _PARSED[key] = parse_ruleset(text, file=file)
    return found


@pytest.fixture
def pinned_clock() -> Iterator[time_machine.Coordinates]:
    """The wall clock at :data:`fixtures.PINNED_NOW`, ticking from there: for every test whose
    outcome depends on "now" (``datetime.now``, ``time.time``, in this process and its threads).
    Move it with ``pinned_clock.shift(seconds)`` or ``.move_to(instant)``."""
    with time_machine.travel(PINNED_NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _fast_ruleset_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulesets_module, "parse_ruleset", _cached_parse_ruleset)


@pytest.fixture
def service_factory() -> Iterator[Callable[..., DecisionService]]:
    """Started DecisionServices on a URL; all are closed and their engines disposed at teardown.

    ``make(url, store=None, checkpoint_every=None, link_index=None, shared=False)``: ``store``
    a StateStore, or the default MemoryStateStore (with ``checkpoint_every`` when given), or
    with ``shared`` a SharedStateStore on the service's own engine (another process's view);
    ``link_index`` the entity-link graph factory (the graph area's index unless given, passed
    explicitly as the app passes it).
    """
    made: list[DecisionService] = []

    def make(
        url: str,
        store: StateStore | None = None,
        checkpoint_every: int | None = None,
        link_index: LinkIndexFactory | None = None,
        shared: bool = False,
    ) -> DecisionService:
        engine = make_engine(url)
        if shared:
            store = SharedStateStore(engine)
        elif store is None and checkpoint_every is not None:
            store = MemoryStateStore(engine, checkpoint_every=checkpoint_every)
        service = DecisionService(engine, store, link_index=link_index or LinkIndex)
        made.append(service)
        service.start()
        return service

    yield make
    # A test may abandon a service to simulate a crash; its connections (the service keeps a
    # reader and a writer open) are released here so the database can be reset.
    for service in made:
        service.close()
        service.db.dispose()


# -- the HTTP app -------------------------------------------------------------------------------


@pytest.fixture
def app_client(database_url: str) -> Iterator[Api]:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        state_backend="memory",
        max_body_bytes=1_000_000,
        max_batch_events=1_000,
    )
    app = create_app(settings)
    services: Services = app.state.services
    try:
        with TestClient(app) as client:
            yield Api(client=client, app=app, services=services)
    finally:
        services.close()
        services.decisions.db.dispose()


# -- the app with cases: a webhook receiver and console users -----------------------------------

WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def case_app(database_url: str, receiver: WebhookReceiver) -> Iterator[Api]:
    """The app with the lender's webhook pointed at ``receiver`` (fast retries) and cookies
    allowed over plain HTTP (the test client)."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_base_delay_s=0.05,
        webhook_max_attempts=5,
        cookie_secure=False,
    )
    app = create_app(settings)
    services: Services = app.state.services
    try:
        with TestClient(app, base_url="http://localhost") as client:
            yield Api(client=client, app=app, services=services)
    finally:
        services.close()
        services.decisions.db.dispose()


# -- the console in a real browser ---------------------------------------------------------------

CHROMIUM = os.environ.get("LENDGUARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served(sqlite_url: str, receiver: WebhookReceiver) -> Iterator[tuple[str, Any]]:
    """The app under uvicorn on a free port (a real HTTP server), webhooks to ``receiver``, for
    the browser tests; skips (or, in CI, fails) without Debian's Chromium."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        service_unavailable(
            f"no Chromium at {CHROMIUM}: browser test skipped (apt install chromium)"
        )
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_base_delay_s=0.05,
        cookie_secure=False,
        default_locale="en",
    )
    app = create_app(settings)
    with served_app(app) as base:
        yield base, app.state.services
