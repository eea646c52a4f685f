"""Placeholder router (issue #20 scaffolding): filled by the alliance's endpoints."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["alliance"])
