"""HTTP endpoint for masking personal information in free text (complaints, chats, exports).

``POST /v1/privacy/pii/mask`` (scope ``privacy:mask``): ``{"texts": [...], "operator": "mask"}``
→ ``{"results": [{"text": masked, "entities": [...]}]}``, one result per text in order. The
entities give type, offsets into the text sent, score and the replacement written; never the
raw value (the caller has it, and a stored response should not hold it). Neither the texts nor
the findings are logged.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import require
from lendguard.auth.service import Principal, Scope
from lendguard.privacy.pii import PiiMasker, scan
from lendguard.privacy.schemas import MaskRequest, MaskResult
from lendguard.web.body import json_body

router = APIRouter(prefix="/v1/privacy")

PiiMaskUser = Annotated[Principal, Depends(require(Scope.privacy_mask))]


def pii_masker(request: Request) -> PiiMasker:
    """One masker per app (its keys are derived once), made on first use."""
    masker: PiiMasker | None = getattr(request.app.state, "pii_masker", None)
    if masker is None:
        masker = PiiMasker(request.app.state.services.settings.pii_key)
        request.app.state.pii_masker = masker
    return masker


Masker = Annotated[PiiMasker, Depends(pii_masker)]


@router.post(
    "/pii/mask",
    tags=["privacy"],
    summary="Mask, hash or encrypt the personal information in up to 1,000 texts",
    response_model=MaskResult,
)
async def mask_texts(
    _: PiiMaskUser,
    body: Annotated[MaskRequest, json_body(MaskRequest, "invalid masking request")],
    masker: Masker,
) -> Any:
    # Scanning up to 1,000 texts is CPU work: on a worker thread, off the event loop.
    return await run_in_threadpool(_mask_all, body, masker)


def _mask_all(body: MaskRequest, masker: PiiMasker) -> dict[str, Any]:
    results = []
    for text in body.texts:
        entities = scan(text, body.types)
        masked, replacements = masker.substitute(text, entities, body.operator)
        found = [
            {
                "type": e.type,
                "start": e.start,
                "end": e.end,
                "score": e.score,
                "replacement": r,
            }
            for e, r in zip(entities, replacements, strict=True)
        ]
        results.append({"text": masked, "entities": found})
    return {"results": results}
