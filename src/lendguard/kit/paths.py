"""Reading nested JSON by dotted path (``attributes.is_fraud``)."""

from __future__ import annotations

from typing import Any


def dotted_get(data: Any, path: str) -> Any:
    """The value at ``path`` in nested dicts, or None where any step is missing."""
    value = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
