"""HTTP endpoints of the interventions area: a challenge's answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from lendguard.auth.dependencies import require_for
from lendguard.auth.service import Principal, Scope
from lendguard.decisions.schemas import FollowUpDecision
from lendguard.interventions.challenge_schemas import ChallengeAnswers
from lendguard.interventions.challenges import ChallengeService
from lendguard.web.body import json_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1")

# The answers and the follow-up decision are anti-fraud data (R34): refused to a key bound to,
# or a request declaring, marketing or credit, as the decision and case endpoints refuse it.
Answerer = Annotated[Principal, Depends(require_for(Scope.challenges_answer, "anti_fraud"))]


def challenge_service(request: Request) -> ChallengeService:
    services = request.app.state.services
    return ChallengeService(services.decisions, services.cases)


Challenges = Annotated[ChallengeService, Depends(challenge_service)]


@router.post(
    "/decisions/{decision_id}/challenge",
    tags=["interventions"],
    summary="Post the customer's answers to a decision's challenge; get the follow-up decision",
    response_model=FollowUpDecision,
    status_code=201,
    responses=problems(404, 409),
)
async def answer_challenge(
    decision_id: Annotated[str, Path(max_length=64)],
    # Who is calling is checked before the body is read: no key is a 401 whatever it sends.
    principal: Answerer,
    body: Annotated[ChallengeAnswers, json_body(ChallengeAnswers)],
    challenges: Challenges,
) -> object:
    # Database work and the case intake run on a worker thread: the event loop never waits.
    return await run_in_threadpool(challenges.answer, decision_id, body, principal.actor)
