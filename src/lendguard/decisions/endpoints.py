"""HTTP endpoints of the decisions area: events in, decisions and rule sets out.

Request and response models live in :mod:`lendguard.decisions.schemas`; the OpenAPI contract is
built from them (``lendguard.web.openapi``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import authorize_async, client_ip, require, require_for
from lendguard.auth.service import Principal, Scope
from lendguard.decisions.rules.lint import lint_ruleset
from lendguard.decisions.rules.loader import RuleSet
from lendguard.decisions.schemas import (
    BatchDecisions,
    ChallengerReport,
    ChallengerState,
    CustomerDecisions,
    Decision,
    EventBatch,
    Explanation,
    LabelResults,
    LabelsUpload,
    ModelActivation,
    ModelList,
    ModelUpload,
    RegisteredModel,
    RuleSetList,
    RuleSetUpload,
    RuleSetValidation,
    RuleSetVersion,
    ShadowReport,
    ShadowState,
)
from lendguard.decisions.service import DecisionService
from lendguard.errors import FieldError, RuleSetInvalid, ValidationFailed
from lendguard.events.parse import parse_event
from lendguard.kit.params import RowNumber
from lendguard.kit.validation import validated
from lendguard.web.body import (
    BODY_MODEL_ATTRIBUTE,
    declared_limit,
    json_body,
    parse_json,
    read_body,
    read_json,
    too_large,
)
from lendguard.web.fastpath import LendGuardAPI, receive_body
from lendguard.web.guard import ControlCharacterRefused, control_character_problem
from lendguard.web.openapi import SCOPE_EXTENSION, problems
from lendguard.web.responses import JSONResponse, render_json

router = APIRouter(prefix="/v1")


def decision_service(request: Request) -> DecisionService:
    return request.app.state.services.decisions


Decisions = Annotated[DecisionService, Depends(decision_service)]


def batch_limit(request: Request) -> int:
    """The most events (or labels) one request may carry (``max_batch_events``)."""
    limit: int = request.app.state.services.settings.max_batch_events
    return limit


BatchLimit = Annotated[int, Depends(batch_limit)]


def documents_body(model: type[Any]) -> Any:
    """A dependency that reads nothing and only documents ``model`` as the route's JSON body
    (and registers it, with the models it holds, as a component of the contract).

    For a route that reads its body itself: the batch decides each event on its own (an
    invalid one is refused in its place, the others decided), which one typed body would
    refuse whole; a rule set may come as YAML text too."""

    async def documented() -> None:
        return None

    setattr(documented, BODY_MODEL_ATTRIBUTE, model)
    return Depends(documented)


# Decisions, their reasons and the customer's decision history are anti-fraud data (R34).
DecisionsReader = Annotated[Principal, Depends(require_for(Scope.decisions_read, "anti_fraud"))]
EventsWriter = Annotated[Principal, Depends(require(Scope.events_write))]
LabelsWriter = Annotated[Principal, Depends(require(Scope.labels_write))]
RulesWriter = Annotated[Principal, Depends(require(Scope.rules_write))]
RulesApprover = Annotated[Principal, Depends(require(Scope.rules_approve))]


def _json_body(component: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }


@router.post(
    "/events",
    tags=["events"],
    summary="Decide one customer event",
    description="The event is decided at once and its decision made durable before the "
    "answer. The same event sent again returns the original decision; the same `event_id` "
    "with another body is a 409. Unknown top-level fields are kept in `attributes`.",
    response_model=Decision,
    responses=problems(409),
    # The body is read and parsed by hand (the hot path: no dependency, no second
    # serialisation); the contract documents it as the Event component (registered by the
    # batch's body, whose items are events).
    openapi_extra={SCOPE_EXTENSION: Scope.events_write.value, "requestBody": _json_body("Event")},
)
async def post_event(request: Request) -> Response:
    # Served by decide_event ahead of FastAPI (see install_fast_routes); registered here for
    # the contract and for what the fast table does not answer (a root_path deployment).
    return Response(await decide_event(request), media_type="application/json")


async def decide_event(request: Request) -> bytes:
    """``POST /v1/events``, the hot path, answered ahead of FastAPI's middleware and router
    (:mod:`lendguard.web.fastpath`): the body is read within the size limit and checked as the
    control-character guard would, then authorised, parsed and decided, in the order the
    ordinary route has (size, guard, authorisation, JSON, event), so every refusal is the
    same."""
    # A body over the limit is refused before it is buffered whole (as the guard does for
    # every other route): the declared length first, then while reading.
    limit = declared_limit(request)
    body = await receive_body(request, limit)
    if body is None:
        raise too_large(limit)
    refused = control_character_problem(request.scope.get("query_string", b""), body)
    if refused is not None:
        raise ControlCharacterRefused(*refused)
    started = time.perf_counter()
    await authorize_async(request, Scope.events_write)
    event = parse_event(parse_json(body))
    # The decision is plain data: rendered once, with no response-model validation.
    service = decision_service(request)
    return render_json(await service.decide_async(event, started=started))


def install_fast_routes(app: LendGuardAPI) -> None:
    """Register this area's routes answered ahead of FastAPI: ``POST /v1/events``."""
    app.add_fast_route("POST", "/v1/events", decide_event)


