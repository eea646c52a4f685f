"""Identifier helpers."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    """A sortable, collision-resistant id: prefix, milliseconds since epoch, 64 random bits."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(8).hex()}"
