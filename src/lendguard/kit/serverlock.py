"""Who is using a SQLite database file: ``lendguard serve`` holds a shared lock beside it while it
runs, and ``lendguard demo`` takes the lock exclusively before it deletes and rebuilds
``var/demo.db``, so the demo never pulls the file from under a running server.

The lock is an ``flock`` on ``<database>.lock``: the operating system releases it when the
process ends, however it ends, so a crashed server leaves no stale lock behind (a pid file
would). PostgreSQL databases are never deleted by LendGuard and take no lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class DatabaseInUse(RuntimeError):
    """Another process holds the database's lock (a server runs on it)."""


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL (``sqlite:///./var/demo.db`` → ``var/demo.db``); None for
    another database or an in-memory one."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def lock_file(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class ServerLock:
    """A held lock on a database file; :meth:`share` turns an exclusive hold into a shared
    one (the demo rebuilds alone, then serves as any server does)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def share(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextmanager
def holding(database_url: str, *, exclusive: bool) -> Iterator[ServerLock]:
    """Hold the lock of the SQLite file behind ``database_url`` for the block: shared (a
    server) or exclusive (the demo deleting the file). Raises :class:`DatabaseInUse` at once
    when it cannot be had; any other database yields a lock that holds nothing."""
    database = sqlite_file(database_url)
    if database is None:
        yield ServerLock(None)
        return
    path = lock_file(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUse(f"a LendGuard server is running on {database}") from None
    held = ServerLock(fd)
    try:
        yield held
    finally:
        held.release()
