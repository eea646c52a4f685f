"""API keys: expiry, revocation seen by every process within one second, admin endpoints to
list and revoke — on SQLite and PostgreSQL (``database_url``).

No test reads the wall clock: each ApiKeyService gets an injected clock (``now``, the UTC time
expiries are compared with) and an injected ``monotonic`` (the age of its cache)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from fixtures import ADMIN_KEY, Api
from lendguard.auth import audit
from lendguard.auth.service import ApiKeyService, Principal
from lendguard.db import make_engine
from lendguard.errors import Conflict, NotFound, ValidationFailed
from lendguard.models import ApiKey

T0 = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


class Clocks:
    """A wall clock and a monotonic clock that only move when told."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono_us = 1_000_000_000  # whole microseconds: no drift from adding floats

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono_us / 1_000_000

    def advance(self, seconds: float) -> None:
        micros = round(seconds * 1_000_000)
        self.wall += timedelta(microseconds=micros)
        self.mono_us += micros


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database: two processes, as far as the keys are concerned."""
    first, second = make_engine(database_url), make_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


def refusal_delay(reader: ApiKeyService, clocks: Clocks, secret: str) -> float | None:
    """Seconds of the reader's clocks until it refuses ``secret`` (polled every 10 ms, up to
    5 s), or None when it never does."""
    for step in range(501):
        if reader.authenticate(secret) is None:
            return round(step * 0.01, 2)
        clocks.advance(0.01)
    return None


class TestRevocationAcrossProcesses:
    def test_a_key_revoked_in_the_database_is_refused_within_one_second(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        """Another process (an older one, or a hand-run SQL) revokes the row: the running one
        stops accepting the key without a restart."""
        writer_db, reader_db = engines
        clocks = Clocks()
        reader = ApiKeyService(reader_db)
        reader.now, reader.monotonic = clocks.now, clocks.monotonic
        secret = ApiKeyService(writer_db).create("lender", ["events:write"])
        assert reader.authenticate(secret) is not None  # cached by the reader now
        with writer_db.begin() as conn:
            conn.execute(update(ApiKey).values(revoked=True))
        delay = refusal_delay(reader, clocks, secret)
        assert delay is not None, "the revoked key kept working"
        assert delay <= 1.0

    def test_revoke_through_one_service_refused_by_another_within_one_second(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        writer_db, reader_db = engines
        clocks = Clocks()
        writer = ApiKeyService(writer_db, now=clocks.now, monotonic=clocks.monotonic)
        reader = ApiKeyService(reader_db, now=clocks.now, monotonic=clocks.monotonic)
        secret = writer.create("lender", ["events:write"])
        principal = reader.authenticate(secret)
        assert principal is not None
        # the reader's cached entry is as fresh as it gets: the worst case starts now
        revoked = writer.revoke(principal.key_id, actor="os:alice")
        assert revoked["state"] == "revoked"
        assert revoked["revoked_by"] == "os:alice"
        assert writer.authenticate(secret) is None  # at once in the revoking process
        delay = refusal_delay(reader, clocks, secret)
        assert delay is not None
        assert delay <= 1.0
        assert delay == reader.cache_ttl_s  # the measured worst case: the cache's lifetime

    def test_an_expiry_set_by_another_process_is_refused_within_one_second(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        writer_db, reader_db = engines
        clocks = Clocks()
        writer = ApiKeyService(writer_db, now=clocks.now, monotonic=clocks.monotonic)
        reader = ApiKeyService(reader_db, now=clocks.now, monotonic=clocks.monotonic)
        secret = writer.create("lender", ["events:write"])
        principal = reader.authenticate(secret)
        assert principal is not None
        writer.expire(principal.key_id, actor="os:alice")
        delay = refusal_delay(reader, clocks, secret)
        assert delay is not None
        assert delay <= 1.0

    def test_a_valid_key_stays_valid_past_the_cache_lifetime(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        writer_db, reader_db = engines
        clocks = Clocks()
        reader = ApiKeyService(reader_db, now=clocks.now, monotonic=clocks.monotonic)
        secret = ApiKeyService(writer_db).create("lender", ["events:write"])
        assert refusal_delay(reader, clocks, secret) is None


class TestExpiry:
    def test_refused_from_the_expiry_instant_even_when_cached(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        db, _ = engines
        clocks = Clocks()
        service = ApiKeyService(db, now=clocks.now, monotonic=clocks.monotonic)
        secret = service.create("x", ["events:write"], expires_at=T0 + timedelta(days=30))
        assert service.authenticate(secret) is not None
        clocks.wall = T0 + timedelta(days=30) - timedelta(microseconds=1)
        assert service.authenticate(secret) is not None  # the cache is still fresh here
        clocks.wall = T0 + timedelta(days=30)
        assert service.authenticate(secret) is None
        [row] = service.list()
        assert row["state"] == "expired"
        assert row["expires_at"] == T0 + timedelta(days=30)

    def test_an_expiry_in_the_past_is_refused_at_creation(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        db, _ = engines
        clocks = Clocks()
        service = ApiKeyService(db, now=clocks.now, monotonic=clocks.monotonic)
        with pytest.raises(ValidationFailed) as info:
            service.create("x", ["events:write"], expires_at=T0)
        assert info.value.errors[0].field == "expires_at"
        with pytest.raises(ValidationFailed):
            service.create("x", ["events:write"], expires_at=datetime(2027, 1, 1))  # naive
        assert service.list() == []

    def test_expire_never_extends_a_key(self, engines: tuple[Engine, Engine]) -> None:
        db, _ = engines
        clocks = Clocks()
        service = ApiKeyService(db, now=clocks.now, monotonic=clocks.monotonic)
        service.create("x", ["events:write"], expires_at=T0 + timedelta(days=1))
        [row] = service.list()
        with pytest.raises(ValidationFailed):
            service.expire(row["id"], actor="os:alice", at=T0 + timedelta(days=2))
        later = service.expire(row["id"], actor="os:alice", at=T0 + timedelta(hours=1))
        assert later["expires_at"] == T0 + timedelta(hours=1)
        assert later["state"] == "active"

    def test_expire_a_revoked_or_unknown_key(self, engines: tuple[Engine, Engine]) -> None:
        db, _ = engines
        service = ApiKeyService(db)
        service.create("x", ["events:write"])
        [row] = service.list()
        service.revoke(row["id"], actor="os:alice")
        with pytest.raises(Conflict):
            service.expire(row["id"], actor="os:alice")
        with pytest.raises(NotFound):
            service.expire("key_nope", actor="os:alice")
        with pytest.raises(NotFound):
            service.revoke("key_nope", actor="os:alice")


class TestListAndRevoke:
    def test_list_names_each_key_and_its_state_but_no_secret(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        db, _ = engines
        clocks = Clocks()
        service = ApiKeyService(db, now=clocks.now, monotonic=clocks.monotonic)
        service.create("a", ["events:write"], actor="os:alice")
        clocks.advance(1)
        service.create("b", ["decisions:read"], expires_at=T0 + timedelta(days=1))
        clocks.advance(1)
        service.create("c", ["admin"])
        rows = {r["name"]: r for r in service.list()}
        service.revoke(rows["c"]["id"], actor="os:bob")
        rows = {r["name"]: r for r in service.list()}
        assert {n: r["state"] for n, r in rows.items()} == {
            "a": "active",
            "b": "active",
            "c": "revoked",
        }
        assert rows["a"]["created_by"] == "os:alice"
        assert rows["b"]["expires_at"] == T0 + timedelta(days=1)
        assert rows["c"]["revoked_by"] == "os:bob"
        assert rows["c"]["revoked_at"] == T0 + timedelta(seconds=2)
        for row in rows.values():
            assert "key_hash" not in row
            assert set(row) == {
                "id",
                "name",
                "scopes",
                "state",
                "created_at",
                "created_by",
                "expires_at",
                "revoked_at",
                "revoked_by",
            }

    def test_revoke_is_idempotent_and_audited_once(self, engines: tuple[Engine, Engine]) -> None:
        db, _ = engines
        service = ApiKeyService(db)
        service.create("x", ["events:write"], actor="os:alice")
        [row] = service.list()
        first = service.revoke(row["id"], actor="os:bob")
        second = service.revoke(row["id"], actor="os:carol")
        assert first == second
        assert second["revoked_by"] == "os:bob"
        actions = [(e["action"], e["actor"]) for e in reversed(audit.entries(db))]
        assert actions == [("apikeys.create", "os:alice"), ("apikeys.revoke", "os:bob")]
        assert audit.verify(db).ok

    def test_a_revoked_bootstrap_key_stays_revoked_after_a_restart(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        db, _ = engines
        service = ApiKeyService(db)
        service.ensure("bootstrap-admin", ["admin"], "lg_bootstrap_secret")
        principal = service.authenticate("lg_bootstrap_secret")
        assert isinstance(principal, Principal)
        service.revoke(principal.key_id, actor="os:alice")
        restarted = ApiKeyService(db)
        restarted.ensure("bootstrap-admin", ["admin"], "lg_bootstrap_secret")
        assert restarted.authenticate("lg_bootstrap_secret") is None
        assert len(restarted.list()) == 1


class TestEndpoints:
    def test_admin_lists_and_revokes(self, app_client: Api) -> None:
        client = app_client.client
        lender = app_client.key("events:write")
        listed = client.get("/v1/apikeys", headers=app_client.admin)
        assert listed.status_code == 200, listed.text
        keys = listed.json()["api_keys"]
        assert {k["name"] for k in keys} >= {"bootstrap-admin"}
        assert ADMIN_KEY not in listed.text
        assert "key_hash" not in listed.text
        target = next(k for k in keys if k["name"].startswith("test-"))
        assert target["state"] == "active"

        revoked = client.post(f"/v1/apikeys/{target['id']}/revoke", headers=app_client.admin)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["state"] == "revoked"
        refused = client.get("/v1/customers/c-1/decisions", headers=lender)
        assert refused.status_code == 401
        entry = audit.entries(app_client.services.decisions.db, target=f"apikey:{target['id']}")
        assert [e["action"] for e in entry] == ["apikeys.revoke"]
        assert entry[0]["actor"].startswith("key:bootstrap-admin:")

    def test_not_for_other_scopes_and_404_for_unknown_keys(self, app_client: Api) -> None:
        client = app_client.client
        reader = app_client.key("decisions:read", "audit:read")
        assert client.get("/v1/apikeys", headers=reader).status_code == 403
        assert client.post("/v1/apikeys/key_x/revoke", headers=reader).status_code == 403
        missing = client.post("/v1/apikeys/key_x/revoke", headers=app_client.admin)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")

    def test_the_running_app_refuses_a_key_revoked_by_another_process(
        self, app_client: Api, database_url: str
    ) -> None:
        clocks = Clocks()
        keys = app_client.services.api_keys
        keys.now, keys.monotonic = clocks.now, clocks.monotonic
        lender = app_client.key("decisions:read")
        ok = app_client.client.get("/v1/customers/c-1/decisions", headers=lender)
        assert ok.status_code == 200
        other = make_engine(database_url)
        try:
            [row] = [r for r in ApiKeyService(other).list() if r["name"].startswith("test-")]
            ApiKeyService(other).revoke(row["id"], actor="os:alice")
        finally:
            other.dispose()
        clocks.advance(1.0)
        refused = app_client.client.get("/v1/customers/c-1/decisions", headers=lender)
        assert refused.status_code == 401
