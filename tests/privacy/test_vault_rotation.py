"""Key rotation reaches running servers: a Vault that was running when another process rotated
the data keys reads values written under the new key and writes new values under it, without a
restart (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from lendguard.db import make_engine
from lendguard.models import VaultEntry
from lendguard.privacy.vault import Vault

MASTER = os.urandom(32)


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database: the running server's and the operator's."""
    first, second = make_engine(database_url), make_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


def key_version(engine: Engine, token: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(VaultEntry.key_version).where(VaultEntry.lookup_hash == token)
            ).scalar_one()
        )


class TestRotationByAnotherProcess:
    def test_a_running_vault_reads_and_writes_under_the_new_key(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        server_db, operator_db = engines
        server = Vault(server_db, MASTER, b"pii-key")
        before = server.put("phone", "13800000001", "c-1")  # the server's active key: 1
        assert key_version(server_db, before) == 1

        operator = Vault(operator_db, MASTER, b"pii-key")
        result = operator.rotate(batch=10)
        assert result["active_version"] == 2
        # writes: the server's next new value goes under the new key, not the retired one
        # (before any read could have shown it the new key)
        after = server.put("card", "6222020202020202", "c-3")
        assert key_version(server_db, after) == 2
        written_by_operator = operator.put("phone", "13800000002", "c-2")
        # reads: every value, whichever key it is under, old rows re-encrypted included
        assert server.get("phone", before) == "13800000001"
        assert server.get("phone", written_by_operator) == "13800000002"
        assert server.get("card", after) == "6222020202020202"
        assert operator.get("card", after) == "6222020202020202"
        states = {k["version"]: (k["state"], k["rows"]) for k in operator.key_versions()}
        assert states == {1: ("retired", 0), 2: ("active", 3)}

    def test_two_rotations_in_a_row(self, engines: tuple[Engine, Engine]) -> None:
        server_db, operator_db = engines
        server = Vault(server_db, MASTER, b"pii-key")
        first = server.put("address", "addr-1", "c-1")
        operator = Vault(operator_db, MASTER, b"pii-key")
        operator.rotate()
        second = server.put("address", "addr-2", "c-2")
        Vault(operator_db, MASTER, b"pii-key").rotate()  # a third process, another rotation
        third = server.put("address", "addr-3", "c-3")
        assert [key_version(server_db, t) for t in (first, second, third)] == [3, 3, 3]
        assert [server.get("address", t) for t in (first, second, third)] == [
            "addr-1",
            "addr-2",
            "addr-3",
        ]
        assert server.for_customer("c-3") == [
            {"kind": "address", "value": "addr-3", "token": third}
        ]
