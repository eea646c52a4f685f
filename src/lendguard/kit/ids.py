"""Identifier helpers."""

from __future__ import annotations

import os
import threading
import time

# Random bytes are drawn from the OS this many ids at a time. ``os.urandom`` releases the
# interpreter lock for its system call, so one call per id on the event loop handed the lock
# to any busy thread (the decision committer) and waited up to the switch interval (5 ms) to
# get it back: the largest single cause of the HTTP latency tail. One call per 512 ids.
_BATCH_IDS = 512
_lock = threading.Lock()
_pool = b""
_offset = 0


def _random8() -> bytes:
    global _pool, _offset
    with _lock:
        if _offset >= len(_pool):
            _pool = os.urandom(8 * _BATCH_IDS)
            _offset = 0
        start = _offset
        _offset = start + 8
        return _pool[start : start + 8]


def _forget_pool() -> None:
    """A forked child draws its own bytes (never its parent's next ids)."""
    global _pool, _offset, _lock
    _lock = threading.Lock()
    _pool = b""
    _offset = 0


os.register_at_fork(after_in_child=_forget_pool)


def new_id(prefix: str) -> str:
    """A sortable, collision-resistant id: prefix, milliseconds since epoch, 64 random bits."""
    return f"{prefix}_{int(time.time() * 1000):012x}{_random8().hex()}"
