"""HTTP endpoints of the interventions area: evidences."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