@router.post(
    "/events/batch",
    tags=["events"],
    summary="Decide up to 1,000 events in order",
    description="Each event is checked and decided on its own, in order, and all are written "
    "in one transaction: an invalid event gets a refusal in its place (not written), the "
    "others their decisions.",
    response_model=BatchDecisions,
    dependencies=[documents_body(EventBatch)],
)
async def post_events_batch(
    request: Request, _: EventsWriter, service: Decisions, limit: BatchLimit
) -> Response:
    body = await read_body(request)
    # Parsed, validated and decided on a worker thread: a batch of 1,000 takes long enough
    # (parsing up to a megabyte of JSON included) that single events, decided on the event
    # loop, would otherwise wait for all of it.
    decided = await run_in_threadpool(_decide_batch, service, body, limit)
    return JSONResponse({"decisions": decided})


def _decide_batch(service: DecisionService, body: bytes, limit: int) -> list[dict[str, Any]]:
    raw = parse_json(body)
    if not isinstance(raw, dict) or not isinstance(raw.get("events"), list):
        raise ValidationFailed(
            'expected {"events": [...]}',
            errors=[FieldError("events", "a list of events is required")],
        )
    if len(raw["events"]) > limit:
        raise ValidationFailed(
            f"at most {limit} events per batch",
            errors=[FieldError("events", f"at most {limit} items")],
        )
    return service.decide_raw_batch(_Paced(raw["events"]))


# A batch is decided on a worker thread, but still under the interpreter lock: a thread that
# never waits keeps it for the switch interval (5 ms) each time the event loop asks for it back,
# and the loop asks several times per event. Pausing briefly every few items hands it over.
PACE_EVERY = 8
PACE_PAUSE_S = 0.0002


class _Paced(list[Any]):
    """The batch's items, iterated with a short pause every :data:`PACE_EVERY` items."""

    def __iter__(self) -> Iterator[Any]:
        for index, item in enumerate(super().__iter__()):
            if index and index % PACE_EVERY == 0:
                time.sleep(PACE_PAUSE_S)
            yield item


@router.get(
    "/decisions/{decision_id}",
    tags=["decisions"],
    summary="One decision, as it was answered",
    response_model=Decision,
)
def get_decision(decision_id: str, service: Decisions, _: DecisionsReader) -> Any:
    return service.get_decision(decision_id)


@router.get(
    "/decisions/{decision_id}/explanation",
    tags=["decisions"],
    summary="A plain-language explanation the customer can read (PIPL Art. 24)",
    response_model=Explanation,
)
def get_explanation(
    decision_id: str,
    service: Decisions,
    _: DecisionsReader,
    locale: Annotated[str, Query(pattern="^(zh-CN|zh|en)$")] = "zh-CN",
) -> Any:
    return service.rulesets.explain_decision(service.get_decision(decision_id), locale)


@router.get(
    "/customers/{customer_id}/decisions",
    tags=["decisions"],
    summary="A customer's decisions, newest first",
    response_model=CustomerDecisions,
)
def get_customer_decisions(
    customer_id: str,
    service: Decisions,
    _: DecisionsReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: datetime | None = None,
) -> Any:
    items = service.customer_decisions(customer_id, limit, before)
    return {"customer_id": customer_id, "decisions": items}


