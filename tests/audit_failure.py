"""Make the audit trail refuse its next entries, for the tests that show an administrative act
and its audit entry commit together: when the entry cannot be written, the change is rolled
back (no change is ever left unaudited)."""

from __future__ import annotations

from typing import Any

import pytest

from lendguard.auth import audit


class AuditRefused(RuntimeError):
    """The audit insert failed (a full disk, a lost connection): raised inside the change's
    transaction."""


def refuse_audit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``audit.record`` from now on raises :class:`AuditRefused`; returns the actions it
    was asked to write, so a test can show the act reached its audit write (and failed there)."""
    attempted: list[str] = []

    def refuse(_conn: Any, _actor: str, action: str, *_args: Any, **_kwargs: Any) -> int:
        attempted.append(action)
        raise AuditRefused(f"audit entry {action} refused")

    monkeypatch.setattr(audit, "record", refuse)
    return attempted
