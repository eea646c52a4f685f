"""Being built (issue #21)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
