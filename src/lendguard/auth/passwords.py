"""Password hashes (argon2id) computed on a small pool of their own, at a lower CPU priority.

One argon2 hash with the library's defaults takes tens to hundreds of milliseconds of CPU on
four threads (its lanes) and 64 MiB of memory. Twenty sign-in attempts at once would otherwise
take every core from the decisions for seconds, and the memory with them. Here:

* hashes run on at most :data:`HASH_WORKERS` threads of this pool: attempts beyond that wait in
  its queue (on the event loop, without a thread, through :func:`verify_password_async`);
* on Linux those threads run at nice :data:`HASH_NICE` (their argon2 lanes inherit it), so the
  event loop and the decision threads get the CPU first whenever they want it. An idle machine
  hashes at full speed; a busy one signs users in more slowly rather than deciding slowly.

The parameters (time and memory cost, parallelism) are argon2-cffi's defaults, unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Hashes in flight at once, per process.
HASH_WORKERS = max(1, min(4, (os.cpu_count() or 1) // 2))
# How much lower than the rest of the server the hashing threads run (Linux: 0 to 19).
HASH_NICE = 10

_hasher = PasswordHasher()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _lower_priority() -> None:
    """Run this pool thread (and the argon2 lanes it starts) at a lower priority. Linux only:
    there ``setpriority`` on a thread id changes that thread alone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HASH_NICE)
        )
    except OSError:  # pragma: no cover - not permitted here: hash at the normal priority
        pass


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=HASH_WORKERS,
                    thread_name_prefix="lendguard-argon2",
                    initializer=_lower_priority,
                )
    return _pool


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, computed on the hashing pool (blocks the caller)."""
    return _executor().submit(_hasher.hash, password).result()


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (blocks the caller; never raises for a
    wrong password or a malformed hash)."""
    return _executor().submit(_verify, password_hash, password).result()


async def verify_password_async(password_hash: str, password: str) -> bool:
    """:func:`verify_password` for the event loop: waits without holding a thread."""
    return await asyncio.wrap_future(_executor().submit(_verify, password_hash, password))


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def dummy_hash() -> str:
    """A real hash to verify against when the username is unknown (or the account locked or
    disabled), so the answer takes as long as for a known user (no user enumeration by timing).
    Made on first use, not at import: hashing costs ~0.7 s, which every importer of the auth
    package (the consent ledger, the CLI) would otherwise pay."""
    return _hasher.hash("not-a-real-password-" + secrets.token_hex(8))
