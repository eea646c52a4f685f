"""HTTP endpoints of the interventions area: challenges."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
