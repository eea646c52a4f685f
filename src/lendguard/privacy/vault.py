"""Encryption at rest for direct identifiers and contact data (phone, card, address, and the
ids a lender sent with personal information in them: ``identifier``, see privacy/intake.py).

Events, decisions and window state only ever carry the HMAC pseudonym of these values (so they
still link events); the values themselves are kept here, encrypted, for the purposes that need
them (a callback, an access export), and found by that same keyed hash.

Envelope encryption: each row is AES-256-GCM under a data key (DEK) with a version; data keys
are stored wrapped (AES-GCM) by the master key (``LENDGUARD_MASTER_KEY``, 32 bytes base64),
which never touches the database. The row's kind and hash are the AEAD's associated data, so a
ciphertext moved to another row fails to decrypt.

Rotation without downtime (:meth:`Vault.rotate`): a new data key becomes active at once (new
rows use it), then old rows are re-encrypted in small batches, each its own transaction, while
reads keep working because every row names its key version; a key is retired once no row uses
it. Running servers follow a rotation made by another process (``lendguard keys rotate``) without
a restart: each new row reads the active key version in its own transaction, and a version this
process has not seen yet is unwrapped on first use.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from lendguard.auth import audit
from lendguard.kit.crypto import pseudonymise
from lendguard.models.privacy import EncryptionKey, VaultEntry

# ``identifier``: a customer, payee, payer or device id that held personal information and is
# stored as its pseudonym (privacy/intake.py). ``name``: a person's name the customer gave us
# (their trusted contact, issue #19).
KINDS = frozenset({"phone", "card", "address", "identifier", "name"})


def master_key_from(setting: str | None, fallback_secret: str) -> bytes:
    """The 32-byte master key: from the setting (base64), or derived from the development
    PII key so the default setup runs (a production deployment sets its own)."""
    if setting:
        key = base64.b64decode(setting)
        if len(key) != 32:
            raise ValueError("LENDGUARD_MASTER_KEY must be 32 bytes, base64-encoded")
        return key
    return hashlib.sha256(b"lendguard-master:" + fallback_secret.encode()).digest()


class Vault:
    def __init__(self, engine: Engine, master_key: bytes, pii_key: bytes) -> None:
        self.db = engine
        self._kek = AESGCM(master_key)
        self.pii_key = pii_key
        self._keys: dict[int, AESGCM] = {}
        self._lock = threading.Lock()

    # -- keys ------------------------------------------------------------------------------------

    def _unwrap(self, version: int, wrapped: bytes) -> AESGCM:
        raw = self._kek.decrypt(wrapped[:12], wrapped[12:], f"dek:{version}".encode())
        return AESGCM(raw)

    def _load_keys(self, conn: Connection) -> None:
        for row in conn.execute(select(EncryptionKey)).all():
            if row.version not in self._keys:
                self._keys[row.version] = self._unwrap(row.version, row.wrapped_key)

    def _new_key(self, conn: Connection) -> int:
        latest = conn.execute(select(func.max(EncryptionKey.version))).scalar_one_or_none()
        version = int(latest or 0) + 1
        raw = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        wrapped = nonce + self._kek.encrypt(nonce, raw, f"dek:{version}".encode())
        conn.execute(
            update(EncryptionKey).where(EncryptionKey.state == "active").values(state="retiring")
        )
        conn.execute(
            insert(EncryptionKey),
            {
                "version": version,
                "wrapped_key": wrapped,
                "state": "active",
                "created_at": datetime.now(UTC),
            },
        )
        self._keys[version] = AESGCM(raw)
        return version

    def ensure_active_key(self) -> int:
        """Make the first data key now, in a transaction of its own (the app calls this at
        start-up). Made lazily inside a request's transaction, two first requests could
        deadlock: one holding this object's lock while waiting for the database's write lock,
        the other holding that while waiting for the lock (SQLite hung 30 s, then 503), or both
        insert version 1 (PostgreSQL: one 500). Two processes starting at once: the loser's
        insert fails on the version's key and it reads the winner's."""
        for attempt in range(2):
            try:
                with self.db.begin() as conn:
                    # Serialise the makers before reading, so a second process waits here and
                    # then reads the first one's key (rather than rotating it away): the write
                    # lock on SQLite; on PostgreSQL a table lock that conflicts with itself and
                    # with writes, not with plain reads.
                    if conn.dialect.name == "postgresql":
                        conn.execute(text("LOCK TABLE encryption_keys IN SHARE ROW EXCLUSIVE MODE"))
                    else:
                        conn.execute(
                            update(EncryptionKey)
                            .where(EncryptionKey.version < 0)
                            .values(state=EncryptionKey.state)
                        )
                    version = _active_version(conn)
                    if version is not None:
                        return version
                    with self._lock:
                        return self._new_key(conn)
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _active_key(self, conn: Connection) -> int:
        """The active data key, read from the database in the caller's transaction: a
        rotation by another process (``lendguard keys rotate``) is followed from the next new
        row on, without a restart (one indexed read per new row; existing rows need none)."""
        version = _active_version(conn)
        with self._lock:
            if version is None:
                return self._new_key(conn)
            if version not in self._keys:
                self._load_keys(conn)
            return version

    def _key(self, conn: Connection, version: int) -> AESGCM:
        """The data key of ``version``, unwrapped on first use (another process may have made
        it since this one started)."""
        key = self._keys.get(version)
        if key is None:
            with self._lock:
                self._load_keys(conn)
            key = self._keys[version]
        return key

    # -- rows ------------------------------------------------------------------------------------

    def put(self, kind: str, value: str, customer_id: str, conn: Connection | None = None) -> str:
        """Keep ``value`` encrypted; return its keyed hash (the pseudonym). Idempotent."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        token = pseudonymise(value, self.pii_key)
        if conn is None:
            with self.db.begin() as own:
                self._put(own, kind, value, token, customer_id)
        else:
            self._put(conn, kind, value, token, customer_id)
        return token

    def _put(self, conn: Connection, kind: str, value: str, token: str, customer_id: str) -> None:
        exists = conn.execute(
            select(VaultEntry.id).where(
                VaultEntry.kind == kind,
                VaultEntry.lookup_hash == token,
                VaultEntry.customer_id == customer_id,
            )
        ).first()
        if exists is not None:
            return
        version = self._active_key(conn)
        nonce = os.urandom(12)
        ciphertext = self._key(conn, version).encrypt(nonce, value.encode(), _aad(kind, token))
        conn.execute(
            insert(VaultEntry),
            {
                "kind": kind,
                "lookup_hash": token,
                "customer_id": customer_id,
                "key_version": version,
                "nonce": nonce,
                "ciphertext": ciphertext,
                "created_at": datetime.now(UTC),
            },
        )

    def get(self, kind: str, token: str) -> str | None:
        """The value behind a pseudonym (a privileged read: callers audit it)."""
        with self.db.connect() as conn:
            row = conn.execute(
                select(VaultEntry).where(VaultEntry.kind == kind, VaultEntry.lookup_hash == token)
            ).first()
            if row is None:
                return None
            self._key(conn, row.key_version)
        return self._decrypt(row)

    def _decrypt(self, row: Any) -> str:
        plain = self._keys[row.key_version].decrypt(
            row.nonce, row.ciphertext, _aad(row.kind, row.lookup_hash)
        )
        return plain.decode()

    def for_customer(self, customer_id: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(VaultEntry).where(VaultEntry.customer_id == customer_id)
            ).all()
            with self._lock:
                self._load_keys(conn)
        return [{"kind": r.kind, "value": self._decrypt(r), "token": r.lookup_hash} for r in rows]

    # -- rotation --------------------------------------------------------------------------------

    def rotate(self, batch: int = 500, actor: str | None = None) -> dict[str, Any]:
        """A new active key, every older row re-encrypted under it batch by batch, and the old
        keys retired. Safe to interrupt: a rerun finishes the work. Running servers write
        under the new key from their next new row on (:meth:`_active_key`); a row one of them
        wrote under the old key while the new one was being made is moved too. Stops early
        when another rotation has made a newer key meanwhile (that one finishes the work).

        Given an ``actor`` (an operator's rotation), the audit entry ``keys.rotate`` with the
        result is written in the transaction that retires the old keys, so the rotation's
        completion and its entry commit together."""
        with self.db.begin() as conn, self._lock:
            self._load_keys(conn)
            version = self._new_key(conn)
        moved = 0
        retired = 0
        while True:
            moved_now, superseded = self._move_rows(version, batch)
            moved += moved_now
            if superseded:
                break
            with self.db.begin() as conn:
                retired += conn.execute(
                    update(EncryptionKey)
                    .where(EncryptionKey.version != version, EncryptionKey.state != "retired")
                    .values(state="retired", retired_at=datetime.now(UTC))
                ).rowcount
                left = conn.execute(
                    select(func.count())
                    .select_from(VaultEntry)
                    .where(VaultEntry.key_version != version)
                ).scalar_one()
                if not left:
                    result = _rotation(version, moved, retired)
                    if actor is not None:
                        audit.record(
                            conn, actor, "keys.rotate", f"vault:key:{version}", None, result
                        )
                    return result
        # Superseded: the newer rotation finishes the work; this one's key is still on record.
        result = _rotation(version, moved, retired)
        if actor is not None:
            audit.record_now(self.db, actor, "keys.rotate", f"vault:key:{version}", None, result)
        return result

    def _move_rows(self, version: int, batch: int) -> tuple[int, bool]:
        """Re-encrypt every row not under ``version``; (rows moved, whether a newer key became
        active meanwhile)."""
        moved = 0
        while True:
            with self.db.begin() as conn:
                active = conn.execute(
                    select(EncryptionKey.state).where(EncryptionKey.version == version)
                ).scalar_one()
                if active != "active":
                    return moved, True
                rows = conn.execute(
                    select(VaultEntry)
                    .where(VaultEntry.key_version != version)
                    .order_by(VaultEntry.id)
                    .limit(batch)
                ).all()
                if not rows:
                    return moved, False
                for row in rows:
                    self._key(conn, row.key_version)
                    plain = self._decrypt(row).encode()
                    nonce = os.urandom(12)
                    conn.execute(
                        update(VaultEntry)
                        .where(VaultEntry.id == row.id, VaultEntry.key_version == row.key_version)
                        .values(
                            key_version=version,
                            nonce=nonce,
                            ciphertext=self._keys[version].encrypt(
                                nonce, plain, _aad(row.kind, row.lookup_hash)
                            ),
                        )
                    )
                moved += len(rows)

    def key_versions(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(select(EncryptionKey).order_by(EncryptionKey.version)).all()
            counts = dict(
                conn.execute(
                    select(VaultEntry.key_version, func.count()).group_by(VaultEntry.key_version)
                ).all()
            )
        return [
            {"version": r.version, "state": r.state, "rows": int(counts.get(r.version, 0))}
            for r in rows
        ]


def _aad(kind: str, token: str) -> bytes:
    return f"{kind}|{token}".encode()


def _rotation(version: int, moved: int, retired: int) -> dict[str, Any]:
    """A rotation's result, as the CLI prints it and its audit entry records it."""
    return {"active_version": version, "re_encrypted": moved, "retired_keys": int(retired)}


def _active_version(conn: Connection) -> int | None:
    """The newest active data key's version, read in the caller's transaction."""
    found = conn.execute(
        select(EncryptionKey.version)
        .where(EncryptionKey.state == "active")
        .order_by(EncryptionKey.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else int(found)
