"""Logging is race-free: concurrent attempts for one debtor, each on its own connection (its
own engine, as separate API workers would be), can never both pass a cap."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from lendguard.conduct.contacts import ContactGuard, ContactLog, ContactRefused
from lendguard.db import make_engine
from lendguard.models import ContactAttempt

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
THREADS = 20


def _race(url: str, bodies: list[dict[str, Any]]) -> Counter[str]:
    """Log every body at once from its own thread and engine; count the outcomes."""
    barrier = threading.Barrier(len(bodies))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def attempt(body: dict[str, Any]) -> None:
        engine = make_engine(url)
        guard = ContactGuard(engine, pii_key="race-key")
        entry = ContactLog.model_validate(body)
        try:
            barrier.wait(timeout=30)
            guard.log(entry, "race")
            outcome = "logged"
        except ContactRefused as exc:
            outcome = ",".join(f.code for f in exc.result.findings)
        except Exception as exc:  # noqa: BLE001 - any other error fails the test below
            outcome = f"error: {exc!r}"
        finally:
            engine.dispose()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=attempt, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def _stored(url: str, debtor_id: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(ContactAttempt.debtor_id == debtor_id)
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_20_concurrent_unanswered_calls_log_exactly_6(database_url: str) -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
    bodies = [
        {
            "purpose": "collection",
            "channel": "call",
            "debtor_id": "debtor-race",
            "contact": "+86 138 0013 8000",
            "debt": {"id": "loan-1"},
            "timezone": "Asia/Shanghai",
            "at": (at + timedelta(seconds=i)).isoformat(),
            "result": "unanswered",
        }
        for i in range(THREADS)
    ]
    outcomes = _race(database_url, bodies)
    assert outcomes == Counter({"logged": 6, "FREQ_CAP_DAILY": THREADS - 6}), outcomes
    assert _stored(database_url, "debtor-race") == 6


def test_20_concurrent_calls_across_numbers_log_exactly_7_in_7_days(database_url: str) -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK)
    bodies = [
        {
            "purpose": "collection",
            "channel": "call",
            "debtor_id": "debtor-race-us",
            "contact": f"+1 212 555 {i:04d}",
            "debt": {"id": "card-1"},
            "timezone": "America/New_York",
            "jurisdiction": "US",
            "at": (at + timedelta(hours=i % 10, minutes=i)).isoformat(),
            "result": "unanswered",
        }
        for i in range(THREADS)
    ]
    outcomes = _race(database_url, bodies)
    assert outcomes == Counter({"logged": 7, "FREQ_CAP_7IN7": THREADS - 7}), outcomes
    assert _stored(database_url, "debtor-race-us") == 7


def test_a_write_lock_sqlite_refuses_at_once_is_tried_again(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite can answer "database is locked" without its busy wait; the whole transaction was
    rolled back, so the log runs it again (and a lasting lock still fails)."""
    engine = make_engine(sqlite_url)
    guard = ContactGuard(engine, pii_key="race-key")
    real = ContactGuard._log_locked
    calls: list[int] = []

    def locked_once(self: ContactGuard, *args: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return real(self, *args)

    monkeypatch.setattr(ContactGuard, "_log_locked", locked_once)
    body = {
        "purpose": "collection",
        "channel": "call",
        "debtor_id": "debtor-retry",
        "contact": "+86 138 0013 8000",
        "debt": {"id": "loan-1"},
        "timezone": "Asia/Shanghai",
        "at": datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI).isoformat(),
        "result": "unanswered",
    }
    try:
        assert guard.log(ContactLog.model_validate(body), "race")["logged"] is True
        assert len(calls) == 2
        assert _stored(sqlite_url, "debtor-retry") == 1

        def always_locked(self: ContactGuard, *args: Any) -> dict[str, Any]:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

        monkeypatch.setattr(ContactGuard, "_log_locked", always_locked)
        with pytest.raises(OperationalError):
            guard.log(ContactLog.model_validate(body), "race")
    finally:
        engine.dispose()
