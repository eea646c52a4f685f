"""Encryption at rest: phone, card and address kept encrypted under versioned data keys, found
by the same keyed hash the events carry; rotation re-encrypts without losing a value."""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from fixtures import Api, make_event
from lendguard.cli.main import app as cli
from lendguard.config import get_settings
from lendguard.db import make_engine
from lendguard.models import EncryptionKey, VaultEntry
from lendguard.privacy.vault import Vault


class TestVault:
    def test_event_contact_data_is_kept_encrypted_and_found_by_its_hash(
        self, app_client: Api
    ) -> None:
        decision = app_client.decide(
            make_event(customer_id="v-1", phone="13812345678", card_id="6222020202020202")
        )
        assert decision["action"]
        vault = app_client.services.vault
        with vault.db.connect() as conn:
            rows = conn.execute(select(VaultEntry)).all()
        assert {r.kind for r in rows} == {"phone", "card"}
        for row in rows:
            assert b"13812345678" not in row.ciphertext
            assert b"6222020202020202" not in row.ciphertext
        stored = app_client.services.decisions.get_decision(decision["decision_id"])
        event_body = app_client.client.get(
            "/v1/customers/v-1/decisions", headers=app_client.admin
        ).json()
        assert "13812345678" not in str(event_body) + str(stored)
        token = next(r.lookup_hash for r in rows if r.kind == "phone")
        assert vault.get("phone", token) == "13812345678"

    def test_a_moved_ciphertext_does_not_decrypt(self, app_client: Api) -> None:
        app_client.decide(
            make_event(customer_id="v-2", phone="13811112222", card_id="6222333344445555")
        )
        vault = app_client.services.vault
        with vault.db.begin() as conn:
            rows = {r.kind: r for r in conn.execute(select(VaultEntry)).all()}
            conn.execute(
                update(VaultEntry)
                .where(VaultEntry.id == rows["phone"].id)
                .values(ciphertext=rows["card"].ciphertext, nonce=rows["card"].nonce)
            )
        from cryptography.exceptions import InvalidTag

        with pytest.raises(InvalidTag):
            vault.get("phone", rows["phone"].lookup_hash)

    def test_rotation_re_encrypts_every_row_and_retires_the_old_key(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        master = base64.b64encode(os.urandom(32)).decode()
        engine = make_engine(database_url)
        vault = Vault(engine, base64.b64decode(master), b"pii-key")
        tokens = [vault.put("phone", f"1380000{n:04d}", f"c-{n}") for n in range(25)]
        assert [k["version"] for k in vault.key_versions()] == [1]
        monkeypatch.setenv("LENDGUARD_DATABASE_URL", database_url)
        monkeypatch.setenv("LENDGUARD_MASTER_KEY", master)
        monkeypatch.setenv("LENDGUARD_PII_KEY", "pii-key")
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["keys", "rotate", "--batch", "10"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert '"re_encrypted": 25' in result.output
        fresh = Vault(engine, base64.b64decode(master), b"pii-key")
        assert [fresh.get("phone", t) for t in tokens] == [f"1380000{n:04d}" for n in range(25)]
        states = {k["version"]: (k["state"], k["rows"]) for k in fresh.key_versions()}
        assert states == {1: ("retired", 0), 2: ("active", 25)}
        with engine.connect() as conn:
            wrapped = conn.execute(select(EncryptionKey.wrapped_key)).scalars().all()
        assert all(base64.b64decode(master) not in w for w in wrapped)
        wrong = Vault(engine, os.urandom(32), b"pii-key")
        from cryptography.exceptions import InvalidTag

        with pytest.raises(InvalidTag):
            wrong.get("phone", tokens[0])
        engine.dispose()
