"""HTTP endpoints of the privacy area: notices and the consent ledger, the two lists, consent
flow checks (R14), data-subject requests and the customer's audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lendguard.auth import audit
from lendguard.auth.dependencies import (
    check_purpose,
    client_ip,
    require,
    restricted_purpose,
)
from lendguard.auth.service import Principal, Scope
from lendguard.errors import Conflict, FieldError, ValidationFailed
from lendguard.kit.params import RowNumber
from lendguard.kit.validation import validated
from lendguard.policies import load_policy
from lendguard.privacy import datamap
from lendguard.privacy.consent import ConsentLedger, check_flow
from lendguard.privacy.requests import VERIFICATION_METHODS, RequestService, export_customer
from lendguard.web.body import read_json

router = APIRouter(prefix="/v1/privacy")

ConsentWriter = Annotated[Principal, Depends(require(Scope.privacy_consent))]
RequestWorker = Annotated[Principal, Depends(require(Scope.privacy_requests))]
AuditReader = Annotated[Principal, Depends(require(Scope.audit_read))]
Admin = Annotated[Principal, Depends(require(Scope.admin))]
Locale = Annotated[Literal["zh-CN", "en"], Query()]
Format = Annotated[Literal["json", "csv", "html"], Query()]


def _ledger(request: Request) -> ConsentLedger:
    ledger: ConsentLedger = request.app.state.services.consent
    return ledger


def _requests(request: Request) -> RequestService:
    service: RequestService = request.app.state.services.privacy_requests
    return service


# -- notices and consent ---------------------------------------------------------------------------


@router.post("/notices", tags=["privacy"], status_code=201, summary="Publish a notice version")
async def publish_notice(request: Request, principal: Admin) -> Any:
    raw = await read_json(request)
    return await run_in_threadpool(_ledger(request).publish_notice, raw, principal.actor)


@router.get("/notices/{notice_key}/{version}", tags=["privacy"])
def get_notice(notice_key: str, version: RowNumber, request: Request, _: ConsentWriter) -> Any:
    return _ledger(request).notice(notice_key, version)


@router.post(
    "/consents",
    tags=["privacy"],
    status_code=201,
    summary="Record a grant or a withdrawal (per purpose; effective at once)",
)
async def record_consent(request: Request, principal: ConsentWriter) -> Any:
    raw = await read_json(request)
    return await run_in_threadpool(
        _ledger(request).record, raw, principal.actor, client_ip(request)
    )


@router.get("/customers/{customer_id}/consents", tags=["privacy"])
def customer_consents(customer_id: str, request: Request, _: ConsentWriter) -> Any:
    ledger = _ledger(request)
    return {
        "customer_id": customer_id,
        "current": ledger.state(customer_id),
        "history": ledger.history(customer_id),
    }


@router.post(
    "/consent-flows/check",
    tags=["privacy"],
    summary="Check a consent flow: pre-ticked boxes, bundled consent, coercion (R14)",
)
async def check_consent_flow(request: Request, _: ConsentWriter) -> Any:
    from datetime import UTC, datetime

    necessary = load_policy("privacy", "CN", datetime.now(UTC).date())[
        "necessary_pi_online_lending"
    ]
    raw = await read_json(request)
    answer = await run_in_threadpool(check_flow, raw, list(necessary.value))
    answer["necessary_pi"] = {"value": necessary.value, "source": necessary.source_text}
    return answer


# -- the two lists -------------------------------------------------------------------------------


def _lists_response(
    collected: list[dict[str, Any]],
    shared: list[dict[str, Any]],
    locale: str,
    fmt: str,
    which: str | None,
) -> Response:
    from lendguard.web.responses import JSONResponse

    if fmt == "html":
        return HTMLResponse(datamap.as_html(collected, shared, locale))
    if fmt == "csv":
        rows = shared if which == "sharing" else collected
        return Response(datamap.as_csv(rows), media_type="text/csv; charset=utf-8")
    return JSONResponse({"collected": collected, "sharing": shared, "locale": locale})


@router.get("/lists", tags=["privacy"], summary="The collected-information and sharing lists")
def global_lists(
    request: Request,
    _: ConsentWriter,
    locale: Locale = "zh-CN",
    format: Format = "json",  # noqa: A002 (the query parameter's public name)
    which: Literal["collected", "sharing"] | None = None,
) -> Response:
    return _lists_response(
        datamap.collected_list(locale), datamap.sharing_list(locale), locale, format, which
    )


@router.get("/customers/{customer_id}/lists", tags=["privacy"])
def customer_lists(
    customer_id: str,
    request: Request,
    _: ConsentWriter,
    locale: Locale = "zh-CN",
    format: Format = "json",  # noqa: A002
    which: Literal["collected", "sharing"] | None = None,
) -> Response:
    ledger = _ledger(request)
    consented = {
        c["scope"]
        for c in ledger.state(customer_id)
        if c["purpose"] == "third_party_sharing" and c["granted"]
    }
    collected = datamap.collected_list(locale, ledger.db, customer_id)
    return _lists_response(
        collected, datamap.sharing_list(locale, consented), locale, format, which
    )


@router.get("/customers/{customer_id}/audit", tags=["privacy"])
def customer_audit(customer_id: str, request: Request, _: AuditReader) -> Any:
    # Filtered in SQL: scanning the newest 1,000 rows in Python missed older entries.
    entries = audit.entries(_ledger(request).db, limit=1000, target=f"customer:{customer_id}")
    return {"customer_id": customer_id, "entries": entries}


# -- data-subject requests -----------------------------------------------------------------------


@router.post("/requests", tags=["privacy"], status_code=201, summary="Receive a request")
async def create_request(request: Request, principal: RequestWorker) -> Any:
    raw = await read_json(request)
    return await run_in_threadpool(
        _requests(request).create, raw, principal.actor, client_ip(request)
    )


def _for_caller(request: Request, principal: Principal, found: dict[str, Any]) -> dict[str, Any]:
    """A request as this caller may see it: the explanation of a decision (its reasons: anti-
    fraud data) stays out of the result for a marketing or credit purpose, and the result says
    so. Everything else about the request (status, due date, verification) is theirs to see."""
    purpose = restricted_purpose(request, principal)
    result = found.get("result")
    if purpose is None or not isinstance(result, dict) or "explanation" not in result:
        return found
    kept = {k: v for k, v in result.items() if k != "explanation"}
    return {**found, "result": {**kept, "withheld_for_purpose": purpose}}


@router.get("/requests", tags=["privacy"], summary="Open requests, soonest due first")
def request_queue(request: Request, principal: RequestWorker, closed: bool = False) -> Any:
    found = _requests(request).queue(include_closed=closed)
    return {"requests": [_for_caller(request, principal, r) for r in found]}


@router.get("/requests/{request_id}", tags=["privacy"])
def get_request(request_id: str, request: Request, principal: RequestWorker) -> Any:
    return _for_caller(request, principal, _requests(request).get(request_id))


class VerifyBody(BaseModel):
    method: str = Field(
        min_length=1,
        max_length=64,
        description=f"one of {', '.join(VERIFICATION_METHODS)}, or several joined with '+'",
    )


@router.post("/requests/{request_id}/verify", tags=["privacy"])
async def verify_request(request_id: str, request: Request, principal: RequestWorker) -> Any:
    body = validated(VerifyBody, await read_json(request), "invalid verification")
    return await run_in_threadpool(
        _requests(request).verify, request_id, body.method, principal.actor, client_ip(request)
    )


class RefuseBody(BaseModel):
    reason: str = Field(default="", max_length=4000)


@router.post("/requests/{request_id}/refuse", tags=["privacy"], summary="Refuse, with a reason")
async def refuse_request(request_id: str, request: Request, principal: RequestWorker) -> Any:
    body = validated(RefuseBody, await read_json(request), "invalid refusal")
    return await run_in_threadpool(
        _requests(request).refuse, request_id, body.reason, principal.actor, client_ip(request)
    )


@router.post(
    "/requests/{request_id}/fulfil",
    tags=["privacy"],
    summary="Carry out a verified request (access, withdraw, explain, correct, delete)",
)
def fulfil_request(request_id: str, request: Request, principal: RequestWorker) -> Any:
    services = request.app.state.services
    found = _requests(request).get(request_id)
    if found["status"] != "pending":
        raise Conflict(
            f"request '{request_id}' is {found['status']}; verify the requester first",
            errors=[FieldError("status", found["status"])],
        )
    customer, kind, details = found["customer_id"], found["kind"], found["details"]
    result: dict[str, Any]
    if kind == "access":
        export = export_customer(
            services.decisions.db, customer, services.vault, pii_key=services.decisions.pii_key
        )
        result = {
            "tables_with_rows": sorted(t for t, v in export["tables"].items() if v.get("rows")),
            "rows": sum(len(v.get("rows", [])) for v in export["tables"].values()),
            "export": f"/v1/privacy/requests/{request_id}/export",
        }
    elif kind == "withdraw":
        withdrawn = []
        for consent in _ledger(request).state(customer):
            wanted = details.get("purposes")
            if consent["granted"] and (not wanted or consent["purpose"] in wanted):
                _ledger(request).record(
                    {
                        "customer_id": customer,
                        "purpose": consent["purpose"],
                        "scope": consent["scope"],
                        "granted": False,
                        "method": "button",
                        "channel": "app",
                        "notice_key": consent["notice"]["key"],
                        "notice_version": consent["notice"]["version"],
                    },
                    principal.actor,
                    client_ip(request),
                )
                withdrawn.append(f"{consent['purpose']}:{consent['scope']}")
        result = {"withdrawn": withdrawn}
    elif kind == "explain":
        # The explanation is the decision's reasons: anti-fraud data. A marketing or credit
        # caller is refused (403 PURPOSE_VIOLATION, audited) and the request stays pending for
        # the privacy officer; unlike the access export there is nothing else to deliver.
        check_purpose(request, principal, "anti_fraud")
        decision_id = details.get("decision_id")
        if not isinstance(decision_id, str):
            raise ValidationFailed(
                "an explain request names a decision",
                errors=[FieldError("details.decision_id", "required")],
            )
        decision = services.decisions.get_decision(decision_id)
        if decision["customer_id"] != customer:
            raise ValidationFailed(
                "the decision is not the requester's",
                errors=[FieldError("details.decision_id", "another customer's decision")],
            )
        locale = str(details.get("locale", "zh-CN"))
        result = {"explanation": services.decisions.explain_decision(decision, locale)}
    elif kind == "correct":
        result = {
            "forwarded": details,
            "note": "corrections reach the decision engine as a profile update on the next "
            "event the lender sends; the original records stay as evidence",
        }
    else:  # delete
        result = {
            "deleted": ["marketing_preferences"],
            "retained": {
                "events, decisions, cases, labels": "anti-fraud records kept under the Anti-Telecom"
                " and Online Fraud Law Art. 18 and loan records for 5 years after repayment "
                "(retention duty; configurable)",
                "consent_records, audit_log": "evidence of consent and of this request (PIPL "
                "Art. 15: past processing stays lawful)",
            },
        }
        from sqlalchemy import delete as sql_delete

        from lendguard.models.conduct import MarketingPreference

        with services.decisions.db.begin() as conn:
            conn.execute(
                sql_delete(MarketingPreference).where(MarketingPreference.customer_id == customer)
            )
    return _requests(request).complete(request_id, result, principal.actor, client_ip(request))


@router.get(
    "/requests/{request_id}/export",
    tags=["privacy"],
    summary="The access export of a completed request (a privileged read, audited); without "
    "the anti-fraud tables for a marketing or credit purpose",
)
def request_export(request_id: str, request: Request, principal: RequestWorker) -> Any:
    """The access copy. For a caller bound to (or declaring) a marketing or credit purpose the
    anti-fraud tables are withheld and the export says so (``withheld_for_purpose``); see
    :func:`lendguard.privacy.requests.export_customer` for why this path strips rather than
    refuses. The privacy officer (no such purpose) gets the full copy."""
    found = _requests(request).get(request_id)
    if found["kind"] != "access" or found["status"] != "complete":
        raise Conflict(
            "only a completed access request has an export",
            errors=[FieldError("request_id", f"{found['kind']} / {found['status']}")],
        )
    db = request.app.state.services.decisions.db
    purpose = restricted_purpose(request, principal)
    detail: dict[str, Any] = {"request_id": request_id}
    if purpose is not None:
        detail["withheld_for_purpose"] = purpose
    audit.record_now(
        db,
        principal.actor,
        "privacy.export_read",
        f"customer:{found['customer_id']}",
        client_ip(request),
        detail,
    )
    services = request.app.state.services
    return export_customer(
        db,
        found["customer_id"],
        services.vault,
        withhold_for=purpose,
        pii_key=services.decisions.pii_key,
    )
