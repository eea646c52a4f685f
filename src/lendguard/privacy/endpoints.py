"""HTTP endpoints of the privacy area: notices and the consent ledger, the two lists, consent
flow checks (R14), data-subject requests and the customer's audit trail.

Request and response models are in :mod:`lendguard.privacy.schemas`; the services are injected
(one provider each, below), so a route reaches only what it names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
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
from lendguard.policies import load_policy
from lendguard.privacy import datamap
from lendguard.privacy.consent import ConsentLedger, check_flow
from lendguard.privacy.requests import RequestService, export_customer
from lendguard.privacy.schemas import (
    AccessExport,
    ConsentBody,
    ConsentFlow,
    ConsentFlowCheck,
    ConsentRecorded,
    CustomerAudit,
    CustomerConsents,
    DataSubjectRequestView,
    NewRequest,
    Notice,
    NoticeBody,
    NoticePublished,
    PrivacyLists,
    RefuseBody,
    RequestQueue,
    VerifyBody,
)
from lendguard.privacy.vault import Vault
from lendguard.web.body import json_body
from lendguard.web.openapi import problems
from lendguard.web.responses import JSONResponse

router = APIRouter(prefix="/v1/privacy")

ConsentWriter = Annotated[Principal, Depends(require(Scope.privacy_consent))]
RequestWorker = Annotated[Principal, Depends(require(Scope.privacy_requests))]
AuditReader = Annotated[Principal, Depends(require(Scope.audit_read))]
Admin = Annotated[Principal, Depends(require(Scope.admin))]
Locale = Annotated[Literal["zh-CN", "en"], Query()]
Format = Annotated[Literal["json", "csv", "html"], Query()]


def consent_ledger(request: Request) -> ConsentLedger:
    ledger: ConsentLedger = request.app.state.services.consent
    return ledger


def request_service(request: Request) -> RequestService:
    service: RequestService = request.app.state.services.privacy_requests
    return service


def pii_vault(request: Request) -> Vault:
    vault: Vault = request.app.state.services.vault
    return vault


class DecisionSource(Protocol):
    """What a data-subject request needs of the decision engine: a stored decision and its
    explanation (explain), and the key that pseudonymises customer ids on the decision path
    (the access export finds both forms). A protocol, so the privacy area does not import the
    decisions area (which imports privacy's intake and vault)."""

    pii_key: bytes

    def get_decision(self, decision_id: str) -> dict[str, Any]: ...

    def explain_decision(self, decision: dict[str, Any], locale: str) -> dict[str, Any]: ...


def decision_source(request: Request) -> DecisionSource:
    decisions: DecisionSource = request.app.state.services.decisions
    return decisions


Ledger = Annotated[ConsentLedger, Depends(consent_ledger)]
Requests = Annotated[RequestService, Depends(request_service)]
PiiVault = Annotated[Vault, Depends(pii_vault)]
Decisions = Annotated[DecisionSource, Depends(decision_source)]

# A response that differs by who asks leaves the parts a caller may not see absent, not null.
_AS_STORED: dict[str, Any] = {"response_model_exclude_unset": True}

# -- notices and consent ---------------------------------------------------------------------------


@router.post(
    "/notices",
    tags=["privacy"],
    status_code=201,
    summary="Publish a notice version",
    response_model=NoticePublished,
)
async def publish_notice(
    principal: Admin,
    body: Annotated[NoticeBody, json_body(NoticeBody, "invalid notice")],
    ledger: Ledger,
) -> Any:
    return await run_in_threadpool(ledger.publish_notice, body, principal.actor)


@router.get(
    "/notices/{notice_key}/{version}",
    tags=["privacy"],
    summary="One published notice version, as the customer was shown it",
    response_model=Notice,
)
def get_notice(notice_key: str, version: RowNumber, ledger: Ledger, _: ConsentWriter) -> Any:
    return ledger.notice(notice_key, version)


@router.post(
    "/consents",
    tags=["privacy"],
    status_code=201,
    summary="Record a grant or a withdrawal (per purpose; effective at once)",
    response_model=ConsentRecorded,
    responses=problems(404, 409),
)
async def record_consent(
    principal: ConsentWriter,
    body: Annotated[ConsentBody, json_body(ConsentBody, "invalid consent")],
    request: Request,
    ledger: Ledger,
) -> Any:
    return await run_in_threadpool(ledger.record, body, principal.actor, client_ip(request))


@router.get(
    "/customers/{customer_id}/consents",
    tags=["privacy"],
    summary="A customer's current consents and their whole history",
    response_model=CustomerConsents,
)
def customer_consents(customer_id: str, ledger: Ledger, _: ConsentWriter) -> Any:
    return {
        "customer_id": customer_id,
        "current": ledger.state(customer_id),
        "history": ledger.history(customer_id),
    }


@router.post(
    "/consent-flows/check",
    tags=["privacy"],
    summary="Check a consent flow: pre-ticked boxes, bundled consent, coercion (R14)",
    response_model=ConsentFlowCheck,
    response_model_exclude_unset=True,
)
async def check_consent_flow(
    _: ConsentWriter,
    flow: Annotated[ConsentFlow, json_body(ConsentFlow, "invalid consent flow")],
) -> Any:
    necessary = load_policy("privacy", "CN", datetime.now(UTC).date())[
        "necessary_pi_online_lending"
    ]
    answer = await run_in_threadpool(check_flow, flow, list(necessary.value))
    answer["necessary_pi"] = {"value": necessary.value, "source": necessary.source_text}
    return answer


# -- the two lists -------------------------------------------------------------------------------

# JSON (the model), CSV (one list, ``which``) or an HTML page a customer can read.
_LIST_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The lists as JSON, CSV (one list, chosen by `which`) or an HTML page",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


def _lists_response(
    collected: list[dict[str, Any]],
    shared: list[dict[str, Any]],
    locale: str,
    fmt: str,
    which: str | None,
) -> Response:
    if fmt == "html":
        return HTMLResponse(datamap.as_html(collected, shared, locale))
    if fmt == "csv":
        rows = shared if which == "sharing" else collected
        return Response(datamap.as_csv(rows), media_type="text/csv; charset=utf-8")
    return JSONResponse({"collected": collected, "sharing": shared, "locale": locale})


@router.get(
    "/lists",
    tags=["privacy"],
    summary="The collected-information and sharing lists",
    response_model=PrivacyLists,
    responses=_LIST_FORMATS,
)
def global_lists(
    _: ConsentWriter,
    locale: Locale = "zh-CN",
    format: Format = "json",  # noqa: A002 (the query parameter's public name)
    which: Literal["collected", "sharing"] | None = None,
) -> Response:
    return _lists_response(
        datamap.collected_list(locale), datamap.sharing_list(locale), locale, format, which
    )


@router.get(
    "/customers/{customer_id}/lists",
    tags=["privacy"],
    summary="The two lists for one customer: collection counts, the recipients their data "
    "can go to",
    response_model=PrivacyLists,
    responses=_LIST_FORMATS,
)
def customer_lists(
    customer_id: str,
    ledger: Ledger,
    _: ConsentWriter,
    locale: Locale = "zh-CN",
    format: Format = "json",  # noqa: A002
    which: Literal["collected", "sharing"] | None = None,
) -> Response:
    consented = {
        c["scope"]
        for c in ledger.state(customer_id)
        if c["purpose"] == "third_party_sharing" and c["granted"]
    }
    collected = datamap.collected_list(locale, ledger.db, customer_id)
    return _lists_response(
        collected, datamap.sharing_list(locale, consented), locale, format, which
    )


@router.get(
    "/customers/{customer_id}/audit",
    tags=["privacy"],
    summary="The audit trail about one customer, newest first",
    response_model=CustomerAudit,
)
def customer_audit(customer_id: str, ledger: Ledger, _: AuditReader) -> Any:
    # Filtered in SQL: scanning the newest 1,000 rows in Python missed older entries.
    entries = audit.entries(ledger.db, limit=1000, target=f"customer:{customer_id}")
    return {"customer_id": customer_id, "entries": entries}


# -- data-subject requests -----------------------------------------------------------------------


@router.post(
    "/requests",
    tags=["privacy"],
    status_code=201,
    summary="Receive a request",
    response_model=DataSubjectRequestView,
    **_AS_STORED,
)
async def create_request(
    principal: RequestWorker,
    body: Annotated[NewRequest, json_body(NewRequest, "invalid request")],
    request: Request,
    requests: Requests,
) -> Any:
    return await run_in_threadpool(requests.create, body, principal.actor, client_ip(request))


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


@router.get(
    "/requests",
    tags=["privacy"],
    summary="Open requests, soonest due first",
    response_model=RequestQueue,
    **_AS_STORED,
)
def request_queue(
    request: Request, requests: Requests, principal: RequestWorker, closed: bool = False
) -> Any:
    found = requests.queue(include_closed=closed)
    return {"requests": [_for_caller(request, principal, r) for r in found]}


@router.get(
    "/requests/{request_id}",
    tags=["privacy"],
    summary="One request: status, due date, verification and result",
    response_model=DataSubjectRequestView,
    **_AS_STORED,
)
def get_request(
    request_id: str, request: Request, requests: Requests, principal: RequestWorker
) -> Any:
    return _for_caller(request, principal, requests.get(request_id))


@router.post(
    "/requests/{request_id}/verify",
    tags=["privacy"],
    summary="Record how the requester's identity was verified (the request becomes pending)",
    response_model=DataSubjectRequestView,
    responses=problems(409),
    **_AS_STORED,
)
async def verify_request(
    request_id: str,
    principal: RequestWorker,
    body: Annotated[VerifyBody, json_body(VerifyBody, "invalid verification")],
    request: Request,
    requests: Requests,
) -> Any:
    found = await run_in_threadpool(
        requests.verify, request_id, body.method, principal.actor, client_ip(request)
    )
    return _for_caller(request, principal, found)


@router.post(
    "/requests/{request_id}/refuse",
    tags=["privacy"],
    summary="Refuse, with a reason",
    response_model=DataSubjectRequestView,
    responses=problems(409),
    **_AS_STORED,
)
async def refuse_request(
    request_id: str,
    principal: RequestWorker,
    body: Annotated[RefuseBody, json_body(RefuseBody, "invalid refusal")],
    request: Request,
    requests: Requests,
) -> Any:
    found = await run_in_threadpool(
        requests.refuse, request_id, body.reason, principal.actor, client_ip(request)
    )
    return _for_caller(request, principal, found)


@router.post(
    "/requests/{request_id}/fulfil",
    tags=["privacy"],
    summary="Carry out a verified request (access, withdraw, explain, correct, delete)",
    response_model=DataSubjectRequestView,
    responses=problems(409),
    **_AS_STORED,
)
def fulfil_request(
    request_id: str,
    request: Request,
    requests: Requests,
    ledger: Ledger,
    vault: PiiVault,
    decisions: Decisions,
    principal: RequestWorker,
) -> Any:
    found = requests.get(request_id)
    if found["status"] != "pending":
        raise Conflict(
            f"request '{request_id}' is {found['status']}; verify the requester first",
            errors=[FieldError("status", found["status"])],
        )
    customer, kind, details = found["customer_id"], found["kind"], found["details"]
    result: dict[str, Any]
    if kind == "access":
        export = export_customer(requests.db, customer, vault, pii_key=decisions.pii_key)
        result = {
            "tables_with_rows": sorted(t for t, v in export["tables"].items() if v.get("rows")),
            "rows": sum(len(v.get("rows", [])) for v in export["tables"].values()),
            "export": f"/v1/privacy/requests/{request_id}/export",
        }
    elif kind == "withdraw":
        withdrawn = []
        wanted = details.get("purposes")
        for consent in ledger.state(customer):
            if consent["granted"] and (not wanted or consent["purpose"] in wanted):
                withdrawal = ConsentBody.model_validate(
                    {
                        "customer_id": customer,
                        "purpose": consent["purpose"],
                        "scope": consent["scope"],
                        "granted": False,
                        "method": "button",
                        "channel": "app",
                        "notice_key": consent["notice"]["key"],
                        "notice_version": consent["notice"]["version"],
                    }
                )
                ledger.record(withdrawal, principal.actor, client_ip(request))
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
        decision = decisions.get_decision(decision_id)
        if decision["customer_id"] != customer:
            raise ValidationFailed(
                "the decision is not the requester's",
                errors=[FieldError("details.decision_id", "another customer's decision")],
            )
        locale = str(details.get("locale") or "zh-CN")
        result = {"explanation": decisions.explain_decision(decision, locale)}
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
        done = requests.complete_deletion(request_id, result, principal.actor, client_ip(request))
        return _for_caller(request, principal, done)
    done = requests.complete(request_id, result, principal.actor, client_ip(request))
    return _for_caller(request, principal, done)


@router.get(
    "/requests/{request_id}/export",
    tags=["privacy"],
    summary="The access export of a completed request (a privileged read, audited); without "
    "the anti-fraud tables for a marketing or credit purpose",
    response_model=AccessExport,
    responses=problems(409),
    **_AS_STORED,
)
def request_export(
    request_id: str,
    request: Request,
    requests: Requests,
    vault: PiiVault,
    decisions: Decisions,
    principal: RequestWorker,
) -> Any:
    """The access copy. For a caller bound to (or declaring) a marketing or credit purpose the
    anti-fraud tables are withheld and the export says so (``withheld_for_purpose``); see
    :func:`lendguard.privacy.requests.export_customer` for why this path strips rather than
    refuses. The privacy officer (no such purpose) gets the full copy."""
    found = requests.get(request_id)
    if found["kind"] != "access" or found["status"] != "complete":
        raise Conflict(
            "only a completed access request has an export",
            errors=[FieldError("request_id", f"{found['kind']} / {found['status']}")],
        )
    purpose = restricted_purpose(request, principal)
    detail: dict[str, Any] = {"request_id": request_id}
    if purpose is not None:
        detail["withheld_for_purpose"] = purpose
    audit.record_now(
        requests.db,
        principal.actor,
        "privacy.export_read",
        f"customer:{found['customer_id']}",
        client_ip(request),
        detail,
    )
    return export_customer(
        requests.db,
        found["customer_id"],
        vault,
        withhold_for=purpose,
        pii_key=decisions.pii_key,
    )
