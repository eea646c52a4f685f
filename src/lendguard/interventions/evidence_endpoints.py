"""HTTP endpoints of the interventions area: the evidence pack of a case or a customer.

JSON by default; ``?format=html`` is the same evidence as one printable page (no script, no
external asset) with headings in ``?locale``. Both carry the same digest. The pack is sent as it
was hashed (never re-serialised), so the digest can be recomputed from the response itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from lendguard.auth.dependencies import client_ip, require_for
from lendguard.auth.service import Principal, Scope
from lendguard.errors import FieldError, ValidationFailed
from lendguard.interventions.effectiveness import intervention_rows, summarise
from lendguard.interventions.effectiveness_schemas import Effectiveness
from lendguard.interventions.evidence import EvidencePacks, render_html
from lendguard.interventions.evidence_schemas import EvidencePack
from lendguard.kit.bounds import Instant
from lendguard.web.openapi import problems
from lendguard.web.responses import JSONResponse

router = APIRouter(prefix="/v1")

# The pack holds decisions, cases and call notes: anti-fraud data (R34), refused to a marketing
# or credit purpose as the case endpoints refuse it.
EvidenceReader = Annotated[Principal, Depends(require_for(Scope.evidence_read, "anti_fraud"))]
# The effectiveness figures are counts over decisions: whoever reads decisions reads them.
DecisionsReader = Annotated[Principal, Depends(require_for(Scope.decisions_read, "anti_fraud"))]

CaseId = Annotated[str, Path(min_length=1, max_length=64)]
CustomerId = Annotated[
    str, Path(min_length=1, max_length=128, description="as the lender knows it, or as stored")
]
Format = Annotated[
    Literal["json", "html"],
    Query(description="json (default), or html: a printable page of the same evidence"),
]
PageLocale = Annotated[
    Literal["zh-CN", "en"], Query(description="the printable page's language (html only)")
]

# A printed bundle holds personal data and customer messages: nothing it shows may fetch,
# run or submit anything, and no cache keeps it.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The evidence pack (JSON), or the printable page with format=html",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
    **problems(404),
}
_DESCRIPTION = (
    "Every intervention (decision at remind or more) with what the customer was shown (exact "
    "messages, reasons in their words, time, channel), questions and answers, the customer's "
    "choice, holds and releases, the case timeline, calls made (notes masked), instructions "
    "sent to the lender, the money lock's history and trusted-person confirmations; each "
    "section oldest first. `digest` is the SHA-256 of the JSON of `{scope, sections}` with keys "
    "sorted and no spaces: a printed copy and the JSON export of the same evidence match. "
    "Every export is audited."
)


def evidence_packs(request: Request) -> EvidencePacks:
    decisions = request.app.state.services.decisions
    return EvidencePacks(decisions.db, decisions.explain_decision, decisions.pii_key)


Packs = Annotated[EvidencePacks, Depends(evidence_packs)]


def _answer(pack: dict[str, Any], fmt: str, locale: str) -> Response:
    if fmt == "html":
        return HTMLResponse(render_html(pack, locale), headers=_PAGE_HEADERS)
    return JSONResponse(pack, headers={"Cache-Control": "no-store"})


@router.get(
    "/cases/{case_id}/evidence",
    tags=["interventions"],
    summary="The evidence pack of a case: what was shown, answered, held, called and sent",
    description=_DESCRIPTION,
    response_model=EvidencePack,
    responses=_RESPONSES,
)
def case_evidence(
    case_id: CaseId,
    request: Request,
    principal: EvidenceReader,
    packs: Packs,
    format: Format = "json",  # noqa: A002 (the query parameter's public name)
    locale: PageLocale = "en",
) -> Response:
    pack = packs.for_case(case_id, principal.actor, client_ip(request), format)
    return _answer(pack, format, locale)


@router.get(
    "/customers/{customer_id}/evidence",
    tags=["interventions"],
    summary="The evidence pack of a customer: every intervention, case, lock and confirmation",
    description=_DESCRIPTION
    + " The customer id is resolved as `GET /v1/customers/{customer_id}/decisions` resolves "
    "it; a customer with nothing to export is a 404.",
    response_model=EvidencePack,
    responses=_RESPONSES,
)
def customer_evidence(
    customer_id: CustomerId,
    request: Request,
    principal: EvidenceReader,
    packs: Packs,
    format: Format = "json",  # noqa: A002
    locale: PageLocale = "en",
) -> Response:
    pack = packs.for_customer(customer_id, principal.actor, client_ip(request), format)
    return _answer(pack, format, locale)


# The longest range one report covers (and the default when none is given).
MAX_RANGE = timedelta(days=366)
DEFAULT_RANGE = timedelta(days=30)


@router.get(
    "/interventions/effectiveness",
    tags=["interventions"],
    summary="Per intervention and scam typology: shown, abandoned, confirmed scam later, "
    "honest customers delayed and the median delay",
    description="Interventions decided in `[from, to)` (default: the 30 days before now; at "
    "most 366 days). A challenge's follow-up decision is the outcome of the first, not another "
    "intervention. Abandoned: the hold was cancelled, or the answers led to an intercept or a "
    "block not released afterwards. Confirmed scam: the case resolved as fraud or scam "
    "victim, or a fraud label. Honest delayed: the hold released or the case resolved as "
    "legitimate.",
    response_model=Effectiveness,
    response_model_by_alias=True,
)
def effectiveness(
    request: Request,
    _: DecisionsReader,
    start: Annotated[
        Instant | None,
        Query(alias="from", description="with a UTC offset; default: 30 days before `to`"),
    ] = None,
    end: Annotated[
        Instant | None, Query(alias="to", description="with a UTC offset; default: now")
    ] = None,
) -> Any:
    end = end if end is not None else datetime.now(UTC)
    start = start if start is not None else end - DEFAULT_RANGE
    if start >= end:
        raise ValidationFailed(
            "the range is empty", errors=[FieldError("query.from", "must be before to")]
        )
    if end - start > MAX_RANGE:
        raise ValidationFailed(
            "the range is too long",
            errors=[FieldError("query.from", f"at most {MAX_RANGE.days} days before to")],
        )
    with request.app.state.services.decisions.db.connect() as conn:
        rows = intervention_rows(conn, start, end)
    return {"from": start, "to": end, **summarise(rows)}
