"""Every router of the interventions area, included once by the app."""

from __future__ import annotations

from fastapi import APIRouter

from lendguard.interventions.challenge_endpoints import router as challenge_router
from lendguard.interventions.evidence_endpoints import router as evidence_router
from lendguard.interventions.hold_endpoints import router as hold_router
from lendguard.interventions.lock_endpoints import router as lock_router
from lendguard.interventions.trusted_endpoints import router as trusted_router

router = APIRouter()
for part in (challenge_router, hold_router, lock_router, trusted_router, evidence_router):
    router.include_router(part)
