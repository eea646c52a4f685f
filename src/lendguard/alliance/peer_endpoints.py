"""The alliance's peer protocol (issue #20): what other members call, signed with their keys.

Each route verifies the member's signature first (:func:`lendguard.alliance.peer.verified_peer`:
401 otherwise, 503 while the alliance is not configured), then reads its body; every answer
to a verified request — a refusal included — is signed, so the requester can tell it from a
forgery. The work runs in a worker thread, never on the event loop; a lookup's record is
written once its answer is sent (a background task), off the asking member's latency.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from lendguard.alliance.peer import PeerCaller, signed_problem, signed_response, verified_peer
from lendguard.alliance.schemas import (
    AlliancePeerLookupBody,
    AlliancePeerLookupOut,
    AlliancePeerPsiBody,
    AlliancePeerPsiOut,
)
from lendguard.alliance.service import AllianceService
from lendguard.errors import LendGuardError
from lendguard.kit.validation import validated
from lendguard.web.body import parse_json
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1/alliance/peer", tags=["alliance"])

Caller = Annotated[PeerCaller, Depends(verified_peer)]
# 401: not signed by an active member (or replayed, or skewed); 429: over this member's rate
# limit (signed, with Retry-After); 503: the alliance is not configured (Retry-After).
PEER_PROBLEMS = problems(401, 413, 422, 429, 503)


def _typed(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": "the signed answer"}, **PEER_PROBLEMS}


async def _answer(
    request: Request, caller: PeerCaller, model: type[BaseModel], work: Any, deferred: bool = False
) -> Response:
    """Validate the body, do ``work`` in a worker thread, answer signed. ``deferred``: ``work``
    returns the answer and a recording to run after it is sent (a background task)."""
    try:
        body = validated(model, parse_json(await request.body()), "the peer request is invalid")
        result = await run_in_threadpool(work, caller, body)
    except LendGuardError as exc:
        return signed_problem(request, caller, exc)
    if not deferred:
        return signed_response(request, caller, result)
    payload, record = result
    response = signed_response(request, caller, payload)
    response.background = BackgroundTask(record)
    return response


@router.post(
    "/psi",
    summary="Peer step of a PSI: the requester's points raised to a fresh key, and this "
    "lender's own list of that kind hashed and raised to it (sorted)",
    responses=_typed(AlliancePeerPsiOut),
)
async def peer_psi(request: Request, caller: Caller) -> Response:
    service: AllianceService = request.app.state.services.alliance
    return await _answer(request, caller, AlliancePeerPsiBody, service.answer_psi)


@router.post(
    "/lookup",
    summary="Peer step of a lookup: one applicant's blinded identifiers (1 to 4, one request) "
    "each raised to this lender's lookup key, with the tags of its bucket of the list",
    responses=_typed(AlliancePeerLookupOut),
)
async def peer_lookup(request: Request, caller: Caller) -> Response:
    service: AllianceService = request.app.state.services.alliance
    return await _answer(
        request, caller, AlliancePeerLookupBody, service.answer_lookup_deferred, deferred=True
    )