async def _ruleset_body(request: Request) -> RuleSetUpload:
    content_type = request.headers.get("content-type", "")
    if "yaml" in content_type or content_type.startswith("text/"):
        body = await read_body(request)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(
                "the rule set must be UTF-8 text", errors=[FieldError("body", "not UTF-8")]
            ) from None
        return validated(RuleSetUpload, {"source": text}, "invalid upload")
    return validated(RuleSetUpload, await read_json(request), "invalid upload")


# A rule set is YAML: sent as the body itself (``application/yaml``; any ``text/*`` type is
# read the same way), or inside JSON with the file name its findings are reported against.
# The YAML is documented as raw bytes (``format: binary``): a client sends the file as it is.
_RULESET_BODY_TEXT = (
    "Send the YAML file itself (`Content-Type: application/yaml`, or any `text/*` type, UTF-8) "
    "or JSON `{source, file}`. A rule set that does not compile, or whose customer texts fail "
    "the lint (`lendguard rules lint`), is a 422 naming the file, line and column of each "
    "finding."
)
_RULESET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RuleSetUpload"}},
            "application/yaml": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "The rule set file, UTF-8 YAML",
                }
            },
        },
    }
}


def _checked_ruleset(service: DecisionService, upload: RuleSetUpload) -> RuleSet:
    """Compile, then lint what a customer would read (``lendguard rules lint``): a rule set
    whose reasons have no customer sentence, or whose texts quote requirement ids, internal
    names or English words in Chinese, is refused whole with the position of each finding."""
    parsed = service.rulesets.validate(upload.source, upload.file)
    findings = lint_ruleset(parsed, upload.file)
    if findings:
        raise RuleSetInvalid(
            f"the rule set was refused: {len(findings)} customer-text finding(s)",
            errors=[
                FieldError(
                    f.field,
                    f"{f.file}:{f.line}:{f.column}: rule '{f.rule_id}': {f.message} ({f.code})",
                )
                for f in findings
            ],
        )
    return parsed


@router.post(
    "/rulesets/validate",
    tags=["rulesets"],
    summary="Validate a rule set (YAML body, or JSON {source}) without storing it",
    description=_RULESET_BODY_TEXT,
    response_model=RuleSetValidation,
    dependencies=[documents_body(RuleSetUpload)],
    openapi_extra=_RULESET_BODY,
)
async def validate_ruleset(request: Request, _: RulesWriter, service: Decisions) -> Any:
    upload = await _ruleset_body(request)
    # Parsing, compiling and linting a rule set is CPU work: off the event loop.
    parsed = await run_in_threadpool(_checked_ruleset, service, upload)
    return {
        "valid": True,
        "name": parsed.name,
        "rule_count": len(parsed.rules),
        "features": sorted(parsed.feature_names),
    }


@router.post(
    "/rulesets",
    tags=["rulesets"],
    status_code=201,
    summary="Upload and validate a rule set; it becomes a new, inactive version",
    description=_RULESET_BODY_TEXT
    + " Four eyes: another principal activates it (`POST /v1/rulesets/{version}/activate`).",
    response_model=RuleSetVersion,
    dependencies=[documents_body(RuleSetUpload)],
    openapi_extra=_RULESET_BODY,
)
async def upload_ruleset(request: Request, principal: RulesWriter, service: Decisions) -> Any:
    upload = await _ruleset_body(request)

    def store() -> Any:
        _checked_ruleset(service, upload)
        return service.rulesets.upload(
            upload.source, principal.actor, upload.file, client_ip(request)
        )

    return await run_in_threadpool(store)


@router.get(
    "/rulesets", tags=["rulesets"], summary="Every rule-set version", response_model=RuleSetList
)
def list_rulesets(service: Decisions, _: RulesWriter) -> Any:
    return {"active_version": service.ruleset_version, "rulesets": service.rulesets.list_versions()}


@router.post(
    "/rulesets/{version}/activate",
    tags=["rulesets"],
    summary="Make a version live, atomically",
    description="Four eyes: the approver must not be the version's author (403).",
    response_model=RuleSetVersion,
)
def activate_ruleset(
    version: RowNumber, request: Request, principal: RulesApprover, service: Decisions
) -> Any:
    return service.rulesets.activate(version, principal.actor, client_ip(request))


@router.post(
    "/rulesets/{version}/shadow",
    tags=["rulesets"],
    summary="Run a candidate version in shadow on live traffic (recorded, never returned)",
    response_model=ShadowState,
    responses=problems(409),
)
def start_shadow(
    version: RowNumber, request: Request, principal: RulesWriter, service: Decisions
) -> Any:
    return service.rulesets.start_shadow(version, principal.actor, client_ip(request))


