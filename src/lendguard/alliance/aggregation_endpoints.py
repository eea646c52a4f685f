"""HTTP faces of the alliance's aggregation rounds (issue #20).

Public (this lender's staff and systems): start a round (``alliance:write``) — it runs to the
end inside the request, a few round trips to each member — and read the rounds this member
aggregated (``alliance:read``). Peer: the five steps a contributor answers (advertise, share,
collect, consistency, unmask), signed both ways
(:func:`lendguard.alliance.peer.verified_peer`); a refusal is a signed problem document.
With the alliance unconfigured every route answers 503 with Retry-After.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from lendguard.alliance.aggregation import (
    AggregationRunner,
    ContributorDesk,
    get_round,
    list_rounds,
)
from lendguard.alliance.aggregation_schemas import (
    AllianceAggregationRound,
    AllianceAggregationRounds,
    AllianceAggregationStart,
    AlliancePeerStepAnswer,
)
from lendguard.alliance.peer import (
    NOT_CONFIGURED,
    NOT_CONFIGURED_RETRY_S,
    Identity,
    PeerCaller,
    PeerClient,
    signed_problem,
    signed_response,
    verified_peer,
)
from lendguard.auth.dependencies import require_for
from lendguard.auth.service import Principal, Scope
from lendguard.errors import FieldError, LendGuardError, ServiceUnavailable, ValidationFailed
from lendguard.web.body import json_body
from lendguard.web.openapi import problems

router = APIRouter(prefix="/v1/alliance", tags=["alliance"])

Writer = Annotated[Principal, Depends(require_for(Scope.alliance_write, "anti_fraud"))]
Reader = Annotated[Principal, Depends(require_for(Scope.alliance_read, "anti_fraud"))]
Caller = Annotated[PeerCaller, Depends(verified_peer)]
RoundId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the round's id")]


def _alliance(request: Request) -> tuple[Identity, Any, PeerClient]:
    """This member's identity, database engine and peer client; 503 when unconfigured."""
    alliance = getattr(request.app.state.services, "alliance", None)
    identity = getattr(alliance, "identity", None)
    gate = getattr(alliance, "gate", None)
    client = getattr(alliance, "client", None)
    if identity is None or gate is None or client is None:
        raise ServiceUnavailable(NOT_CONFIGURED, retry_after=NOT_CONFIGURED_RETRY_S)
    return identity, gate.engine, client


def _min_contributors(request: Request) -> int:
    return int(request.app.state.services.settings.alliance_min_contributors)


@router.post(
    "/aggregations",
    summary="Run a secure-aggregation round for a month: the alliance's totals per typology "
    "and measure, no member's own figures",
    status_code=201,
    response_model=AllianceAggregationRound,
    responses=problems(422, 503),
)
async def start_round(
    request: Request,
    principal: Writer,
    body: Annotated[AllianceAggregationStart, json_body(AllianceAggregationStart)],
) -> object:
    identity, engine, client = _alliance(request)
    runner = AggregationRunner(
        engine=engine,
        identity=identity,
        client=client,
        min_contributors=_min_contributors(request),
    )
    return await runner.run(body.period, body.members, principal.actor)


@router.get(
    "/aggregations",
    summary="The aggregation rounds this member ran, newest first",
    response_model=AllianceAggregationRounds,
    responses=problems(503),
)
async def rounds(
    request: Request,
    _principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200, description="at most this many rounds")] = 50,
) -> object:
    _, engine, _ = _alliance(request)
    return {"rounds": await run_in_threadpool(list_rounds, engine, limit)}


@router.get(
    "/aggregations/{round_id}",
    summary="One aggregation round this member ran",
    response_model=AllianceAggregationRound,
    responses=problems(404, 503),
)
async def one_round(request: Request, _principal: Reader, round_id: RoundId) -> object:
    _, engine, _ = _alliance(request)
    return await run_in_threadpool(get_round, engine, round_id)


@router.post(
    "/peer/aggregations/{round_id}/{step}",
    summary="A contributor's step of an aggregation round (signed peer request)",
    responses={
        200: {"model": AlliancePeerStepAnswer, "description": "the signed answer"},
        **problems(401, 404, 409, 422, 503),
    },
)
async def peer_step(
    request: Request,
    caller: Caller,
    round_id: Annotated[str, Path(max_length=64)],
    step: Annotated[
        str,
        Path(max_length=16, description="advertise, share, collect, consistency or unmask"),
    ],
) -> Response:
    identity, engine, _ = _alliance(request)
    desk = ContributorDesk(
        engine=engine, identity=identity, min_contributors=_min_contributors(request)
    )
    try:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ValidationFailed(
                "the body is not JSON / 请求体不是 JSON",
                errors=[FieldError("body", "not JSON")],
            ) from None
        answer = await run_in_threadpool(desk.answer, caller.member_id, round_id, step, payload)
    except LendGuardError as exc:
        return signed_problem(request, caller, exc)
    return signed_response(request, caller, answer)
