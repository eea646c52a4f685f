"""The vault's first data key is made at start-up in a transaction of its own.

Made lazily inside requests' transactions, the first concurrent writes to the vault deadlocked
(SQLite: one request hung 30 s, then 503) or both inserted version 1 (PostgreSQL: a 500).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select

from lendguard.db import make_engine
from lendguard.models.privacy import EncryptionKey
from lendguard.privacy.vault import Vault

MASTER = b"m" * 32


@pytest.fixture
def engines(database_url: str) -> Iterator[list[Engine]]:
    made = [make_engine(database_url) for _ in range(4)]
    yield made
    for engine in made:
        engine.dispose()


def test_processes_starting_at_once_agree_on_one_first_key(engines: list[Engine]) -> None:
    vaults = [Vault(engine, MASTER, b"pii") for engine in engines]
    with ThreadPoolExecutor(len(vaults)) as pool:
        versions = list(pool.map(lambda v: v.ensure_active_key(), vaults))
    assert versions == [1, 1, 1, 1]
    with engines[0].connect() as conn:
        assert conn.execute(select(func.count()).select_from(EncryptionKey)).scalar_one() == 1
    # Each can encrypt and every other reads it back.
    token = vaults[1].put("phone", "13800138000", "c-1")
    assert all(v.get("phone", token) == "13800138000" for v in vaults)


def test_concurrent_first_writes_after_start_up_neither_hang_nor_fail(
    engines: list[Engine],
) -> None:
    vault = Vault(engines[0], MASTER, b"pii")
    vault.ensure_active_key()

    def put(i: int) -> str:
        return vault.put("phone", f"1380013800{i}", f"c-{i}")

    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(put, range(4)))
    assert [vault.get("phone", t) for t in tokens] == [f"1380013800{i}" for i in range(4)]