@router.delete(
    "/rulesets/{version}/shadow",
    tags=["rulesets"],
    summary="Stop a shadow run",
    response_model=ShadowState,
)
def stop_shadow(
    version: RowNumber, request: Request, principal: RulesWriter, service: Decisions
) -> Any:
    return service.rulesets.stop_shadow(version, principal.actor, client_ip(request))


@router.get(
    "/rulesets/{version}/shadow-report",
    tags=["rulesets"],
    summary="The shadow version's decisions compared with the live ones on the same events",
    response_model=ShadowReport,
)
def shadow_report(
    version: RowNumber,
    service: Decisions,
    _: RulesWriter,
    examples: Annotated[int, Query(ge=0, le=500)] = 20,
) -> Any:
    return service.rulesets.shadow_report(version, examples)


@router.post(
    "/models",
    tags=["models"],
    status_code=201,
    summary="Register a trained model as a new, inactive version",
    response_model=RegisteredModel,
)
async def register_model(
    request: Request,
    principal: RulesWriter,
    service: Decisions,
    upload: Annotated[ModelUpload, json_body(ModelUpload, "invalid model upload")],
) -> Any:
    def store() -> Any:
        return service.models.register(
            upload.booster, upload.calibration, upload.card, principal.actor, client_ip(request)
        )

    return await run_in_threadpool(store)


@router.get("/models", tags=["models"], summary="Every model version", response_model=ModelList)
def list_models(service: Decisions, _: RulesWriter) -> Any:
    active = service.model[0] if service.model is not None else None
    return {"active_version": active, "models": service.models.list_versions()}


@router.post(
    "/models/{version}/activate",
    tags=["models"],
    summary="Make a model version the live score, atomically",
    description="Four eyes: the approver must not be the version's author (403). A model "
    "trained on a table, not on events, cannot score events (409).",
    response_model=ModelActivation,
    responses=problems(409),
)
def activate_model(
    version: RowNumber, request: Request, principal: RulesApprover, service: Decisions
) -> Any:
    return service.models.activate(version, principal.actor, client_ip(request))


@router.post(
    "/labels",
    tags=["labels"],
    summary="Outcomes learned after the decision: {labels: [{event_id, label}]}",
    description="Each label is recorded on its own: one naming an unknown event is reported "
    "in its place and the others recorded. A fraud label (1) reaches the label-derived "
    "features of later events at once.",
    response_model=LabelResults,
    # A recorded label has no error key, a refused one no id (as the service answers).
    response_model_exclude_unset=True,
)
async def post_labels(
    request: Request,
    principal: LabelsWriter,
    service: Decisions,
    limit: BatchLimit,
    body: Annotated[LabelsUpload, json_body(LabelsUpload, "the labels are invalid")],
) -> Any:
    if len(body.labels) > limit:
        raise ValidationFailed(
            f"at most {limit} labels per request",
            errors=[FieldError("labels", f"at most {limit} items")],
        )
    items = [label.model_dump() for label in body.labels]
    labels = await run_in_threadpool(
        service.labels.record, items, principal.actor, client_ip(request)
    )
    return {"labels": labels}


@router.post(
    "/models/{version}/challenger",
    tags=["models"],
    summary="Score live traffic with this model beside the champion (never acts)",
    response_model=ChallengerState,
    responses=problems(409),
)
def start_challenger(
    version: RowNumber, request: Request, principal: RulesApprover, service: Decisions
) -> Any:
    return service.models.start_challenger(version, principal.actor, client_ip(request))


@router.delete(
    "/models/{version}/challenger",
    tags=["models"],
    summary="Stop the challenger",
    response_model=ChallengerState,
)
def stop_challenger(
    version: RowNumber, request: Request, principal: RulesApprover, service: Decisions
) -> Any:
    return service.models.stop_challenger(version, principal.actor, client_ip(request))


@router.get(
    "/models/{version}/challenger-report",
    tags=["models"],
    summary="Champion and challenger compared on the same live events",
    response_model=ChallengerReport,
    response_model_exclude_unset=True,
)
def challenger_report(version: RowNumber, service: Decisions, _: RulesWriter) -> Any:
    return service.models.challenger_report(version)
