"""Typed path and query parameters bounded by what the database can hold.

An integer beyond a 64-bit signed column (2^63 - 1) cannot name a row: it is refused at the
edge with a 422 naming the parameter, never sent to the database (where it would fail the
query: an overflow in the SQLite driver, ``integer out of range`` on PostgreSQL).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_DB_INT = 2**63 - 1

RowNumber = Annotated[int, Path(ge=0, le=MAX_DB_INT)]
"""A version or row id in the path."""
OptionalRowQuery = Annotated[int | None, Query(ge=0, le=MAX_DB_INT)]
"""An optional row id in the query string (a cursor such as ``before_id``)."""
Offset = Annotated[int, Query(ge=0, le=MAX_DB_INT)]
"""A list's offset."""
