"""HTTP endpoints of the decisions area: events in, decisions and rule sets out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lendguard.auth import audit
from lendguard.auth.dependencies import (
    authorize,
    authorize_async,
    client_ip,
    require,
    require_for,
)
from lendguard.auth.service import Principal, Scope
from lendguard.decisions.rules.lint import lint_ruleset
from lendguard.decisions.rules.loader import RuleSet
from lendguard.decisions.service import DecisionService
from lendguard.errors import (
    FieldError,
    RuleSetInvalid,
    ValidationFailed,
)
from lendguard.events.parse import parse_event
from lendguard.kit.params import RowNumber
from lendguard.kit.validation import validated
from lendguard.web.body import parse_json, read_body, read_json
from lendguard.web.openapi import SCOPE_EXTENSION
from lendguard.web.responses import JSONResponse

router = APIRouter(prefix="/v1")
_M = TypeVar("_M", bound=BaseModel)


def _service(request: Request) -> DecisionService:
    return request.app.state.services.decisions


def _audit(request: Request, principal: Principal, action: str, target: str) -> None:
    audit.record_now(_service(request).db, principal.actor, action, target, client_ip(request))


# Decisions, their reasons and the customer's decision history are anti-fraud data (R34).
DecisionsReader = Annotated[Principal, Depends(require_for(Scope.decisions_read, "anti_fraud"))]
RulesWriter = Annotated[Principal, Depends(require(Scope.rules_write))]
RulesApprover = Annotated[Principal, Depends(require(Scope.rules_approve))]


@router.post(
    "/events",
    tags=["events"],
    summary="Decide one customer event (body: the event contract, see the README)",
    response_model=None,
    openapi_extra={SCOPE_EXTENSION: Scope.events_write.value},
)
async def post_event(request: Request) -> Response:
    started = time.perf_counter()
    authorize(request, Scope.events_write)
    raw = await read_json(request)
    event = parse_event(raw)
    # Returned as a ready response: the decision is plain data, so FastAPI's response-model
    # validation would only serialise it twice.
    return JSONResponse(await _service(request).decide_async(event, started=started))


@router.post(
    "/events/batch",
    tags=["events"],
    summary="Decide up to 1,000 events in order",
    response_model=None,
    openapi_extra={SCOPE_EXTENSION: Scope.events_write.value},
)
async def post_events_batch(request: Request) -> Response:
    await authorize_async(request, Scope.events_write)
    body = await read_body(request)
    # Parsed, validated and decided on a worker thread: a batch of 1,000 takes long enough
    # (parsing up to a megabyte of JSON included) that single events, decided on the event
    # loop, would otherwise wait for all of it.
    decided = await run_in_threadpool(_decide_batch, request, body)
    return JSONResponse({"decisions": decided})


def _decide_batch(request: Request, body: bytes) -> list[dict[str, Any]]:
    raw = parse_json(body)
    limit = request.app.state.services.settings.max_batch_events
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
    return _service(request).decide_raw_batch(_Paced(raw["events"]))


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


@router.get("/decisions/{decision_id}", tags=["decisions"])
def get_decision(decision_id: str, request: Request, _: DecisionsReader) -> Any:
    return _service(request).get_decision(decision_id)


@router.get(
    "/decisions/{decision_id}/explanation",
    tags=["decisions"],
    summary="A plain-language explanation the customer can read (PIPL Art. 24)",
)
def get_explanation(
    decision_id: str,
    request: Request,
    _: DecisionsReader,
    locale: Annotated[str, Query(pattern="^(zh-CN|zh|en)$")] = "zh-CN",
) -> Any:
    service = _service(request)
    return service.explain_decision(service.get_decision(decision_id), locale)


@router.get("/customers/{customer_id}/decisions", tags=["decisions"])
def get_customer_decisions(
    customer_id: str,
    request: Request,
    _: DecisionsReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: datetime | None = None,
) -> Any:
    items = _service(request).customer_decisions(customer_id, limit, before)
    return {"customer_id": customer_id, "decisions": items}


class RuleSetUpload(BaseModel):
    source: str = Field(min_length=1, description="The rule set as YAML text")
    file: str = Field(default="upload.yaml", max_length=200)


async def _ruleset_body(request: Request) -> RuleSetUpload:
    content_type = request.headers.get("content-type", "")
    if "yaml" in content_type or content_type.startswith("text/"):
        body = await read_body(request)
        try:
            return RuleSetUpload(source=body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ValidationFailed(
                "the rule set must be UTF-8 text", errors=[FieldError("body", "not UTF-8")]
            ) from None
    return validated(RuleSetUpload, await read_json(request), "invalid upload")


def _checked_ruleset(request: Request, upload: RuleSetUpload) -> RuleSet:
    """Compile, then lint what a customer would read (``lendguard rules lint``): a rule set
    whose reasons have no customer sentence, or whose texts quote requirement ids, internal
    names or English words in Chinese, is refused whole with the position of each finding."""
    parsed = _service(request).validate_ruleset(upload.source, upload.file)
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
)
async def validate_ruleset(request: Request, _: RulesWriter) -> Any:
    upload = await _ruleset_body(request)
    # Parsing, compiling and linting a rule set is CPU work: off the event loop.
    parsed = await run_in_threadpool(_checked_ruleset, request, upload)
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
)
async def upload_ruleset(request: Request, principal: RulesWriter) -> Any:
    upload = await _ruleset_body(request)

    def store() -> Any:
        _checked_ruleset(request, upload)
        result = _service(request).upload_ruleset(upload.source, principal.actor, upload.file)
        _audit(request, principal, "rulesets.upload", f"ruleset:{result['version']}")
        return result

    return await run_in_threadpool(store)


@router.get("/rulesets", tags=["rulesets"])
def list_rulesets(request: Request, _: RulesWriter) -> Any:
    service = _service(request)
    return {"active_version": service.ruleset_version, "rulesets": service.list_rulesets()}


@router.post(
    "/rulesets/{version}/activate", tags=["rulesets"], summary="Make a version live, atomically"
)
def activate_ruleset(version: RowNumber, request: Request, principal: RulesApprover) -> Any:
    result = _service(request).activate_ruleset(version, principal.actor)
    _audit(request, principal, "rulesets.approve_activate", f"ruleset:{version}")
    return result


@router.post(
    "/rulesets/{version}/shadow",
    tags=["rulesets"],
    summary="Run a candidate version in shadow on live traffic (recorded, never returned)",
)
def start_shadow(version: RowNumber, request: Request, principal: RulesWriter) -> Any:
    return _service(request).start_shadow(version, principal.actor)


@router.delete("/rulesets/{version}/shadow", tags=["rulesets"], summary="Stop a shadow run")
def stop_shadow(version: RowNumber, request: Request, principal: RulesWriter) -> Any:
    return _service(request).stop_shadow(version, principal.actor)


@router.get(
    "/rulesets/{version}/shadow-report",
    tags=["rulesets"],
    summary="The shadow version's decisions compared with the live ones on the same events",
)
def shadow_report(
    version: RowNumber,
    request: Request,
    _: RulesWriter,
    examples: Annotated[int, Query(ge=0, le=500)] = 20,
) -> Any:
    return _service(request).shadow_report(version, examples)


class ModelUpload(BaseModel):
    """A trained model: LightGBM text, calibration and card (``lendguard model train`` output)."""

    booster: str = Field(min_length=1)
    calibration: dict[str, Any]
    card: dict[str, Any]


@router.post(
    "/models",
    tags=["models"],
    status_code=201,
    summary="Register a trained model as a new, inactive version",
)
async def register_model(request: Request, principal: RulesWriter) -> Any:
    upload = validated(ModelUpload, await read_json(request), "invalid model upload")

    def store() -> Any:
        result = _service(request).register_model(
            upload.booster, upload.calibration, upload.card, principal.actor
        )
        _audit(request, principal, "models.register", f"model:{result['version']}")
        return result

    return await run_in_threadpool(store)


@router.get("/models", tags=["models"])
def list_models(request: Request, _: RulesWriter) -> Any:
    service = _service(request)
    active = service.model[0] if service.model is not None else None
    return {"active_version": active, "models": service.list_models()}


@router.post(
    "/models/{version}/activate",
    tags=["models"],
    summary="Make a model version the live score, atomically",
)
def activate_model(version: RowNumber, request: Request, principal: RulesApprover) -> Any:
    result = _service(request).activate_model(version, principal.actor)
    _audit(request, principal, "models.approve_activate", f"model:{version}")
    return result


@router.post(
    "/labels",
    tags=["labels"],
    summary="Outcomes learned after the decision: {labels: [{event_id, label}]}",
    openapi_extra={SCOPE_EXTENSION: Scope.labels_write.value},
)
async def post_labels(request: Request) -> Response:
    principal = await authorize_async(request, Scope.labels_write)
    raw = await read_json(request)
    if not isinstance(raw, dict) or not isinstance(raw.get("labels"), list):
        raise ValidationFailed(
            'expected {"labels": [...]}',
            errors=[FieldError("labels", "a list of {event_id, label}")],
        )
    limit = request.app.state.services.settings.max_batch_events
    if len(raw["labels"]) > limit:
        raise ValidationFailed(
            f"at most {limit} labels per request",
            errors=[FieldError("labels", f"at most {limit} items")],
        )
    labels = await run_in_threadpool(
        _service(request).record_labels, raw["labels"], principal.actor
    )
    return JSONResponse({"labels": labels})


@router.post(
    "/models/{version}/challenger",
    tags=["models"],
    summary="Score live traffic with this model beside the champion (never acts)",
)
def start_challenger(version: RowNumber, request: Request, principal: RulesApprover) -> Any:
    return _service(request).start_challenger(version, principal.actor)


@router.delete("/models/{version}/challenger", tags=["models"], summary="Stop the challenger")
def stop_challenger(version: RowNumber, request: Request, principal: RulesApprover) -> Any:
    return _service(request).stop_challenger(version, principal.actor)


@router.get(
    "/models/{version}/challenger-report",
    tags=["models"],
    summary="Champion and challenger compared on the same live events",
)
def challenger_report(version: RowNumber, request: Request, _: RulesWriter) -> Any:
    return _service(request).challenger_report(version)
