"""Keyed pseudonyms for personal identifiers (phone, card, address) kept at rest."""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_PREFIX = "h1:"


def pseudonymise(value: str, key: bytes) -> str:
    """HMAC-SHA256 of the value: stable (so links between events survive), not reversible.

    A value that is already a pseudonym is returned unchanged, so replays are idempotent.
    """
    if value.startswith(PSEUDONYM_PREFIX):
        return value
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest
